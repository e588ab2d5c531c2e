"""委托 while away: a user names a colleague who acts on their tasks, in their name, for a period.

Who may delegate to whom is the policy's (service/policy.py: delegation_errors); this module
reads and writes the delegations and loads, for each request, the ones its user holds now
(`attach`: one query on the (delegate, ends_at) index, the inbox being a hot path)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, policy
from service.actors import Actor, Delegator
from service.errors import Conflict, Invalid, NotFound
from service.store.db import Database
from service.store.delegation_models import Delegation
from service.store.models import User

MAX_REASON = 200


# The delegations a user holds now, with their delegators' names and groups: fixed SQL on the
# driver cursor, run on every request (pages and API) on the (delegate, ends_at) index.
ACTIVE_SQL = (
    "SELECT d.delegator, u.name, g.group_key FROM delegations d "
    "JOIN users u ON u.username = d.delegator AND u.active "
    "LEFT JOIN user_groups g ON g.user_id = u.id "
    "WHERE d.delegate = :me AND d.ends_at >= :now AND d.starts_at <= :now AND d.revoked_at IS NULL"
)


def _grouped(rows: Any) -> tuple[Delegator, ...]:
    found: dict[str, tuple[str, set[str]]] = {}
    for delegator, name, group in rows:
        entry = found.setdefault(delegator, (name, set()))
        if group:
            entry[1].add(group)
    return tuple(Delegator(u, n, frozenset(g)) for u, (n, g) in sorted(found.items()))


def attach(db: Database, actor: Actor) -> Actor:
    """The actor with the delegations they hold at this moment (of the pinned clock): one
    statement on a pooled read connection (~0.1 ms), so a revocation counts from the next request."""
    with db.raw(write=False) as tx:
        rows = db.sql.rows(tx, ACTIVE_SQL, {"me": actor.username, "now": db.sql.when(clock.now())})
    return dataclasses.replace(actor, delegators=_grouped(rows)) if rows else actor


# ----- the user's own delegations --------------------------------------------------------------


def _moment(raw: Any, field: str, label: str, end: bool) -> datetime:
    """A date (`YYYY-MM-DD`: the start or the end of that day) or a date-time, Beijing time."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid("委托设置有误", [{"field": field, "message": f"请填写{label}"}])
    try:
        value = clock.parse_datetime(raw)
    except (ValueError, OverflowError) as exc:
        raise Invalid("委托设置有误", [{"field": field, "message": f"{label}格式不正确"}]) from exc
    if end and len(raw.strip()) == 10:
        value = datetime.combine(value.date(), time(23, 59, 59), tzinfo=clock.BEIJING)
    return value


def _overlapping(session: Session, column: Any, username: str, starts: datetime, ends: datetime) -> bool:
    return session.scalar(select(Delegation.id).where(
        column == username, Delegation.revoked_at.is_(None), Delegation.starts_at <= ends,
        Delegation.ends_at >= starts).limit(1)) is not None


def create(db: Database, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Make a delegation from the actor to `body["delegate"]` for [starts_at, ends_at]; 422 with
    Chinese field errors when the policy refuses it (nothing written)."""
    now = clock.now()
    delegate = str(body.get("delegate") or "").strip()
    if not delegate:
        raise Invalid("委托设置有误", [{"field": "delegate", "message": "请选择受托人"}])
    starts = _moment(body.get("starts_at") or now.date().isoformat(), "starts_at", "开始日期", end=False)
    ends = _moment(body.get("ends_at"), "ends_at", "结束日期", end=True)
    if starts.date() < now.date():
        raise Invalid("委托设置有误", [{"field": "starts_at", "message": "开始日期不能早于今天"}])
    reason = str(body.get("reason") or "").strip() or None
    if reason and len(reason) > MAX_REASON:
        raise Invalid("委托设置有误", [{"field": "reason", "message": f"委托事由不能超过{MAX_REASON}个字"}])
    with db.write() as session:
        # one delegation at a time per user: the user's row is the lock (PostgreSQL; SQLite writes
        # are serialised anyway), so two requests at once cannot both pass the overlap check
        session.scalar(select(User.id).where(User.username == actor.username).with_for_update())
        active = session.scalar(select(User.active).where(User.username == delegate))
        errors = policy.delegation_errors(
            actor, delegate, active, starts, ends, now,
            overlaps_own=_overlapping(session, Delegation.delegator, actor.username, starts, ends),
            acts_for_others=_overlapping(session, Delegation.delegate, actor.username, starts, ends),
            delegate_away=_overlapping(session, Delegation.delegator, delegate, starts, ends))
        if errors:
            raise Invalid("委托设置有误，请检查标出的字段", errors)
        row = Delegation(delegator=actor.username, delegate=delegate, starts_at=starts, ends_at=ends,
                         reason=reason, created_at=now)
        session.add(row)
        session.flush()
        return as_json(row, _names(session, [row]), now)


def revoke(db: Database, actor: Actor, delegation_id: int) -> dict[str, Any]:
    """Revoke one's own delegation: it stops at once (the next request loads no delegation)."""
    now = clock.now()
    with db.write() as session:
        row = session.get(Delegation, delegation_id)
        if row is None:
            raise NotFound("委托不存在")
        policy.require_own_delegation(actor, row.delegator)
        if row.revoked_at is not None:
            raise Conflict("该委托已撤销")
        row.revoked_at = now
        session.flush()
        return as_json(row, _names(session, [row]), now)


def for_user(session: Session, actor: Actor, limit: int = 50) -> list[dict[str, Any]]:
    """The delegations the user made and those made to them, newest first."""
    now = clock.now()
    rows = list(session.scalars(
        select(Delegation).where((Delegation.delegator == actor.username) | (Delegation.delegate == actor.username))
        .order_by(Delegation.id.desc()).limit(limit)))
    names = _names(session, rows)
    return [{**as_json(r, names, now), "direction": "given" if r.delegator == actor.username else "received"}
            for r in rows]


def _names(session: Session, rows: list[Delegation]) -> dict[str, str]:
    users = {u for r in rows for u in (r.delegator, r.delegate)}
    if not users:
        return {}
    return dict(session.execute(select(User.username, User.name).where(User.username.in_(sorted(users)))).all())


STATUS_LABELS = {"active": "生效中", "scheduled": "未开始", "ended": "已结束", "revoked": "已撤销"}


def as_json(row: Delegation, names: dict[str, str], now: datetime) -> dict[str, Any]:
    starts, ends = clock.parse_datetime(row.starts_at), clock.parse_datetime(row.ends_at)
    if row.revoked_at is not None:
        status = "revoked"
    elif ends < now:
        status = "ended"
    elif starts > now:
        status = "scheduled"
    else:
        status = "active"
    return {
        "id": row.id, "delegator": row.delegator, "delegator_name": names.get(row.delegator, row.delegator),
        "delegate": row.delegate, "delegate_name": names.get(row.delegate, row.delegate),
        "starts_at": clock.iso(starts), "ends_at": clock.iso(ends), "reason": row.reason,
        "created_at": clock.iso(row.created_at), "revoked_at": clock.iso(row.revoked_at),
        "status": status, "status_label": STATUS_LABELS[status],
    }



# ----- what the lists show ----------------------------------------------------------------------


def behalf_of(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> Delegator | None:
    """The delegator in whose name the user would act on this task (None: their own task)."""
    return policy.acting_for(actor, candidate_groups, assignee) if actor.delegators else None


def inbox_mark(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> list[str]:
    """The inbox's mark of a delegator's task: 「代 张三」."""
    behalf = behalf_of(actor, candidate_groups, assignee)
    return [f"代 {behalf.name or behalf.username}"] if behalf else []


def done_mark(actor: Actor, item: dict[str, Any], names: dict[str, str]) -> str | None:
    """已办: 「李四 代办」 in the delegator's list, 「代 张三」 in the delegate's."""
    behalf = item.get("on_behalf_of")
    if not behalf:
        return None
    if behalf == actor.username:
        done_by = item.get("completed_by") or ""
        return f"{names.get(done_by, done_by)} 代办"
    return f"代 {names.get(behalf, behalf)}"
