"""Supervision (督办): overdue and stalled cases by department, manual 催办, 挂牌督办, reassignment.
Every action is written to the history and the supervision log."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from service import clock, config_store, notices, policy, procedure, task_notices
from service.actors import Actor
from service.due_marks import due_state
from service.errors import Conflict, Invalid, NotFound
from service.queries import stalled_since
from service.runtime import NO_DUE_DATE
from service.store.db import Database
from service.store.models import (
    Group,
    History,
    HumanTask,
    Instance,
    InstanceGroup,
    Supervision,
    TaskCandidate,
    User,
)


def _require_scope(actor: Actor, inst: Instance) -> None:
    policy.require_supervises(actor, inst.process_key)


def _fallback(inst: Instance) -> list[str]:
    """Who gets a 督办 notice of a case not yet handed to a unit: its procedure's owners."""
    declared = procedure.get(inst.process_key)
    return sorted(declared.owners) if declared else []


def board(session: Session, actor: Actor, stalled_days: int | None = None) -> dict[str, Any]:
    """Overdue and stalled running cases, grouped by handling department. Drills (演练) are left
    out: they run the same steps but count in no figure, the board's overdue counts included."""
    policy.require_supervisor(actor)
    now = clock.now()
    days = int(stalled_days if stalled_days is not None else config_store.get("supervision.stalled_days"))
    stalled_before = now - timedelta(days=days)
    query = select(Instance).where(
        Instance.status == "running", Instance.drill.is_not(True),
        or_(Instance.due_at < now, stalled_since(stalled_before), Instance.listed.is_(True)),
    ).order_by(Instance.due_at)
    scope = policy.supervised(actor)
    if scope is not None:
        query = query.where(Instance.process_key.in_(sorted(scope)))
    rows = list(session.scalars(query))
    names = notices.group_names(session)
    open_tasks: dict[int, list[HumanTask]] = defaultdict(list)
    handlers: dict[int, list[str]] = defaultdict(list)  # a case several groups handle: under each
    if rows:
        ids = [r.id for r in rows]
        for task in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids), HumanTask.state == "open")):
            open_tasks[task.instance_id].append(task)
        for instance_id, group_key in session.execute(select(InstanceGroup.instance_id, InstanceGroup.group_key)
                                                      .where(InstanceGroup.instance_id.in_(ids))
                                                      .order_by(InstanceGroup.group_key)):
            handlers[instance_id].append(group_key)
    departments: dict[str, dict[str, Any]] = {}
    totals = {"overdue": 0, "stalled": 0, "listed": 0}  # each case once, however many groups list it
    for inst in rows:
        due = clock.parse_datetime(inst.due_at) if inst.due_at else None
        last = clock.parse_datetime(inst.last_step_at)
        overdue = bool(due and due < now)
        stalled = last < stalled_before and inst.id in open_tasks
        for name, value in (("overdue", overdue), ("stalled", stalled), ("listed", inst.listed)):
            totals[name] += int(value)
        tasks = open_tasks.get(inst.id, [])
        case = {
            "id": inst.id, "business_key": inst.business_key, "title": inst.title, "process": inst.process_key,
            "due_at": clock.parse_datetime(due).isoformat() if due else None,
            "days_overdue": (now - due).days if overdue and due else 0,
            "stalled_days": (now - last).days, "overdue": overdue, "stalled": stalled, "listed": inst.listed,
            "due_state": due_state(due),
            "current_steps": [t.name for t in tasks],
            "holders": [t.assignee or ",".join(names.get(g, g) for g in t.candidate_groups.split(",") if g)
                        for t in tasks],
            "tasks": [{"id": t.id, "name": t.name, "bpmn_id": t.bpmn_id, "assignee": t.assignee,
                       "candidate_groups": [g for g in t.candidate_groups.split(",") if g]} for t in tasks],
        }
        for key in handlers.get(inst.id) or [inst.handling_group or "unassigned"]:
            dept = departments.setdefault(key, {"group": key, "name": names.get(key, "未交办"),
                                                "overdue": 0, "stalled": 0, "listed": 0, "cases": []})
            dept["overdue"] += int(overdue)
            dept["stalled"] += int(stalled)
            dept["listed"] += int(inst.listed)
            dept["cases"].append(dict(case))
    ordered = sorted(departments.values(), key=lambda d: (-d["overdue"], -d["stalled"], d["group"]))
    return {"stalled_days": days, "now": now.isoformat(timespec="seconds"), "departments": ordered,
            "totals": {**totals, "cases": len(rows)}}


def _instance(session: Session, instance_id: int) -> Instance:
    inst = session.get(Instance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    return inst


def manual_urge(db: Database, instance_id: int, comment: Any, actor: Actor) -> dict[str, Any]:
    """A supervisor's 催办: a notice to the handling unit (and 信访科), logged."""
    policy.require_supervisor(actor)
    if not isinstance(comment, str) or not comment.strip():
        raise Invalid("请填写催办意见", [{"field": "comment", "message": "此项为必填项"}])
    now = clock.now()
    with db.write() as session:
        inst = _instance(session, instance_id)
        _require_scope(actor, inst)
        if inst.status != "running":
            raise Conflict("案件已办结，无需催办")
        targets = [inst.handling_group] if inst.handling_group else []
        targets += [g for g in (t.candidate_groups for t in session.scalars(
            select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.state == "open"))) if g]
        targets = list(dict.fromkeys(g for t in targets for g in t.split(",") if g)) or _fallback(inst)
        fields = {"subject": inst.title, "unit": inst.handling_group or "",
                  "due_at": clock.parse_datetime(inst.due_at).isoformat() if inst.due_at else None,
                  "comment": comment.strip()}
        written = notices.write(db, session, inst, [{"kind": "manual_urge", "recipients": targets,
                                                     "fields": fields}], now, actor.username)
        session.add(History(instance_id=inst.id, at=now, username=actor.username, action="urge",
                            comment=comment.strip()))
        return {"id": inst.id, "notices": written, "recipients": targets}


def set_listed(db: Database, instance_id: int, listed: bool, comment: str | None, actor: Actor) -> dict[str, Any]:
    """挂牌督办 on/off: the case is marked everywhere it is shown."""
    policy.require_supervisor(actor)
    now = clock.now()
    with db.write() as session:
        inst = _instance(session, instance_id)
        _require_scope(actor, inst)
        if inst.listed == listed:
            return {"id": inst.id, "listed": inst.listed}
        inst.listed = listed
        inst.listed_at = now if listed else None
        session.add(History(instance_id=inst.id, at=now, username=actor.username,
                            action="listed" if listed else "unlisted", comment=comment))
        if listed:
            fields = {"subject": inst.title, "unit": inst.handling_group or "",
                      "due_at": clock.parse_datetime(inst.due_at).isoformat() if inst.due_at else None,
                      "comment": f"：{comment}" if comment else ""}
            targets = [inst.handling_group] if inst.handling_group else _fallback(inst)
            notices.write(db, session, inst, [{"kind": "listed", "recipients": targets, "fields": fields}],
                          now, actor.username)
        else:
            session.add(Supervision(instance_id=inst.id, at=now, kind="unlisted", username=actor.username,
                                    group_key=inst.handling_group,
                                    text=f"撤销挂牌督办：{inst.business_key}" + (f"（{comment}）" if comment else "")))
        return {"id": inst.id, "listed": listed}


def reassign(db: Database, task_id: str, group: Any, user: Any, comment: Any, actor: Actor) -> dict[str, Any]:
    """改派: move an open task to another group or user; a group only among those its procedure
    allows for that step (policy.may_reassign_to), so the picker's limits hold for the API too."""
    policy.require_supervisor(actor)
    now = clock.now()
    with db.write() as session:
        task = session.get(HumanTask, task_id)
        if task is None:
            raise NotFound("任务不存在")
        if task.state != "open":
            raise Conflict("该任务已办理，不能改派")
        inst = _instance(session, task.instance_id)
        _require_scope(actor, inst)
        if group:
            if not isinstance(group, str) or session.get(Group, group) is None:
                raise Invalid("改派对象不存在", [{"field": "group", "message": f"办理组 {group} 不存在"}])
            if not policy.may_reassign_to(inst.process_key, task.bpmn_id, task.candidate_groups, group):
                name = notices.group_names(session).get(group, group)
                raise Invalid("改派对象不适合办理该任务",
                              [{"field": "group", "message": f"“{task.name}”不能改派给{name}"}])
            before = task.candidate_groups
            task.candidate_groups = group
            task.assignee = None
            session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == task.id))
            session.add(TaskCandidate(task_id=task.id, group_key=group, due_sort=task.due_at or NO_DUE_DATE,
                                      created_at=task.created_at))
            target = group
        elif user:
            found = session.scalars(select(User).where(User.username == user)).first() \
                if isinstance(user, str) else None
            if found is None:
                raise Invalid("改派对象不存在", [{"field": "user", "message": f"用户 {user} 不存在"}])
            before = task.assignee or task.candidate_groups
            task.assignee = found.username
            target = f"user:{found.username}"
        else:
            raise Invalid("请选择改派的办理组或办理人", [{"field": "group", "message": "此项为必填项"}])
        text = f"任务“{task.name}”由 {before} 改派给 {target.removeprefix('user:')}"
        session.add(History(instance_id=inst.id, at=now, username=actor.username, action="reassign",
                            task_bpmn_id=task.bpmn_id, task_name=task.name, task_id=task.id,
                            comment=(comment if isinstance(comment, str) and comment else text)))
        session.add(Supervision(instance_id=inst.id, at=now, kind="reassign", username=actor.username,
                                group_key=target, text=text))
        recipient_user = target[5:] if target.startswith("user:") else None
        notice = notices.Notice(kind="reassign", instance_id=inst.id, task_id=task.id, text=text,
                                recipient_user=recipient_user, recipient_group=None if recipient_user else target,
                                created_at=now, created_by=actor.username)
        session.add(notice)
        session.flush()  # the notice's id, for its deliveries to whoever of the new holders opted in
        task_notices.queue_deliveries(db.sql, session, notice.id)
        return {"id": task.id, "candidate_groups": task.candidate_groups.split(","), "assignee": task.assignee}
