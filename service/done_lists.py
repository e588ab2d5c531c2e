"""已办 and 办结: the tasks a user completed (with what they decided) and the finished cases of
their groups, newest first, filtered by procedure, business key and completion date."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from service import clock, policy
from service.actors import Actor
from service.errors import BadRequest
from service.queries import MAX_LIMIT, instance_json, iso, task_json
from service.store.models import History, HumanTask, Instance, InstanceGroup


def parse_day(raw: str | None, name: str) -> date | None:
    """A `YYYY-MM-DD` filter value; empty is no filter, anything else a 400 in Chinese."""
    if raw is None or not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise BadRequest(f"参数 {name} 必须是日期（YYYY-MM-DD）") from exc


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def _filtered(query: Select[Any], column: Any, process: str | None, q: str | None,
              since: date | None, until: date | None) -> Select[Any]:
    """The shared filters: procedure, business key containing q, completed within [since, until]
    (whole days, Beijing time)."""
    if process:
        query = query.where(Instance.process_key == process)
    if q and q.strip():
        query = query.where(Instance.business_key.contains(q.strip().upper(), autoescape=True))
    if since:
        query = query.where(column >= _day_start(since))
    if until:
        query = query.where(column < _day_start(until + timedelta(days=1)))
    return query


def done_tasks(session: Session, actor: Actor, process: str | None = None, q: str | None = None,
               since: date | None = None, until: date | None = None, limit: int = 50,
               offset: int = 0) -> list[dict[str, Any]]:
    """Tasks this user completed, newest first, each with its case and `decision`: the form data
    of that step (its history row), masked as the policy shows this case's data to this user."""
    mine: Any = HumanTask.completed_by == actor.username
    if session.scalar(select(History.id).where(History.on_behalf_of == actor.username).limit(1)) is not None:
        # 委托: the steps a delegate did in this user's name are theirs too (rare: probed first)
        mine = or_(mine, HumanTask.id.in_(select(History.task_id).where(
            History.on_behalf_of == actor.username, History.action == "complete")))
    query = (select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
             .where(mine, HumanTask.state == "completed"))
    query = _filtered(query, HumanTask.completed_at, process, q, since, until)
    query = query.order_by(HumanTask.completed_at.desc(), HumanTask.id).limit(min(limit, MAX_LIMIT)).offset(offset)
    rows = [(task, inst) for task, inst in session.execute(query)]
    decided: dict[str, Any] = {}
    behalf: dict[str, str | None] = {}
    ids = [task.id for task, _inst in rows]
    if ids:
        for task_id, raw, for_whom in session.execute(select(History.task_id, History.data_after, History.on_behalf_of)
                                                      .where(History.task_id.in_(ids), History.action == "complete")
                                                      .order_by(History.id)):
            decided[task_id] = json.loads(raw) if raw else {}
            behalf[task_id] = for_whom
    found = []
    for task, inst in rows:
        data = decided.get(task.id) or {}
        if isinstance(data, dict) and data:
            data = policy.present(data, actor, inst)
        found.append({
            **task_json(task),
            "completed_at": iso(task.completed_at),
            "completed_by": task.completed_by,
            "on_behalf_of": behalf.get(task.id),  # 委托: done by completed_by in this user's name
            "title": inst.title,
            "instance_status": inst.status,
            "decision": data,
        })
    return found


def finished_cases(session: Session, actor: Actor, process: str | None = None, q: str | None = None,
                   since: date | None = None, until: date | None = None, limit: int = 50,
                   offset: int = 0) -> list[Instance]:
    """Completed cases this user may see in which one of their groups took part (a task offered
    to it, or a handling group of the case), newest completed first."""
    groups = sorted(actor.groups)
    took_part = or_(
        exists().where(HumanTask.instance_id == Instance.id, or_(*policy.offered_to(actor))),
        exists().where(InstanceGroup.instance_id == Instance.id, InstanceGroup.group_key.in_(groups)),
    )
    query = select(Instance).where(Instance.status == "completed", took_part)
    query = _filtered(query, Instance.completed_at, process, q, since, until)
    query = policy.visible(query, actor)
    query = query.order_by(Instance.completed_at.desc(), Instance.id.desc()).limit(min(limit, MAX_LIMIT)).offset(offset)
    return list(session.scalars(query))


def finished_json(inst: Instance) -> dict[str, Any]:
    return {**instance_json(inst), "completed_at": iso(inst.completed_at)}
