"""Read models: rows a procedure keeps for itself, for pages that must not read workflow state
(the public site's published articles, a round's report per department).

A procedure declares `ReadModel(name, project)`; `project(event)` is a pure function from one
history event (what a step did, and the case's data up to it) to rows to write or remove. The
runtime applies it to every history row a step writes, in that step's own transaction, so a
row exists exactly when its step committed. Because the events come from the append-only
history, `rebuild()` (`govflow rebuild-read-models`) replays them and restores every row."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service import clock, procedure, sealed, search_keys
from service.store.models import History, HumanTask, Instance, ReadRow


@dataclass(frozen=True)
class Event:
    """One history row as a read model sees it."""

    instance_id: int
    process: str
    business_key: str
    action: str  # start, complete, message, timer, end, …
    task: str | None  # the task's bpmn id (a message's name for `message`)
    task_id: str | None
    at: datetime
    user: str | None
    data: dict[str, Any]  # what this step submitted (start data, form data, message payload)
    case: dict[str, Any]  # the case's data so far: every step's data merged in order
    groups: tuple[str, ...] = ()  # the candidate groups of the task it completed (one per department…)
    task_due_at: datetime | None = None  # that task's deadline (a report filed late, …)


@dataclass(frozen=True)
class Row:
    key: str  # unique within the model (e.g. "<instance id>:<group>")
    data: dict[str, Any]
    tag: str | None = None  # what pages select by (a column, a department)
    sort_at: datetime | None = None  # what they order by (newest first)


@dataclass(frozen=True)
class Remove:
    key: str


Change = Row | Remove


@dataclass(frozen=True)
class ReadModel:
    name: str  # unique across procedures, e.g. "articles"
    label: str  # Chinese, for logs and the rebuild command
    project: Callable[[Event], Iterable[Change]] = field(repr=False)
    # Whether `project` reads `Event.case` (the case data up to the event): only then does a step
    # read the case's whole history back. A round of 50 reports would otherwise re-read every
    # earlier report at each one (quadratic in the departments).
    uses_case: bool = True


_UPSERT = (
    "INSERT INTO read_rows (model, row_key, instance_id, tag, sort_at, data, updated_at) "
    "VALUES (:model, :row_key, :instance_id, :tag, :sort_at, :data, :now) "
    "ON CONFLICT (model, row_key) DO UPDATE SET instance_id = excluded.instance_id, tag = excluded.tag, "
    "sort_at = excluded.sort_at, data = excluded.data, updated_at = excluded.updated_at"
)
_REMOVE = "DELETE FROM read_rows WHERE model = :model AND row_key = :row_key"
_CASE_HISTORY = "SELECT action, data_after FROM history WHERE instance_id = :id ORDER BY id"
_TASK_GROUPS = "SELECT id, candidate_groups, due_at FROM human_tasks WHERE instance_id = :id"


def models_of(process_key: str) -> tuple[ReadModel, ...]:
    declared = procedure.get(process_key)
    return tuple(declared.read_models) if declared else ()


def _loaded(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def events(instance_id: int, process: str, business_key: str, rows: Iterable[dict[str, Any]],
           task_groups: dict[str, str] | None = None, task_due: dict[str, Any] | None = None) -> list[Event]:
    """History rows (dicts with the History columns, oldest first) as events, the case data
    accumulated along the way; `task_groups`: task id → its candidate groups ("a,b"); `task_due`:
    task id → its deadline."""
    task_groups = task_groups or {}
    task_due = task_due or {}
    case: dict[str, Any] = {}
    found = []
    for row in rows:
        data = _loaded(row.get("data_after"))
        if row["action"] in ("start", "complete", "message"):
            case = {**case, **data}
        found.append(Event(instance_id, process, business_key, row["action"], row.get("task_bpmn_id") or
                           (row.get("task_name") if row["action"] == "message" else None), row.get("task_id"),
                           clock.parse_datetime(row["at"]), row.get("username"), data, dict(case),
                           tuple(g for g in task_groups.get(row.get("task_id") or "", "").split(",") if g),
                           _moment(task_due.get(row.get("task_id") or ""))))
    return found


def _moment(value: Any) -> datetime | None:
    return clock.parse_datetime(value) if value else None


def _apply(sql: Any, tx: Any, model: ReadModel, instance_id: int, changes: Iterable[Change], now: datetime) -> None:
    for change in changes:
        if isinstance(change, Remove):
            sql.run(tx, _REMOVE, {"model": model.name, "row_key": change.key})
            continue
        sql.run(tx, _UPSERT, {
            "model": model.name, "row_key": change.key, "instance_id": instance_id, "tag": change.tag,
            "sort_at": sql.when(change.sort_at), "now": sql.when(now),
            "data": json.dumps(change.data, ensure_ascii=False, default=str),
        })


def write_step(sql: Any, tx: Any, case: Any, new_rows: list[dict[str, Any]], now: datetime) -> None:
    """Apply the case's procedure's read models to the history rows its step just wrote (already
    inserted in `tx`, so the case data up to them is read back from there); the searchable
    personal fields' hashes too (service/search_keys.py)."""
    search_keys.write_step(sql, tx, case, new_rows)
    models = models_of(case.process_key)
    if not models or not new_rows:
        return
    earlier: list[dict[str, Any]] = []
    if any(model.uses_case for model in models):
        stored = sql.rows(tx, _CASE_HISTORY, {"id": case.id})
        earlier = [{"action": action, "data_after": sealed.unseal(raw), "at": now}
                   for action, raw in stored[:len(stored) - len(new_rows)]]
    task_ids = sorted({str(r["task_id"]) for r in new_rows if r.get("task_id")})
    if not task_ids:
        tasks = []
    else:
        marks, params = sql.in_list("t", task_ids)
        tasks = sql.rows(tx, f"{_TASK_GROUPS} AND id IN ({marks})", {**params, "id": case.id})
    groups = {str(r[0]): r[1] for r in tasks}
    due = {str(r[0]): r[2] for r in tasks}
    found = events(case.id, case.process_key, case.business_key, [*earlier, *new_rows], groups, due)[len(earlier):]
    for model in models:
        for event in found:
            _apply(sql, tx, model, case.id, model.project(event), now)


def rebuild(db: Any, name: str | None = None) -> dict[str, int]:
    """Drop and replay the rows of every read model (or the one named) from the history;
    returns how many rows each model holds afterwards. One transaction: all or nothing."""
    # A model several procedures share (both screening rounds keep one board) is dropped once and
    # replayed over the cases of all of them.
    wanted: dict[str, tuple[ReadModel, list[str]]] = {}
    for p in procedure.registry():
        for m in p.read_models:
            if name in (None, m.name):
                wanted.setdefault(m.name, (m, []))[1].append(p.key)
    counts: dict[str, int] = {}
    now = clock.now()
    with db.write() as session:
        for model, process_keys in wanted.values():
            session.execute(delete(ReadRow).where(ReadRow.model == model.name))
            cases = session.scalars(select(Instance).where(Instance.process_key.in_(process_keys))
                                    .order_by(Instance.id))
            for inst in cases:
                rows = [{c: getattr(h, c) for c in ("action", "task_bpmn_id", "task_name", "task_id", "at",
                                                     "username", "data_after")}
                        for h in session.scalars(select(History).where(History.instance_id == inst.id)
                                                 .order_by(History.id))]
                tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id)))
                groups = {t.id: t.candidate_groups for t in tasks}
                due = {t.id: t.due_at for t in tasks}
                for event in events(inst.id, inst.process_key, inst.business_key, rows, groups, due):
                    _apply(db.sql, session, model, inst.id, model.project(event), now)
            session.flush()
            counts[model.name] = len(list(session.scalars(select(ReadRow.id).where(ReadRow.model == model.name))))
    return counts


def rows(session: Session, model: str, tag: str | None = None, limit: int = 50,
         offset: int = 0) -> list[dict[str, Any]]:
    """A model's rows, newest first (by sort_at), optionally of one tag."""
    query = select(ReadRow).where(ReadRow.model == model)
    if tag is not None:
        query = query.where(ReadRow.tag == tag)
    query = query.order_by(ReadRow.sort_at.desc(), ReadRow.id.desc()).limit(limit).offset(offset)
    return [{"key": r.row_key, "instance_id": r.instance_id, "tag": r.tag, "sort_at": r.sort_at,
             **json.loads(r.data)} for r in session.scalars(query)]
