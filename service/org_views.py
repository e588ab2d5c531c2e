"""组织管理's reads: the users and groups as the administrator's pages, the API and the Excel
export show them (searched and filtered in Python: an office has hundreds of people, and
personal columns may be sealed at rest, so no SQL LIKE on them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, identity
from service.organisation import KINDS, find_group, find_user, locked_users
from service.store.identity_models import Credential
from service.store.models import Group, User

STATUSES = {"active": "在用", "inactive": "已停用"}


def _matches(query: str, *values: str | None) -> bool:
    query = query.strip().lower()
    return not query or any(query in (v or "").lower() for v in values)


def group_json(group: Group, members: int | None = None) -> dict[str, Any]:
    found = {"key": group.key, "name": group.name, "kind": group.kind, "kind_label": KINDS.get(group.kind, group.kind)}
    if members is not None:
        found["members"] = members
    return found


def user_json(user: User, locked: set[str] | None = None) -> dict[str, Any]:
    groups = sorted(user.groups, key=lambda g: g.key)
    return {"username": user.username, "name": user.name, "email": user.email or "", "phone": user.phone or "",
            "active": bool(user.active), "status_label": STATUSES["active" if user.active else "inactive"],
            "groups": [g.key for g in groups], "group_names": [g.name for g in groups],
            "locked": user.username in (locked or set())}


def users(session: Session, query: str = "", group: str = "", status: str = "") -> list[dict[str, Any]]:
    """Every user (active first, then by username) matching the search text (username, name,
    e-mail, phone), the group and the status (active / inactive)."""
    locked = locked_users(session)
    found = []
    for user in session.scalars(select(User).order_by(User.username)):
        if group and group not in user.group_keys:
            continue
        if status and (status == "active") != bool(user.active):
            continue
        if _matches(query, user.username, user.name, user.email, user.phone):
            found.append(user_json(user, locked=locked))
    return sorted(found, key=lambda u: not u["active"])


def user_detail(session: Session, username: str) -> dict[str, Any]:
    """One user with their groups (and kinds), lock and password state."""
    user = find_user(session, username)
    found = user_json(user, locked=locked_users(session))
    found["group_rows"] = [group_json(g) for g in sorted(user.groups, key=lambda g: g.key)]
    cred = session.get(Credential, user.id)
    found["password_changed_at"] = clock.iso(clock.parse_datetime(cred.password_changed_at)) \
        if cred is not None and cred.password_changed_at is not None else None
    found["must_change"] = identity.must_change(session, user)
    found["second_factor"] = cred is not None and cred.totp_enabled_at is not None
    return found


def _member_counts(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for user in session.scalars(select(User).where(User.active.is_(True))):
        for key in user.group_keys:
            counts[key] = counts.get(key, 0) + 1
    return counts


def groups(session: Session, query: str = "", kind: str = "") -> list[dict[str, Any]]:
    """Every group (by kind in KINDS' order, then key) matching the search text (key, name) and kind;
    `members` counts the active members."""
    counts = _member_counts(session)
    order = list(KINDS)
    found = [group_json(g, counts.get(g.key, 0)) for g in session.scalars(select(Group).order_by(Group.key))
             if (not kind or g.kind == kind) and _matches(query, g.key, g.name)]
    return sorted(found, key=lambda g: order.index(g["kind"]) if g["kind"] in order else len(order))


def group_detail(session: Session, key: str) -> dict[str, Any]:
    """One group with its members (active first)."""
    group = find_group(session, key)
    locked = locked_users(session)
    members = [user_json(u, locked=locked) for u in session.scalars(select(User).order_by(User.username))
               if key in u.group_keys]
    return {**group_json(group, sum(1 for m in members if m["active"])),
            "member_rows": sorted(members, key=lambda m: not m["active"])}


def choices(session: Session) -> dict[str, Any]:
    """What the forms offer: the kinds, every group (key, name), every username (datalists)."""
    return {"kinds": KINDS, "groups": [group_json(g) for g in session.scalars(select(Group).order_by(Group.key))],
            "usernames": [{"username": u, "name": n, "active": bool(a)}
                          for u, n, a in session.execute(select(User.username, User.name, User.active)
                                                         .order_by(User.username))]}
