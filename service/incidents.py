"""故障案件 (incidents, like Camunda Cockpit's): running cases in trouble, each with its reason in
Chinese — a timer that failed (service/runtime/firing.py stops polling it after FAILURE_LIMIT
failures), an engine failure of a person's step left on the case (service/runtime/incident_log.py),
a task nobody can act on (its groups have no active, unsuspended member and no active assignee
holds it), a case in status `error` — with what the administrator may do about each case: retry,
move it back to a step it already passed (which steps SpiffWorkflow can reopen is decided here),
end it. The repairs themselves are service/incident_repairs.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from service import clock, suspensions
from service.actors import Actor
from service.errors import Forbidden
from service.store.models import Definition, Group, HumanTask, Instance, TaskCandidate, Timer, User, UserGroup

LIMIT = 200  # incidents listed at most, oldest first
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
KIND_LABELS = {"timer_failed": "定时器失败", "engine_error": "脚本出错", "stuck": "无人办理", "error_status": "案件出错"}


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以处理故障案件")


# ----- finding ------------------------------------------------------------------------------------


def _case(inst: Instance, definition: Definition) -> dict[str, Any]:
    return {"instance_id": inst.id, "business_key": inst.business_key, "title": inst.title,
            "process": inst.process_key, "procedure": definition.name, "version": definition.version,
            "status": inst.status}


def _incident(kind: str, inst: Instance, definition: Definition, since: datetime | None, reason: str,
              step: str | None, step_name: str | None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "kind_label": KIND_LABELS[kind], **_case(inst, definition), "step": step,
            "step_name": step_name, "since": clock.iso(since), "reason": reason, **extra}


def _failed_timers(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Timer, Instance, Definition).join(Instance, Instance.id == Timer.instance_id)
        .join(Definition, Definition.id == Instance.definition_id)
        .where(Timer.state == "failed", Instance.status.in_(("running", "error")))
        .order_by(Timer.due_at, Timer.id).limit(LIMIT)).all()
    return [_incident("timer_failed", inst, d, t.due_at,
                      f"定时器“{t.name}”已连续失败 {t.failures} 次，不再自动触发：{t.last_error or '原因不明'}",
                      None, t.name, task_id=t.task_id,
                      timer={"id": t.id, "name": t.name, "failures": t.failures, "last_error": t.last_error,
                             "due_at": clock.iso(t.due_at)})
            for t, inst, d in rows]


def _errors(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Instance, Definition).join(Definition, Definition.id == Instance.definition_id)
        .where(or_(and_(Instance.status == "running", Instance.error.is_not(None)), Instance.status == "error"))
        .order_by(Instance.error_at, Instance.id).limit(LIMIT)).all()
    found = []
    for inst, d in rows:
        if inst.error:
            found.append(_incident("engine_error", inst, d, inst.error_at, inst.error, None, None,
                                   error=inst.error))
        else:
            found.append(_incident("error_status", inst, d, inst.updated_at, "案件处于出错状态", None, None))
    return found


def _stuck(session: Session) -> list[dict[str, Any]]:
    """Open tasks nobody can act on: claimed by no active user, and offered to no group with an
    active member whose membership is not suspended (service/suspensions.py)."""
    staffed = sorted(set(session.scalars(
        select(UserGroup.group_key).join(User, User.id == UserGroup.user_id)
        .where(User.active.is_(True), suspensions.held(User.username, UserGroup.group_key)))))
    active_assignee = exists().where(User.username == HumanTask.assignee, User.active.is_(True))
    reached = exists().where(TaskCandidate.task_id == HumanTask.id, TaskCandidate.group_key.in_(staffed))
    rows = session.execute(
        select(HumanTask, Instance, Definition).join(Instance, Instance.id == HumanTask.instance_id)
        .join(Definition, Definition.id == Instance.definition_id)
        .where(HumanTask.state == "open", Instance.status == "running",
               or_(and_(HumanTask.assignee.is_not(None), ~active_assignee),
                   and_(HumanTask.assignee.is_(None), ~reached)))
        .order_by(HumanTask.created_at, HumanTask.id).limit(LIMIT)).all()
    if not rows:
        return []
    groups = dict(session.execute(select(Group.key, Group.name)).all())
    members = set(session.scalars(select(UserGroup.group_key).distinct()))
    assignees = {t.assignee for t, _i, _d in rows if t.assignee}
    users = dict(session.execute(select(User.username, User.active).where(User.username.in_(assignees))).all())
    return [_incident("stuck", inst, d, t.created_at, _stuck_reason(t, groups, members, users), t.bpmn_id, t.name,
                      task_id=t.id, groups=[g for g in t.candidate_groups.split(",") if g], assignee=t.assignee)
            for t, inst, d in rows]


def _stuck_reason(task: HumanTask, groups: dict[str, str], members: set[str], users: dict[str, bool]) -> str:
    if task.assignee:
        if task.assignee not in users:
            return f"办理人 {task.assignee} 不存在，任务无人办理"
        return f"办理人 {task.assignee} 的账号已停用，任务无人办理"
    keys = [g for g in task.candidate_groups.split(",") if g]
    if not keys:
        return "任务没有办理组，无人办理"

    def said(found: list[str], what: str) -> list[str]:
        named = "、".join(f"{groups[k]}（{k}）" if k in groups else k for k in found)
        return [f"办理组 {named}{'' if named.endswith('）') else ' '}{what}"] if found else []

    parts = said([k for k in keys if k not in groups], "不存在") \
        + said([k for k in keys if k in groups and k not in members], "没有成员") \
        + said([k for k in keys if k in groups and k in members], "的成员均已停权或停用")
    return "，".join(parts) + "，任务无人办理"


def find(runtime: Any, session: Session, actor: Actor, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Every incident, oldest first, each with what the administrator may do about its case: retry
    (a failed timer or a recorded error), the steps it may be moved to, end."""
    require_admin(actor)
    found = sorted(_failed_timers(session) + _errors(session) + _stuck(session),
                   key=lambda i: (i["since"] or "", i["instance_id"]))[:limit]
    retryable = {i["instance_id"] for i in found if i["kind"] != "stuck"}
    loaded: dict[int, tuple[BpmnWorkflow, list[dict[str, Any]]]] = {}
    for incident in found:
        iid = incident["instance_id"]
        if iid not in loaded:
            wf, _model = runtime._load(session, session.get(Instance, iid))  # a fresh copy, never the live one
            loaded[iid] = wf, move_targets(wf)
        wf, targets = loaded[iid]
        if incident["kind"] == "timer_failed":
            task = wf.tasks.get(UUID(incident["task_id"]))
            incident["step"] = task.task_spec.bpmn_id if task is not None else None
        incident["retryable"] = iid in retryable
        incident["move_targets"] = targets
    return found


# ----- where a case may be moved -----------------------------------------------------------------


def move_targets(wf: BpmnWorkflow) -> list[dict[str, Any]]:
    """The user tasks the case may be moved back to: steps it already completed on the path to
    where it stands now (every open task descends from it, no parallel join between: what
    SpiffWorkflow's reset_from_task_id can reopen), latest completion of each, not inside a
    multi-instance activity. Moving forward to a step never reached is not offered: the engine
    has no task for it."""
    return [{"bpmn_id": t.task_spec.bpmn_id, "name": t.task_spec.bpmn_name or t.task_spec.bpmn_id}
            for t in targets_of(wf).values()]


def targets_of(wf: BpmnWorkflow) -> dict[str, Task]:
    live = [t for t in wf.tasks.values() if t.state & LIVE]
    if not live or wf.is_completed():
        return {}
    latest: dict[str, Task] = {}
    for task in sorted(wf.tasks.values(), key=lambda t: t.last_state_change):
        if task.state == TaskState.COMPLETED and task.task_spec.manual and task.task_spec.bpmn_id \
                and not isinstance(task.parent.task_spec, LoopTask):
            latest[task.task_spec.bpmn_id] = task
    return {bpmn_id: task for bpmn_id, task in latest.items() if _reaches_all(task, live)}


def _reaches_all(target: Task, live: list[Task]) -> bool:
    for task in live:
        if target.is_descendant_of(task):
            continue
        if not task.is_descendant_of(target):
            return False
        node = task.parent
        while node is not None and node is not target:
            if isinstance(node.task_spec, UnstructuredJoin) and len(node.task_spec.inputs) > 1:
                return False  # a parallel join between: its other branches are not reopened
            node = node.parent
    return True


def reopen(wf: BpmnWorkflow, target: Task) -> str:
    """Reset the workflow to `target` and give the reopened task a new id (its completed row keeps
    the old one: the case's record of that earlier step stays as it was); returns the new id."""
    removed = wf.reset_from_task_id(target.id)
    for task in removed:  # SpiffWorkflow 3.2 leaves removed catching events registered
        wf.event_manager.remove_task(task)
    old, new = target.id, uuid4()
    wf.tasks.pop(old)
    target.id = new
    wf.tasks[new] = target
    parent = target.parent
    if parent is not None:
        parent._children = [new if c == old else c for c in parent._children]
    for child in target.children:
        child._parent = new
    return str(new)
