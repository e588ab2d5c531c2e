"""签收回执: when the unit a case is handed to (a step the procedure lists in `receipts`) first
signs for its task, that is recorded in the claim's own transaction, with a history row; the
case page and the case JSON show each unit's receipt, or how long it has waited unsigned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, procedure
from service.actors import Actor
from service.store.collaboration_models import TaskReceipt
from service.store.models import Group, History, HumanTask, Instance, User

HISTORY_ACTION = "receipt"


def receipt_steps(process_key: str) -> frozenset[str]:
    declared = procedure.get(process_key)
    return declared.receipts if declared else frozenset()


def _unit(task: HumanTask, actor: Actor) -> str:
    """The candidate group the signer belongs to (the unit that received it)."""
    groups = [g for g in task.candidate_groups.split(",") if g]
    return next((g for g in groups if g in actor.groups), groups[0] if groups else "")


def record(session: Session, task: HumanTask, actor: Actor, now: datetime | None = None) -> bool:
    """Write the receipt of `task` by `actor` if its step asks for one and its unit has none yet
    (a re-claim keeps the first). Runs inside the caller's transaction; True when written."""
    if task.bpmn_id not in receipt_steps(task.process_key):
        return False
    group = _unit(task, actor)
    if not group:
        return False
    found = session.scalar(select(TaskReceipt.id).where(TaskReceipt.task_id == task.id,
                                                        TaskReceipt.group_key == group))
    if found is not None:
        return False
    now = now or clock.now()
    unit = session.get(Group, group)
    session.add(TaskReceipt(task_id=task.id, instance_id=task.instance_id, bpmn_id=task.bpmn_id,
                            group_key=group, received_by=actor.username, received_at=now))
    session.add(History(instance_id=task.instance_id, at=now, username=actor.username, action=HISTORY_ACTION,
                        task_bpmn_id=task.bpmn_id, task_name=task.name, task_id=task.id,
                        comment=f"{unit.name if unit else group}已签收（{actor.name or actor.username}）"))
    return True


def for_case(session: Session, inst: Instance) -> list[dict[str, Any]]:
    """The 交办回执 of a case, in the order the tasks arrived: each unit's receipt, each open task
    of a receipt step not yet signed for (with how long it has waited), each one handled unsigned."""
    steps = receipt_steps(inst.process_key)
    if not steps:
        return []
    tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id,
                                                         HumanTask.bpmn_id.in_(sorted(steps)))
                                 .order_by(HumanTask.created_at)))
    if not tasks:
        return []
    found: dict[tuple[str, str], TaskReceipt] = {
        (r.task_id, r.group_key): r for r in session.scalars(
            select(TaskReceipt).where(TaskReceipt.instance_id == inst.id).order_by(TaskReceipt.id))}
    groups = {g.key: g.name for g in session.scalars(select(Group))}
    people = {r.received_by for r in found.values()}
    names = {u: n for u, n in session.execute(select(User.username, User.name).where(
        User.username.in_(sorted(people))))} if people else {}
    now = clock.now()
    rows: list[dict[str, Any]] = []
    for task in tasks:
        base = {"task_id": task.id, "bpmn_id": task.bpmn_id, "task_name": task.name,
                "assigned_at": clock.iso(task.created_at)}
        signed = [r for (task_id, _g), r in found.items() if task_id == task.id]
        for r in signed:
            rows.append({**base, "status": "received", "group_key": r.group_key,
                         "group_name": groups.get(r.group_key, r.group_key), "received_by": r.received_by,
                         "received_by_name": names.get(r.received_by, r.received_by),
                         "received_at": clock.iso(r.received_at)})
        current = [g for g in task.candidate_groups.split(",") if g]
        if any((task.id, g) in found for g in current):
            continue
        unit = ",".join(current)
        unit_name = "、".join(groups.get(g, g) for g in current)
        if task.state == "open":
            waited = now - clock.parse_datetime(task.created_at)
            rows.append({**base, "status": "pending", "group_key": unit, "group_name": unit_name,
                         "received_by": None, "received_by_name": None, "received_at": None,
                         "waiting_minutes": max(int(waited.total_seconds() // 60), 0)})
        elif task.state == "completed" and not signed:
            rows.append({**base, "status": "handled_unsigned", "group_key": unit, "group_name": unit_name,
                         "received_by": None, "received_by_name": None, "received_at": None,
                         "completed_at": clock.iso(task.completed_at)})
    return rows


def waiting_text(minutes: int) -> str:
    """已等待 2天3小时 / 5小时 / 12分钟: how long a handed-over task has waited unsigned."""
    days, rest = divmod(max(minutes, 0), 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时"
    return f"{mins}分钟"
