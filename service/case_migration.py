"""案件迁移: move a running case to another version of its procedure, with a dry run first.

Built on SpiffWorkflow's diff support: `diff_workflow` aligns the case's tasks with the target's
specs and `migrate_workflow` re-points them, resetting the tasks of its reset mask: a reset
re-predicts the task's branch from the target (a step inserted after it is reached) and keeps its
id, so its human_tasks row and claim survive. The mask is READY, not the default READY | WAITING:
resetting a waiting timer starts it again (a duration counted from now, an overdue one fired inside
the move) and drops what it opened (a cycle timer's open 续报 tasks); waiting and started tasks get
their branch predicted again without a reset. A reset also gives the task its parent's data and
clears its internal data (a multi-instance child's element and index): both are put back. Open
tasks, timers and waits must keep their element (same id) in the target, else 409 naming them;
finished tasks of removed elements leave the tree (their history rows stay). The move is one
guarded step of the case (service.runtime), written in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import WorkflowDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, hash_chain, notices
from service.actors import Actor
from service.engine import ProcessModel, connect_loops, ready_user_tasks, restore_workflow, tasks_in
from service.engine.events import waiting_dues, waiting_timers
from service.engine.serializer import SERIALIZER
from service.errors import Conflict, EngineFailure, Forbidden, GovFlowError, Invalid, NotFound
from service.runtime import NO_DUE_DATE, CaseRef, Step
from service.runtime.step import StaleCase, _history, _json
from service.store import statements as stmt
from service.store.models import Definition, Instance

log = logging.getLogger(__name__)

ACTION = "migrate"
TASK_NAME = "迁移版本"
# The user-task attributes GovFlow reads (service/engine/parser.py), with their Chinese names;
# `lane` is the fallback of candidateGroups.
ATTRIBUTES = {"name": "名称", "candidateGroups": "办理组", "lane": "办理组（泳道）", "assignee": "办理人",
              "formKey": "表单", "dueDate": "办理期限"}
# Which human_tasks columns follow from a changed attribute (the claim is kept: `assignee` is not).
COLUMNS = {"name": ("name",), "candidateGroups": ("candidate_groups",), "lane": ("candidate_groups",),
           "formKey": ("form_key",), "dueDate": ("due_at",)}
# What blocks a move: an open task, a waiting timer, another wait whose element the target lacks.
MISSING = {"task": "目标版本 v{v} 没有“{name}”环节，该待办无法迁移",
           "timer": "目标版本 v{v} 没有定时器“{name}”，该定时器无法迁移",
           "wait": "目标版本 v{v} 没有“{name}”，案件正在此处等待，无法迁移",
           "manual": "目标版本 v{v} 中“{name}”已不是人工办理的环节，该待办无法迁移"}
OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED
STALE_ATTEMPTS = 3


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以迁移案件")


@dataclass
class Target:
    definition_id: int
    version: int
    model: ProcessModel


@dataclass
class Plan:
    """What moving one workflow to the target means: JSON-ready lists, and what the move needs."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[dict[str, Any]] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    retimed: set[UUID] = field(default_factory=set)  # timers whose definition changed: re-predicted
    columns: dict[str, set[str]] = field(default_factory=dict)  # task id → human_tasks columns to update


# ----- reading --------------------------------------------------------------------------------


def resolve(session: Session, instance_id: int, version: Any) -> tuple[Instance, int, Definition]:
    """The case, its version and the target definition, or the refusal (409, 404, 422)."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Invalid("目标版本不正确", [{"field": "version", "message": "请填写目标版本号（正整数）"}])
    inst = session.get(Instance, instance_id)
    if inst is None:
        raise NotFound("案件不存在")
    if inst.status != "running":
        raise Conflict("只有在办案件可以迁移")
    source = session.get(Definition, inst.definition_id)
    assert source is not None
    target = session.scalars(select(Definition).where(Definition.key == inst.process_key,
                                                      Definition.version == version)).first()
    if target is None:
        raise NotFound("流程版本不存在", [{"field": "version", "message": f"{inst.process_key} 没有 v{version}"}])
    if target.id == inst.definition_id:
        raise Invalid(f"案件已在 v{version} 上", [{"field": "version", "message": "目标版本与当前版本相同"}])
    return inst, source.version, target


def _target(runtime: Any, session: Session, definition: Definition) -> Target:
    return Target(definition.id, definition.version, runtime.models.by_id(session, definition.id))


def _named(task: Task) -> dict[str, Any]:
    spec = task.task_spec
    return {"task_id": str(task.id), "bpmn_id": spec.bpmn_id or spec.name, "name": spec.bpmn_name or spec.bpmn_id}


def _diffs(wf: BpmnWorkflow, target: Target) -> tuple[WorkflowDiff, dict[UUID, WorkflowDiff | None]]:
    return diff_workflow(SERIALIZER.registry, wf, target.model.spec, target.model.subprocess_specs)  # type: ignore[no-any-return]


def plan(wf: BpmnWorkflow, target: Target) -> Plan:
    """The dry run of one workflow: open user tasks and waiting timers kept (with the attributes of
    their element the target changes), what blocks the move, the user tasks the target adds."""
    top, subs = _diffs(wf, target)
    diffs = {id(wf): top, **{id(sub): subs.get(sp_id) for sp_id, sub in wf.subprocesses.items()}}  # per (sub)workflow
    found = Plan()
    timers = {UUID(task_id): item for task_id, item in waiting_timers(wf).items()}
    users = {UUID(task_id): task for task_id, task in ready_user_tasks(wf).items()}
    # other waits (a message, a join, a multi-instance parent); the engine's own specs have no BPMN id
    others = [t for t in tasks_in(wf, OPEN) if t.id not in timers and t.id not in users and t.task_spec.bpmn_id]
    for task in [*users.values(), *(item[0] for item in timers.values()), *others]:
        diff = diffs.get(id(task.workflow))
        new = diff.alignment.get(task) if diff is not None else None
        kind = "task" if task.id in users else "timer" if task.id in timers else "wait"
        named = _named(task)
        if new is None or new.name != task.task_spec.name or (kind == "task" and not new.manual):
            reason = "manual" if new is not None and new.name == task.task_spec.name else kind
            found.blocked.append({**named, "message": MISSING[reason].format(v=target.version, name=named["name"])})
            continue
        if kind != "wait":
            found.kept.append({**named, "kind": kind})
        changed = _changed_attributes(task.task_spec, new, kind)
        if changed:
            found.changes.append({**named, "kind": kind, "changes": changed})
            if kind == "timer":
                found.retimed.add(task.id)
            elif kind == "task":
                found.columns[str(task.id)] = {c for a in changed for c in COLUMNS.get(a["attribute"], ())}
    found.blocked = _without_own_timers(found.blocked, users, timers)
    found.added = [{"bpmn_id": s.bpmn_id, "name": s.bpmn_name or s.bpmn_id} for s in target.model.spec.task_specs.values()
                   if s.manual and s.name not in wf.spec.task_specs]
    return found


def _without_own_timers(blocked: list[dict[str, Any]], users: dict[UUID, Task],
                        timers: dict[UUID, Any]) -> list[dict[str, Any]]:
    """A boundary timer of a blocked task goes with it (they share the boundary split): only the
    task is named."""
    splits = {users[UUID(b["task_id"])].parent.id for b in blocked if UUID(b["task_id"]) in users}
    return [b for b in blocked if UUID(b["task_id"]) not in timers or timers[UUID(b["task_id"])][0].parent.id
            not in splits]


def _changed_attributes(old: Any, new: Any, kind: str) -> list[dict[str, Any]]:
    if kind == "timer":
        before, after = old.event_definition, new.event_definition
        if SERIALIZER.registry.convert(before) == SERIALIZER.registry.convert(after):
            return []
        return [{"attribute": "timer", "label": "定时表达式", "before": getattr(before, "expression", None),
                 "after": getattr(after, "expression", None)}]
    if kind != "task":
        return []
    a, b = {**(old.extensions or {}), "name": old.bpmn_name}, {**(new.extensions or {}), "name": new.bpmn_name}
    return [{"attribute": key, "label": label, "before": a.get(key), "after": b.get(key)}
            for key, label in ATTRIBUTES.items() if a.get(key) != b.get(key)]


# ----- moving the workflow ---------------------------------------------------------------------


def move(wf: BpmnWorkflow, target: Target, found: Plan) -> None:
    """Re-point `wf` at the target's specs (see the module docstring); raises EngineFailure."""
    try:
        top, subs = _diffs(wf, target)
        ready = {t.id: (t, t.state, dict(t.data), dict(t.internal_data)) for t in tasks_in(wf, TaskState.READY)}
        migrate_workflow(top, wf, target.model.spec, reset_mask=TaskState.READY)
        for sp_id, sub in list(wf.subprocesses.items()):
            sp_diff = subs.get(sp_id)
            if sp_diff is not None:
                migrate_workflow(sp_diff, sub, target.model.subprocess_specs[sub.spec.name], reset_mask=TaskState.READY)
        wf.subprocess_specs = target.model.subprocess_specs
        for task_id, (task, state, data, internal) in ready.items():
            if task_id in task.workflow.tasks:
                task.data, task.internal_data = data, internal
                if task.state != state:
                    task._set_state(state)
        for task in tasks_in(wf, TaskState.WAITING | TaskState.STARTED):
            _repredict(task)
            if task.id in found.retimed:
                _retime(task)
        for workflow in [wf, *wf.subprocesses.values()]:
            _prune(workflow)
        connect_loops(target.model)  # children made on the source specs merge into the target's
        if wf.last_task is not None and wf.last_task.id not in wf.tasks:
            wf.last_task = None
    except GovFlowError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine and the diagram's expressions may raise anything
        log.exception("migration of a workflow failed")
        raise EngineFailure(f"迁移失败，未做任何更改：{exc}") from exc


def _repredict(task: Task) -> None:
    """What the reset does for a ready task's branch, for a waiting or started one that must not
    be reset: its predicted continuation dropped and predicted again from the target (the tasks a
    cycle timer's ticks opened, a multi-instance activity's children stay)."""
    for child in list(task.children):
        if not child.triggered and child.state & (TaskState.PREDICTED_MASK | TaskState.FUTURE):
            task.workflow._remove_task(child.id)
    task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE | task.state)


def _retime(task: Task) -> None:
    """A waiting timer whose definition the target changed: its moment evaluated again, now, by
    the target's definition (without firing it: an overdue one fires at the scheduler's next poll,
    recorded as every timer is)."""
    task.internal_data.pop("event_value", None)
    task.internal_data.pop("event_fired", None)
    definition = task.task_spec.event_definition
    if isinstance(definition, CycleTimerEventDefinition):
        cycles, first, every = TimerEventDefinition.parse_iso_recurring_interval(
            task.workflow.script_engine.evaluate(task, definition.expression))
        task.internal_data["event_value"] = {"cycles": cycles, "next": first.isoformat(), "duration": every.total_seconds()}
    elif isinstance(definition, TimerEventDefinition):
        definition.has_fired(task)  # records the moment (event_value), as the engine does when it first waits


def _prune(workflow: Any) -> None:
    """Tasks whose element the target lacks: finished ones are spliced out of the tree (their
    children go to their parent), predicted ones dropped; an open one would have blocked."""
    specs = workflow.spec.task_specs
    for task in list(workflow.tasks.values()):
        same_name = specs.get(task.task_spec.name)
        if task.id not in workflow.tasks or same_name is task.task_spec:
            continue
        if same_name is not None:  # e.g. the tree's root, which the diff does not walk to
            task.task_spec = same_name
        elif task.state & TaskState.FINISHED_MASK:
            parent = task.parent
            at = parent._children.index(task.id)
            parent._children[at:at + 1] = list(task._children)
            for child in task.children:
                child._parent = parent.id
            del workflow.tasks[task.id]
        elif task.state & (TaskState.PREDICTED_MASK | TaskState.FUTURE):
            workflow._remove_task(task.id)
        else:
            raise EngineFailure(f"目标版本没有“{task.task_spec.bpmn_name or task.task_spec.name}”，无法迁移")


# ----- the service: dry run and real run ----------------------------------------------------------


def dry_run(runtime: Any, instance_id: int, version: Any, actor: Actor) -> dict[str, Any]:
    """POST …/migrate with dry_run: what the move would change and what blocks it; nothing written."""
    require_admin(actor)
    with runtime.db.read() as session:
        inst, source, definition = resolve(session, instance_id, version)
        target = _target(runtime, session, definition)
        wf, _model = runtime._load(session, inst)  # a fresh copy, never the live one
    return {"id": inst.id, "version": target.version, "from_version": source, "dry_run": True,
            **_simulated(wf, target)}


def _simulated(wf: BpmnWorkflow, target: Target) -> dict[str, Any]:
    """The plan, and the move run on this copy: a failing move blocks, moved timers are changes."""
    found = plan(wf, target)
    result = {"kept": found.kept, "changes": found.changes, "blocked": found.blocked, "added": found.added}
    dues = waiting_dues(wf)
    try:
        if not found.blocked:
            move(wf, target, found)
    except EngineFailure as exc:
        found.blocked.append({"task_id": None, "bpmn_id": None, "name": None, "message": exc.message})
    after = waiting_dues(wf) if not found.blocked else {}
    for kept in found.kept:
        was, will = dues.get(kept["task_id"]), after.get(kept["task_id"])
        if was is None or will is None or was[0] == will[0]:
            continue
        entry = next((c for c in found.changes if c["task_id"] == kept["task_id"]), None)
        if entry is None:
            found.changes.append(entry := {**kept, "changes": []})
        entry["changes"].append({"attribute": "due_at", "label": "到期时间", "before": clock.iso(was[0]),
                                 "after": clock.iso(will[0])})
    return result


def migrate(runtime: Any, instance_id: int, version: Any, actor: Actor) -> dict[str, Any]:
    """Move the case to `version` in one guarded step; 409 (nothing written) if something blocks.
    A case another step moved on meanwhile is read again and planned anew."""
    require_admin(actor)
    for _attempt in range(STALE_ATTEMPTS - 1):
        try:
            return _migrate_once(runtime, instance_id, version, actor)
        except StaleCase:
            continue
    return _migrate_once(runtime, instance_id, version, actor)


def _migrate_once(runtime: Any, instance_id: int, version: Any, actor: Actor) -> dict[str, Any]:
    with runtime.db.read() as session:
        _inst, source, definition = resolve(session, instance_id, version)
        target = _target(runtime, session, definition)
    now = clock.now()
    found = Plan()

    def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
        nonlocal found
        if case.status != "running" or case.definition_id == target.definition_id:
            raise Conflict("只有在办案件可以迁移" if case.status != "running" else f"案件已在 v{target.version} 上")
        found = plan(wf, target)
        if found.blocked:
            raise Conflict(f"案件有 {len(found.blocked)} 项在目标版本 v{target.version} 中不存在，不能迁移，未做任何更改",
                           found.blocked)
        rows_before = runtime._before(case.process_key, wf)
        move(wf, target, found)
        case.definition_id = target.definition_id
        step = runtime._step(case, wf, now, rows_before)
        try:
            restore_workflow(orjson.loads(step.state), target.model)  # the stored state must load on the target
        except Exception as exc:  # noqa: BLE001
            raise EngineFailure(f"迁移后的状态无法在 v{target.version} 上恢复，未做任何更改：{exc}") from exc
        step.activity = False  # an administrator's correction, not progress of the case
        runtime._finish(step, actor.username, ACTION, task_name=TASK_NAME,
                        comment=f"由 v{source} 迁移到 v{target.version}",
                        data_before=_json({"version": source}), data_after=_json({"version": target.version}))
        return step, [], {"id": case.id, "version": target.version}, actor.username

    def write(tx: Any, step: Step) -> None:
        runtime.sql.run(tx, "UPDATE instances SET definition_id = :d WHERE id = :id",
                        {"d": target.definition_id, "id": step.case.id})
        _reproject(runtime, tx, step, found, actor)

    return runtime._command(instance_id, now, prepare, write)  # type: ignore[no-any-return]


def _reproject(runtime: Any, tx: Any, step: Step, found: Plan, actor: Actor) -> None:
    """Open tasks whose element changed get the target's values: name, candidate groups (their
    task_candidates rows too; a claim held by someone outside the new groups is released, and
    the new groups are told of the task), form, due date."""
    sql, at = runtime.sql, runtime.sql.when(step.now)
    for task_id, columns in found.columns.items():
        row = sql.rows(tx, "SELECT candidate_groups, assignee, bpmn_id, due_at FROM human_tasks WHERE id = :id "
                           "AND state = 'open'", {"id": task_id}) if columns and task_id in step.ready else []
        if not row:
            continue
        (old_groups, assignee, bpmn_id, due_at), meta = row[0], step.ready[task_id]
        values = {"id": task_id, "name": meta["name"], "form_key": meta["form_key"],
                  "due_at": sql.when(meta["due_at"]), "candidate_groups": ",".join(meta["candidate_groups"])}
        sets = ", ".join(f"{c} = :{c}" for c in sorted(columns))
        sql.run(tx, f"UPDATE human_tasks SET {sets} WHERE id = :id AND state = 'open'", values)
        # the inbox's sort key: the task's due date, the new one if it changed
        due_sort = sql.when(meta["due_at"] or NO_DUE_DATE) if "due_at" in columns else due_at or sql.when(NO_DUE_DATE)
        if "candidate_groups" not in columns:
            sql.run(tx, "UPDATE task_candidates SET due_sort = :d WHERE task_id = :id", {"d": due_sort, "id": task_id})
            continue
        groups = [g for g in dict.fromkeys(meta["candidate_groups"]) if g]
        sql.run(tx, "DELETE FROM task_candidates WHERE task_id = :id", {"id": task_id})
        sql.many(tx, stmt.NEW_CANDIDATE, [{"task_id": task_id, "group_key": g, "due_sort": due_sort, "now": at}
                                          for g in groups])
        if assignee and not _member(sql, tx, assignee, groups):
            sql.run(tx, "UPDATE human_tasks SET assignee = NULL WHERE id = :id", {"id": task_id})
            hash_chain.write_history(sql, tx, [_history(step.case.id, step.now, actor.username, "unclaim",
                                                        task_bpmn_id=bpmn_id, task_name=meta["name"], task_id=task_id,
                                                        comment=f"迁移后办理组变更，{assignee} 的签收已退回")])
        told = [g for g in groups if g not in old_groups.split(",")]
        if told:
            notices.write_opened(runtime.db, tx, step, [{"id": task_id, "bpmn_id": bpmn_id, "name": meta["name"],
                                                          "candidate_groups": told, "assignee": None}])


def _member(sql: Any, tx: Any, username: str, groups: list[str]) -> bool:
    if not groups:
        return False
    marks, params = sql.in_list("g", groups)
    return bool(sql.rows(tx, "SELECT 1 FROM user_groups ug JOIN users u ON u.id = ug.user_id "
                             f"WHERE u.username = :u AND ug.group_key IN ({marks})", {**params, "u": username}))
