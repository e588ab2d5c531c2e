"""停权: the administrator suspends a member's rights in a group (a county web admin who keeps
making mistakes, 网站管理制度 第十一条) and restores them; both need a reason and are recorded.

Which groups may be suspended is declared by the procedures (`Procedure.suspendable`) and asked
of the policy; this module writes the append-only record (service/store/suspension_models.py)
and, on every request, takes the suspended groups out of the Actor (`restrict`: one statement on
an index), so a suspended member cannot start, see or act as that group from the next request on.
A suspended member's claimed tasks of that group go back to the group (签收 released); a task is
not handed (转办) to them as that group (`held`, `memberships`), nor are its 新待办 sent to them
(service/task_notices.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from service import audit, clock, policy
from service.actors import Actor
from service.errors import Conflict, Invalid
from service.store.db import Database
from service.store.models import Group, History, HumanTask, TaskCandidate, User, UserGroup
from service.store.suspension_models import MAX_REASON, RESTORE, SUSPEND, MembershipSuspension

RECORD_LIMIT = 200
ACTION_LABELS = {SUSPEND: "停权", RESTORE: "恢复"}

# A user's (and their delegators') suspension events, on the (username, group_key, seq) index.
EVENTS_SQL = "SELECT username, group_key, action FROM membership_suspensions WHERE username IN ({marks}) ORDER BY seq"


def _latest(rows: Iterable[tuple[str, str, str]]) -> dict[str, set[str]]:
    """username → the groups whose latest event (rows in seq order) is a suspension."""
    last: dict[tuple[str, str], str] = {}
    for username, group, action in rows:
        last[(username, group)] = action
    suspended: dict[str, set[str]] = {}
    for (username, group), action in last.items():
        if action == SUSPEND:
            suspended.setdefault(username, set()).add(group)
    return suspended


def restrict(db: Database, actor: Actor) -> Actor:
    """The actor without the groups suspended now — theirs and, for 委托, their delegators' (a
    delegate acts in the delegator's name, so no further than the delegator may). One statement
    on a pooled read connection per request: a suspension counts from the next request."""
    names = [actor.username, *(d.username for d in actor.delegators)]
    marks, params = db.sql.in_list("u", names)
    with db.raw(write=False) as tx:
        rows = db.sql.rows(tx, EVENTS_SQL.format(marks=marks), params)
    if not rows:
        return actor
    suspended = _latest(rows)
    if not suspended:
        return actor
    delegators = tuple(dataclasses.replace(d, groups=d.groups - suspended.get(d.username, set()))
                       for d in actor.delegators)
    return dataclasses.replace(actor, groups=actor.groups - suspended.get(actor.username, set()),
                               delegators=delegators)


def suspended_groups(session: Session, username: str) -> frozenset[str]:
    """The groups of this user suspended now."""
    rows = session.execute(select(MembershipSuspension.username, MembershipSuspension.group_key,
                                  MembershipSuspension.action)
                           .where(MembershipSuspension.username == username)
                           .order_by(MembershipSuspension.seq)).all()
    return frozenset(_latest(rows).get(username, set()))


def held(username: Any, group_key: Any) -> ColumnElement[bool]:
    """SQL: the membership (username, group key: columns of the caller's query) is not suspended
    now — no suspension of it that no later event follows (on the (username, group_key, seq) index)."""
    event, later = aliased(MembershipSuspension), aliased(MembershipSuspension)
    return ~exists().where(
        event.username == username, event.group_key == group_key, event.action == SUSPEND,
        ~exists().where(later.username == event.username, later.group_key == event.group_key, later.seq > event.seq))


def memberships(session: Session, usernames: Iterable[str]) -> dict[str, frozenset[str]]:
    """username → the groups they hold now: their stored memberships minus the suspended ones
    (one query; what 转办 checks a colleague against). A user without a group is absent."""
    names = sorted(set(usernames))
    if not names:
        return {}
    found: dict[str, set[str]] = {}
    for username, group_key in session.execute(
            select(User.username, UserGroup.group_key).join(UserGroup, UserGroup.user_id == User.id)
            .where(User.username.in_(names), held(User.username, UserGroup.group_key))):
        found.setdefault(username, set()).add(group_key)
    return {username: frozenset(groups) for username, groups in found.items()}


# ----- suspending and restoring ----------------------------------------------------------------


def _checked(session: Session, body: dict[str, Any]) -> tuple[User, Group, str]:
    """The user, group and reason of a request, every wrong field in one 422 (Chinese)."""
    username = str(body.get("username") or "").strip()
    group_key = str(body.get("group") or "").strip()
    raw_reason = body.get("reason")
    reason = raw_reason.strip() if isinstance(raw_reason, str) else ""
    errors: list[dict[str, str]] = []
    user = session.scalars(select(User).where(User.username == username)).first() if username else None
    group = session.get(Group, group_key) if group_key else None
    if not username:
        errors.append({"field": "username", "message": "请选择用户"})
    elif user is None:
        errors.append({"field": "username", "message": f"用户 {username} 不存在"})
    if not group_key:
        errors.append({"field": "group", "message": "请选择岗位（组）"})
    elif group is None:
        errors.append({"field": "group", "message": f"组 {group_key} 不存在"})
    elif not policy.suspendable(group.key):
        errors.append({"field": "group", "message": f"“{group.name}”不是可停权的岗位（没有流程声明可对其成员停权）"})
    elif user is not None and group.key not in user.group_keys:
        errors.append({"field": "group", "message": f"{user.name}（{user.username}）不是“{group.name}”的成员"})
    if not reason:
        errors.append({"field": "reason", "message": "请填写理由"})
    elif len(reason) > MAX_REASON:
        errors.append({"field": "reason", "message": f"理由不能超过{MAX_REASON}字"})
    if errors:
        raise Invalid("停权或恢复的申请有误，请检查标出的字段", errors)
    assert user is not None and group is not None
    return user, group, reason


def _events(session: Session, username: str, group_key: str) -> list[MembershipSuspension]:
    return list(session.scalars(select(MembershipSuspension).where(
        MembershipSuspension.username == username, MembershipSuspension.group_key == group_key)
        .order_by(MembershipSuspension.seq)))


def _write(db: Database, actor: Actor, body: dict[str, Any], action: str) -> dict[str, Any]:
    policy.require_suspensions(actor)
    now = clock.now()
    try:
        with db.write() as session:
            user, group, reason = _checked(session, body)
            events = _events(session, user.username, group.key)
            suspended = bool(events) and events[-1].action == SUSPEND
            who = f"{user.name}（{user.username}）"
            if action == SUSPEND and suspended:
                raise Conflict(f"{who}在“{group.name}”的权限已被停用，不能重复停权")
            if action == RESTORE and not suspended:
                raise Conflict(f"{who}在“{group.name}”的权限未被停用，无需恢复")
            row = MembershipSuspension(username=user.username, group_key=group.key, seq=len(events) + 1,
                                       action=action, reason=reason, done_by=actor.username, at=now)
            session.add(row)
            session.flush()  # the (username, group, seq) constraint: a concurrent event fails here
            released = _release(session, actor, user, group.key, reason, now) if action == SUSPEND else []
            audit.record(session, audit.PERMISSION, target=f"{user.username}@{group.key}", username=actor.username,
                         detail=f"{'停权' if action == SUSPEND else '恢复权限'}：{who}在“{group.name}”；原因：{reason}"
                                + (f"；退回签收 {len(released)} 件" if released else ""))
            result = {"id": row.id, "username": user.username, "name": user.name, "group": group.key,
                      "group_name": group.name, "action": action, "suspended": action == SUSPEND,
                      "reason": reason, "by": actor.username, "at": clock.iso(now), "released_tasks": released}
    except IntegrityError as exc:
        raise Conflict("该权限刚被他人停用或恢复，请刷新后重试") from exc
    return result


def _release(session: Session, actor: Actor, user: User, group_key: str, reason: str, now: Any) -> list[str]:
    """The suspended member's claimed open tasks offered to that group go back to the group
    (unless another group of theirs still holds the task): recorded as a 退回签收 in the case."""
    remaining = set(user.group_keys) - suspended_groups(session, user.username)
    tasks = session.scalars(select(HumanTask).join(TaskCandidate, TaskCandidate.task_id == HumanTask.id).where(
        HumanTask.assignee == user.username, HumanTask.state == "open", TaskCandidate.group_key == group_key))
    released = []
    for task in tasks:
        if remaining & set(task.candidate_groups.split(",")):
            continue
        task.assignee = None
        session.add(History(instance_id=task.instance_id, at=now, username=actor.username, action="unclaim",
                            task_bpmn_id=task.bpmn_id, task_name=task.name, task_id=task.id,
                            comment=f"停权，签收退回：{reason}"))
        released.append(task.id)
    return released


def suspend(db: Database, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Suspend `body["username"]`'s membership of `body["group"]` with `body["reason"]`:
    403 not the administrator, 422 bad request (Chinese field errors), 409 already suspended."""
    return _write(db, actor, body, SUSPEND)


def restore(db: Database, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Give the membership back (reason required): 409 when it is not suspended."""
    return _write(db, actor, body, RESTORE)


# ----- the page's and the API's view ----------------------------------------------------------


def _names(session: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(sorted(usernames)))).all())


def _event(row: MembershipSuspension, users: dict[str, str], groups: dict[str, str]) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "name": users.get(row.username, row.username),
            "group": row.group_key, "group_name": groups.get(row.group_key, row.group_key),
            "action": row.action, "action_label": ACTION_LABELS.get(row.action, row.action),
            "reason": row.reason, "by": row.done_by, "by_name": users.get(row.done_by, row.done_by),
            "at": clock.iso(row.at)}


def overview(session: Session, actor: Actor, limit: int = RECORD_LIMIT) -> dict[str, Any]:
    """Every member of every suspendable group with their status (and the latest event), and the
    record, newest first (the table is small: a few administrator actions a year)."""
    policy.require_suspensions(actor)
    groups = {g.key: g.name for g in session.scalars(select(Group).order_by(Group.key)) if policy.suspendable(g.key)}
    members = session.execute(select(User.username, User.name, User.active, Group.key)
                              .join(User.groups).where(Group.key.in_(sorted(groups)))
                              .order_by(Group.key, User.username)).all() if groups else []
    record = list(session.scalars(select(MembershipSuspension).order_by(MembershipSuspension.id.desc()).limit(limit)))
    every = list(session.scalars(select(MembershipSuspension).where(MembershipSuspension.group_key.in_(sorted(groups)))
                                 .order_by(MembershipSuspension.seq))) if groups else []
    users = _names(session, {r.username for r in record} | {r.done_by for r in record} | {r.done_by for r in every})
    users.update({m.username: m.name for m in members})
    all_groups = {g.key: g.name for g in session.scalars(select(Group))}
    latest = {(r.username, r.group_key): r for r in every}
    listed = []
    for m in members:
        last = latest.get((m.username, m.key))
        listed.append({"username": m.username, "name": m.name, "active": m.active, "group": m.key,
                       "group_name": groups[m.key], "suspended": last is not None and last.action == SUSPEND,
                       "last": _event(last, users, all_groups) if last is not None else None})
    return {"groups": [{"key": k, "name": n} for k, n in groups.items()], "members": listed,
            "record": [_event(r, users, all_groups) for r in record]}
