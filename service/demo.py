"""Loads the demo organisation (`govflow init --demo`) that the installed registry carries, through
service/organisation.py like any administrator's change (audited, checked)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import identity, organisation, procedure
from service.store.models import Group, User


def load_demo(session: Session, organisation_data: Any = None) -> None:
    """Create or refresh the demo groups (name, kind) and users (name, groups); idempotent, and
    passwords are set once: the documented one, which needs no change and no second factor
    because the database is marked as the demo first."""
    org = organisation_data or procedure.registry().organisation
    if org is None:
        raise RuntimeError("没有可加载的示例组织")
    identity.mark_demo(session)
    session.flush()
    kinds = getattr(org, "kinds", {}) or {}
    for key, name in org.groups.items():
        group = session.get(Group, key)
        if group is None:
            organisation.create_group(session, {"key": key, "name": name,
                                                "kind": kinds.get(key, organisation.DEFAULT_KIND)})
        else:
            organisation.update_group(session, key, {"name": name, **({"kind": kinds[key]} if key in kinds else {})})
    session.flush()
    for username, name, groups in org.users:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is None:
            organisation.create_user(session, {"username": username, "name": name, "groups": groups,
                                               "password": org.password}, rules=False)
        else:
            organisation.update_user(session, username, {"name": name})
            organisation.set_group_keys(session, user, groups)
