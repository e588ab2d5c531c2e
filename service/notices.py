"""Notices (提醒/催办/要求汇报/催报…): raised by diagram scripts through `notify`, written in
the same transaction as the step that raised them, delivered in-app and through senders."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from service import clock, procedure, task_notices
from service.actors import Actor
from service.store import statements as stmt
from service.store.db import RawTx
from service.store.models import Group, HumanTask, Notice, NoticeRead

if TYPE_CHECKING:
    from service.store.db import Database

# Notices the platform itself sends (督办 actions); procedures declare the kinds their scripts raise.
PLATFORM_KINDS = {
    "manual_urge": "人工催办",
    "listed": "挂牌督办",
    "reassign": "改派",
    task_notices.KIND: task_notices.KIND_NAME,  # a step opened a task for this group or user
    "transfer": "转办",  # a colleague handed a task to this user (service/transfers.py)
    "draft_submitted": "流程草稿待部署",  # a designer submitted a draft to the administrators (service/drafts.py)
}


def kinds() -> dict[str, str]:
    """Every notice kind with its Chinese name."""
    return {**procedure.registry().notice_kinds(), **PLATFORM_KINDS}

class Outbox(list[dict[str, Any]]):
    """What a step's scripts queued: notices (the list itself) and linked starts (`starts`,
    see service/links.py); the runtime writes both in the step's own transaction."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[dict[str, Any]] = []


_outbox: contextvars.ContextVar[Outbox | None] = contextvars.ContextVar("govflow_outbox", default=None)


def current_outbox(helper: str) -> Outbox:
    outbox = _outbox.get()
    if outbox is None:
        raise RuntimeError(f"{helper}() 只能在流程执行中调用")
    return outbox


def _outbox_for(helper: str, kind: str) -> Outbox:
    """The step's outbox, for a notice of a declared kind only."""
    outbox = current_outbox(helper)
    if kind not in kinds():
        raise ValueError(f"未知的通知类型 {kind}")
    return outbox


def notify(kind: str, recipients: Any, **fields: Any) -> None:
    """Script helper: queue a notice; the runtime writes it when the step commits."""
    outbox = _outbox_for("notify", kind)
    targets = [recipients] if isinstance(recipients, str) else list(recipients or [])
    unique = list(dict.fromkeys(str(t) for t in targets if t))
    outbox.append({"kind": kind, "recipients": unique, "fields": dict(fields)})


# Marks a queued notice whose recipients are the groups of the case's open tasks of one step.
OPEN_TASK = "open_task"


def notify_open(kind: str, bpmn_id: str, **fields: Any) -> None:
    """Script helper: queue a notice to every group that still has an open (ready) task `bpmn_id`
    in this case, e.g. 催报 to each department whose report is missing. The recipients are only
    known once the engine step ends (a department may report in this very step): the runtime
    resolves them then (`resolve_open`), one notice per group, with `unit=<group>` added to its
    fields so that the text can name the unit. No such task open: nothing is sent."""
    outbox = _outbox_for("notify_open", kind)
    if not isinstance(bpmn_id, str) or not bpmn_id:
        raise ValueError("notify_open() 需要任务标识")
    outbox.append({"kind": kind, "recipients": [], "fields": dict(fields), OPEN_TASK: bpmn_id})


def resolve_open(outbox: list[dict[str, Any]], open_groups: Any) -> None:
    """Replace, in place, each item `notify_open` queued by one item per group of the open tasks
    `open_groups(bpmn_id)` returns (sorted, each once)."""
    resolved: list[dict[str, Any]] = []
    for item in outbox:
        bpmn_id = item.get(OPEN_TASK)
        if bpmn_id is None:
            resolved.append(item)
            continue
        for group in sorted(dict.fromkeys(str(g) for g in open_groups(bpmn_id) if g)):
            resolved.append({"kind": item["kind"], "recipients": [group], "fields": {**item["fields"], "unit": group}})
    outbox[:] = resolved


@contextmanager
def collecting() -> Iterator[Outbox]:
    items = Outbox()
    token = _outbox.set(items)
    try:
        yield items
    finally:
        _outbox.reset(token)


def group_names(session: Session) -> dict[str, str]:
    return {g.key: g.name for g in session.scalars(select(Group))}


def render(process_key: str, kind: str, fields: dict[str, Any], names: dict[str, str],
           now: datetime) -> str | None:
    declared = procedure.get(process_key)
    if declared is not None and declared.notice_text is not None:
        text = declared.notice_text(kind, fields, names, now)
        return None if text is None else str(text)
    return f"【{kinds().get(kind, kind)}】{fields.get('business_key', '')}"


class CaseRef(Protocol):
    id: int
    process_key: str
    business_key: str


def write(db: Database, tx: Session | RawTx, case: CaseRef, items: list[dict[str, Any]], now: datetime,
          by: str | None, task_id: str | None = None, recorded: list[dict[str, Any]] | None = None) -> int:
    """Write queued notices (one per recipient), their deliveries and a supervision-log row, in
    the transaction `tx` of the step that raised them. Returns how many notices were written;
    `recorded` gets each notice sent ({"kind", "text", "recipients"}), for a caller that keeps
    them in the case's history (the timers: what the system did must show on the case).
    New-task notices (kind `task_assigned`) are written apart by service/task_notices.py: one
    batch, deliveries only to who opted in, no supervision-log or history row (the task's own
    `task_opened` row says it)."""
    if not items:
        return 0
    sql = db.sql
    tasks = [item for item in items if item["kind"] == task_notices.KIND]
    written = task_notices.write(sql, tx, case.id, tasks, now, by) if tasks else 0
    items = [item for item in items if item["kind"] != task_notices.KIND]
    if not items:
        return written
    names = {key: name for key, name in sql.rows(tx, "SELECT key, name FROM groups")}
    for item in items:
        text = render(case.process_key, item["kind"], {"business_key": case.business_key, **item["fields"]},
                      names, now)
        if text is None:
            continue
        recipients = item["recipients"]
        dedup = {t: _dedup_key(case, item, t) for t in recipients}
        keys = [k for k in dedup.values() if k]
        if keys:
            marks, params = sql.in_list("k", keys)
            seen = {r[0] for r in sql.rows(tx, f"SELECT dedup_key FROM notices WHERE dedup_key IN ({marks})", params)}
            recipients = [t for t in recipients if dedup[t] is None or dedup[t] not in seen]
        if not recipients:
            continue
        for target in recipients:
            user = target[5:] if target.startswith("user:") else None
            notice_id = sql.rows(tx, stmt.NEW_NOTICE, {
                "kind": item["kind"], "instance_id": case.id, "task_id": task_id, "user": user,
                "group": None if user else target, "text": text, "now": sql.when(now), "by": by,
                "dedup": dedup[target]})[0][0]
            _queue_deliveries(db, tx, int(notice_id), user, None if user else target)
            written += 1
        sql.run(tx, stmt.NEW_LOG, {"instance_id": case.id, "now": sql.when(now), "kind": item["kind"], "by": by,
                               "groups": ",".join(recipients), "text": text})
        if recorded is not None:
            recorded.append({"kind": item["kind"], "text": text, "recipients": list(recipients)})
    return written


def write_opened(db: Database, tx: Session | RawTx, step: Any, opened: list[dict[str, Any]]) -> int:
    """The 新待办 of the tasks a step opened (`opened`, as its projection wrote them), inside that
    step's write batch: on PostgreSQL they travel with the step's own statements, no round trip
    of their own. The step's actor is its first history row's user (the system's for a timer)."""
    if not opened:
        return 0
    by = step.history[0]["username"] if step.history else None
    items = task_notices.queued(opened, step.ready, step.case.business_key, by)
    return write(db, tx, step.case, items, step.now, by)


def _dedup_key(inst: CaseRef, item: dict[str, Any], target: str) -> str | None:
    """Deadline notices (a procedure's `deadline_notices`) are sent once per deadline:
    re-entering a step (退回重办, a rejected extension) with the same deadline does not repeat a
    rung that already went out."""
    due = item["fields"].get("due_at")
    declared = procedure.get(inst.process_key)
    if declared is None or item["kind"] not in declared.deadline_notices or not due:
        return None
    stage = item["fields"].get("stage") or ""
    step = item["fields"].get("step") or ""
    return f"{inst.id}:{item['kind']}:{stage}:{step}:{target}:{due}"[:200]


def _queue_deliveries(db: Database, tx: Session | RawTx, notice_id: int, user: str | None,
                      group: str | None) -> None:
    """Outbox rows for every active recipient with an e-mail address or a phone number."""
    sql = db.sql
    people = sql.rows(tx, stmt.USER_ADDRESSES, {"name": user}) if user else sql.rows(tx, stmt.GROUP_ADDRESSES, {"name": group})
    rows = []
    for active, email, phone in people:
        if active and email:
            rows.append({"notice_id": notice_id, "channel": "email", "address": email})
        if active and phone:
            rows.append({"notice_id": notice_id, "channel": "sms", "address": phone})
    sql.many(tx, stmt.NEW_DELIVERY, rows)


def _mine(actor: Actor) -> Any:
    return or_(Notice.recipient_user == actor.username, Notice.recipient_group.in_(sorted(actor.groups)))


def for_user(session: Session, actor: Actor, unread_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    query = (
        select(Notice, NoticeRead.read_at)
        .outerjoin(NoticeRead, and_(NoticeRead.notice_id == Notice.id, NoticeRead.username == actor.username))
        .where(_mine(actor))
        .order_by(Notice.created_at.desc(), Notice.id.desc())
        .limit(limit)
    )
    if unread_only:
        query = query.where(NoticeRead.read_at.is_(None), _still_news())
    iso = clock.iso
    names = kinds()
    return [
        {"id": n.id, "kind": n.kind, "kind_name": names.get(n.kind, n.kind), "instance_id": n.instance_id,
         "task_id": n.task_id, "text": n.text, "created_at": iso(n.created_at), "read_at": iso(read_at),
         "recipient_group": n.recipient_group, "recipient_user": n.recipient_user}
        for n, read_at in session.execute(query)
    ]


def _still_news() -> Any:
    """A 新待办 stops being news once its task is no longer open (a colleague took and did it):
    otherwise every member of a busy group would carry one unread notice per task ever opened."""
    task_open = exists().where(HumanTask.id == Notice.task_id, HumanTask.state == "open")
    return or_(Notice.kind != task_notices.KIND, task_open)


def unread_count(session: Session, actor: Actor) -> int:
    query = (
        select(func.count(Notice.id))
        .outerjoin(NoticeRead, and_(NoticeRead.notice_id == Notice.id, NoticeRead.username == actor.username))
        .where(_mine(actor), NoticeRead.read_at.is_(None), _still_news())
    )
    return int(session.scalar(query) or 0)


def mark_read(session: Session, actor: Actor, ids: list[int] | None, now: datetime) -> int:
    """Mark these notices (or all of the user's) read; notices of others are ignored."""
    query = select(Notice.id).where(_mine(actor))
    if ids is not None:
        query = query.where(Notice.id.in_(ids))
    already = set(session.scalars(select(NoticeRead.notice_id).where(NoticeRead.username == actor.username)))
    count = 0
    for notice_id in session.scalars(query):
        if notice_id not in already:
            session.add(NoticeRead(notice_id=notice_id, username=actor.username, read_at=now))
            count += 1
    return count
