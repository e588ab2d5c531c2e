"""Read side: inbox, instance lists and case views from the projected tables (never the state JSON
for lists)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit, calendar, clock, policy, receipts, search
from service.actors import Actor
from service.due_marks import due_state
from service.errors import Forbidden, NotFound
from service.links import links_of
from service.runtime import NO_DUE_DATE, Runtime, awaited_messages, instance_data
from service.search import stalled_since  # noqa: F401 - re-exported (service/supervision.py)
from service.store.models import Definition, Group, History, HumanTask, Instance, TaskCandidate, Timer

MAX_LIMIT = 500


iso = clock.iso


def provisional(value: datetime | None) -> bool:
    """A date computed under the provisional holiday rule (its year's notice not loaded): 暂定."""
    return value is not None and calendar.deadline_is_provisional(clock.parse_datetime(value))


def task_json(row: HumanTask) -> dict[str, Any]:
    return {
        "id": row.id,
        "instance_id": row.instance_id,
        "process": row.process_key,
        "business_key": row.business_key,
        "name": row.name,
        "bpmn_id": row.bpmn_id,
        "candidate_groups": [g for g in row.candidate_groups.split(",") if g],
        "assignee": row.assignee,
        "form_key": row.form_key,
        "created_at": iso(row.created_at),
        "due_at": iso(row.due_at),
        "due_provisional": provisional(row.due_at),
        "due_state": due_state(row.due_at, row.state, row.completed_at),
        "state": row.state,
    }


def inbox(session: Session, actor: Actor, limit: int = 200) -> list[HumanTask]:
    """Open tasks the user may act on: assigned to them, or offered to their groups and unclaimed.

    Each group's candidates are read in index order (group, due, arrival) with a limit, so the
    cost does not grow with the number of open cases."""
    limit = min(limit, MAX_LIMIT)
    wanted: set[str] = set()
    holders = policy.task_holders(actor)  # 委托: the delegators' tasks too (their groups, their claims)
    for group in sorted(policy.acting_groups(actor)):
        wanted.update(session.scalars(
            select(TaskCandidate.task_id).where(TaskCandidate.group_key == group)
            .order_by(TaskCandidate.due_sort, TaskCandidate.created_at).limit(limit * 2)
        ))
    rows: dict[str, HumanTask] = {}
    ids = sorted(wanted)
    for start in range(0, len(ids), 500):
        # by primary key only (a state filter here makes SQLite scan every open task), then filter
        for row in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids[start:start + 500]))):
            if row.state == "open" and (row.assignee is None or row.assignee in holders):
                rows[row.id] = row
    for row in session.scalars(select(HumanTask).where(
            HumanTask.assignee.in_(holders), HumanTask.state == "open").limit(limit)):
        rows[row.id] = row

    def order(row: HumanTask) -> tuple[datetime, datetime]:
        due = clock.parse_datetime(row.due_at) if row.due_at else NO_DUE_DATE
        return due, clock.parse_datetime(row.created_at)

    return sorted(rows.values(), key=order)[:limit]


def get_task(session: Session, actor: Actor, task_id: str) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound("任务不存在")
    if not policy.may_view_task(actor, row.candidate_groups, row.assignee, row.process_key):
        raise Forbidden("您无权查看此任务")
    return row


def instances(session: Session, actor: Actor, process: str | None = None, status: str | None = None,
              overdue: bool = False, stalled_days: int | None = None, q: str | None = None,
              limit: int = 100, offset: int = 0, drill: bool | None = None) -> list[Instance]:
    """The case list's filters (/instances, GET /api/v1/instances): the search's (service/search.py)."""
    criteria = search.Criteria(process=process, status=status, overdue=overdue, stalled_days=stalled_days,
                               q=q, drill=drill)
    return search.find(session, actor, criteria, limit=limit, offset=offset, cap=MAX_LIMIT)


def instance_json(inst: Instance, links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    now = clock.now()
    due = clock.parse_datetime(inst.due_at) if inst.due_at else None
    return {
        "id": inst.id,
        "process": inst.process_key,
        "business_key": inst.business_key,
        "title": inst.title,
        "status": inst.status,
        "started_at": iso(inst.started_at),
        "due_at": iso(inst.due_at),
        "due_provisional": provisional(inst.due_at),
        "overdue": bool(due and inst.status == "running" and due < now),
        "due_state": due_state(inst.due_at, inst.status, inst.completed_at),
        "last_step_at": iso(inst.last_step_at),
        "handling_group": inst.handling_group,
        "listed": bool(inst.listed),
        "drill": bool(inst.drill),
        "links": links or [],
    }


def instance_rows(session: Session, rows: list[Instance]) -> list[dict[str, Any]]:
    """List rows with their links (one query for the whole page)."""
    found = links_of(session, [r.id for r in rows])
    return [instance_json(r, found.get(r.id)) for r in rows]


def visible_instance(session: Session, actor: Actor, instance_id: int) -> Instance:
    inst = session.get(Instance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    if session.scalars(policy.visible(select(Instance.id).where(Instance.id == instance_id), actor)).first() is None:
        raise Forbidden("您无权查看此案件")
    return inst


def instance_detail(session: Session, runtime: Runtime, actor: Actor, instance_id: int) -> dict[str, Any]:
    inst = visible_instance(session, actor, instance_id)
    definition = session.get(Definition, inst.definition_id)
    assert definition is not None
    wf, _model = runtime._load(session, inst)
    data = policy.present(instance_data(wf), actor, inst)
    personal = policy.may_see_personal(actor, inst)
    if personal:  # 安全审计: each view of a case's personal data in clear is a row (none without any)
        audit.unmasked_view(runtime.db, inst.process_key, inst.business_key, inst.id)
    open_tasks = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.state == "open")
        .order_by(HumanTask.created_at)
    )
    done_steps = {t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id}
    waiting_steps = {t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.WAITING | TaskState.READY)
                     if t.task_spec.bpmn_id}
    timers = session.scalars(
        select(Timer).where(Timer.instance_id == inst.id, Timer.state == "waiting").order_by(Timer.due_at)
    )
    history = session.scalars(select(History).where(History.instance_id == inst.id).order_by(History.id))
    return {
        **instance_json(inst, links_of(session, [inst.id])[inst.id]),
        "version": definition.version,
        "process_name": definition.name,
        "definition_id": definition.id,
        "data": data,
        "open_tasks": [task_json(t) for t in open_tasks],
        "completed_steps": sorted(done_steps),
        "current_steps": sorted(waiting_steps),
        "history": [history_json(h, actor, inst, personal) for h in history],
        "timers": [{"name": t.name, "due_at": iso(t.due_at), "provisional": provisional(t.due_at)}
                   for t in timers],
        "awaited_messages": awaited_messages(wf) if inst.status == "running" else [],
        "receipts": receipts.for_case(session, inst),  # 签收回执 of the units it was handed to
    }


def history_json(h: History, actor: Actor, inst: Instance, personal: bool) -> dict[str, Any]:
    def load(raw: str | None) -> Any:
        if not raw:
            return None
        value = json.loads(raw)
        return value if personal or not isinstance(value, dict) else policy.present(value, actor, inst)

    return {
        "at": iso(h.at),
        "user": h.username,
        "on_behalf_of": h.on_behalf_of,  # 委托: `user` acted in this user's name
        "action": h.action,
        "task": h.task_bpmn_id,
        "task_name": h.task_name,
        "comment": h.comment,
        "data": load(h.data_after),
    }


def groups(session: Session) -> list[dict[str, str]]:
    return [{"key": g.key, "name": g.name} for g in session.scalars(select(Group).order_by(Group.key))]
