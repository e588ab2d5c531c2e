"""Loads the demo organisation (`govflow init --demo`) that the installed registry carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service import identity, procedure
from service.auth import ensure_group, ensure_user


def load_demo(session: Session, organisation: Any = None) -> None:
    """Create or refresh the demo groups and users (idempotent; passwords set once), and mark the
    database as the demo: its documented passwords need no change and no second factor."""
    org = organisation or procedure.registry().organisation
    if org is None:
        raise RuntimeError("没有可加载的示例组织")
    for key, name in org.groups.items():
        ensure_group(session, key, name)
    session.flush()
    for username, name, groups in org.users:
        ensure_user(session, username, name, org.password, groups)
    identity.mark_demo(session)
