"""What every page blueprint checks or reads first: the current actor, the admin, designer and
supervisor guards, same-site redirect targets, query-string integers, and the per-request caches
of group, user and process names (on flask.g, so one request reads each table at most once).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import g, request
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import definitions, drafts, policy, queries
from service.actors import Actor
from service.errors import Forbidden
from service.store.models import User


def current_actor() -> Actor:
    return current_user.actor  # type: ignore[no-any-return]


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_actor().is_admin:
            raise Forbidden("只有系统管理员可以管理流程定义")
        return view(*args, **kwargs)

    return login_required(wrapped)


def designer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The designer's workshop: administrators and 流程设计员 (deploying stays the admin's)."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        drafts.require_designer(current_actor())
        return view(*args, **kwargs)

    return login_required(wrapped)


def supervisor_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        policy.require_supervisor(current_actor())
        return view(*args, **kwargs)

    return login_required(wrapped)


# ----- redirects and arguments ------------------------------------------------------------------


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never redirect to another host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def back(default: str) -> str:
    """Where a posted form asked to go back to (its `next` field), if that is on this site."""
    return safe_next(request.form.get("next"), default)


def int_arg(name: str) -> int | None:
    """A non-negative integer from the query string; None when absent or not one."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


# ----- names, cached per request ----------------------------------------------------------------


def group_names(session: Session) -> dict[str, str]:
    if "group_names" not in g:
        g.group_names = {row["key"]: row["name"] for row in queries.groups(session)}
    return g.group_names  # type: ignore[no-any-return]


def user_names(session: Session) -> dict[str, str]:
    if "user_names" not in g:
        g.user_names = {u: n for u, n in session.execute(select(User.username, User.name))}
        g.user_names.setdefault("system", "系统")
    return g.user_names  # type: ignore[no-any-return]


def process_names(session: Session) -> dict[str, str]:
    if "process_names" not in g:
        g.process_names = {d.key: d.name for d in definitions.latest_all(session)}
    return g.process_names  # type: ignore[no-any-return]
