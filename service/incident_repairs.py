"""The administrator's repairs of a case in trouble (service/incidents.py finds them): retry,
move it back to a step it already passed, end it with a reason. Each is one guarded step of the
case through the runtime's own machinery (`_command`: the case read at a version, the engine run
outside the transaction, the save matching that version only — 409 on a concurrent step,
nothing written), recorded in its history in the same transaction; a repair that is not
possible is a typed error with a Chinese message, and nothing is changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from service import clock
from service.actors import Actor
from service.engine import ready_user_tasks, tasks_in
from service.errors import Conflict, EngineFailure, Invalid, NotFound
from service.incidents import LIVE, reopen, require_admin, targets_of
from service.runtime import CaseRef, Step, instance_data
from service.runtime.closed_tasks import ACTION as CLOSED
from service.runtime.commands import _retrying
from service.runtime.step import _check_keys, _history, _json
from service.store.models import Instance, Timer

MAX_REASON = 500
LEASE = timedelta(seconds=60)  # a revived timer fired at once: its row's lease, as the poll's


class RepairRefused(Conflict):
    """The repair cannot be done on the case as it is (nothing to retry, the script still fails)."""

    code = "repair_refused"


def _reason(body: dict[str, Any], what: str) -> str:
    raw = body.get("reason")
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason:
        raise Invalid(f"请填写{what}理由", [{"field": "reason", "message": f"{what}理由为必填项"}])
    if len(reason) > MAX_REASON:
        raise Invalid(f"{what}理由不能超过 {MAX_REASON} 字", [{"field": "reason", "message": f"不能超过 {MAX_REASON} 字"}])
    return reason


def _corrections(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid("更正数据必须是 JSON 对象", [{"field": "data", "message": "应为对象，如 {\"字段\": 值}"}])
    _check_keys(data)
    return data


def _running(case: CaseRef, what: str) -> None:
    if case.status not in ("running", "error"):
        raise Conflict(f"案件已{'终止' if case.status == 'terminated' else '办结'}，不能再{what}")


def _run(runtime: Any, wf: BpmnWorkflow, what: str) -> list[dict[str, Any]]:
    try:
        return runtime._run(wf, lambda: None)  # type: ignore[no-any-return]
    except EngineFailure as exc:
        raise RepairRefused(f"{what}失败，{exc.message}") from exc


def _open_tasks(wf: BpmnWorkflow) -> dict[str, tuple[str, str]]:
    return {tid: (t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id)
            for tid, t in ready_user_tasks(wf).items()}


def _closing(step: Step, open_before: dict[str, tuple[str, str]], username: str, cause: str) -> list[str]:
    """The open tasks this repair closes: taken from the engine's own closing (which names no
    cause), each with a history row naming the repair; their rows are marked by `_cancel_rows`."""
    gone = [tid for tid in open_before if tid not in step.ready]
    for task_id in gone:
        step.before.ready.discard(task_id)
        step.closed.append(task_id)
        bpmn_id, name = open_before[task_id]
        step.history.append(_history(step.case.id, step.now, username, CLOSED, task_bpmn_id=bpmn_id,
                                     task_name=name, task_id=task_id, comment=f"{cause}，{name}任务关闭"))
    return gone


def _cancel_rows(runtime: Any, tx: Any, step: Step, gone: list[str]) -> None:
    if gone:
        marks, params = runtime.sql.in_list("t", gone)
        runtime.sql.run(tx, f"UPDATE human_tasks SET state = 'cancelled', completed_at = :now WHERE id IN ({marks}) "
                            "AND state = 'open'", {**params, "now": runtime.sql.when(step.now)})


def retry(runtime: Any, actor: Actor, instance_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Retry the case: its failed timers back to waiting (failures 0) and fired at once, in a
    transaction of their own after the retry's (a conflict with a step of the case: the next
    poll fires them); its recorded error cleared and its engine steps run again. `data`
    (optional) corrects what the failing script reads, on the case's live tasks, before."""
    require_admin(actor)
    data = _corrections(body)
    result = _retrying(lambda: _retry_once(runtime, actor, instance_id, data))
    result["timers"] = [_fire_now(runtime, timer_id) for timer_id in result.pop("revived")]
    with runtime.db.read() as session:
        result["status"] = session.get(Instance, instance_id).status  # type: ignore[union-attr]
    return result


def _retry_once(runtime: Any, actor: Actor, instance_id: int, data: dict[str, Any]) -> dict[str, Any]:
    with runtime.db.read() as session:
        inst = session.get(Instance, instance_id)
        if inst is None:
            raise NotFound("案件不存在")
        failed = session.execute(select(Timer.id, Timer.task_id, Timer.name, Timer.failures).where(
            Timer.instance_id == instance_id, Timer.state == "failed").order_by(Timer.id)).all()
        error, status = inst.error, inst.status
    if not failed and not error and status != "error":
        raise RepairRefused("该案件没有可重试的故障（无人办理的任务请为其办理组添加成员，或将案件移至其他步骤）")
    now, revived = clock.now(), []

    def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
        _running(case, "重试")
        shown = instance_data(wf)
        _correct(wf, data)
        rows_before = runtime._before(case.process_key, wf)
        # a failed timer is fired after this step by the timers' own path (its `timer` history
        # row, its row marked fired): the engine run here would fire it as a side effect
        outbox = [] if failed else _run(runtime, wf, "重试")
        step = runtime._step(case, wf, now, rows_before)
        step.activity = False  # an administrator's repair, not progress of the case
        parts = [f"定时器“{t.name}”（已失败 {t.failures} 次）重新触发" for t in failed]
        parts += [f"清除错误记录（{error}）"] if error else []
        parts += ["更正数据 " + "、".join(data)] if data else []
        runtime._finish(step, actor.username, "retry", task_name="、".join(t.name for t in failed) or None,
                        comment="管理员重试：" + "；".join(parts or ["重新执行流程"]),
                        data_before=_json({k: shown.get(k) for k in data}) if data else None,
                        data_after=_json(data) if data else None)
        return step, outbox, lambda c: {"id": c.id, "revived": revived}, actor.username

    def write(tx: Any, step: Step) -> None:
        sql = runtime.sql
        sql.run(tx, "UPDATE instances SET error = NULL, error_at = NULL WHERE id = :id", {"id": step.case.id})
        for timer in failed:
            waiting = timer.task_id in step.timers  # else the engine no longer waits for it
            sql.run(tx, "UPDATE timers SET state = :state, failures = 0, last_error = NULL "
                        "WHERE id = :id AND state = 'failed'", {"id": timer.id, "state": "waiting" if waiting else "cancelled"})
            if waiting:
                revived.append(timer.id)

    return runtime._command(instance_id, now, prepare, write)  # type: ignore[no-any-return]


def _correct(wf: BpmnWorkflow, data: dict[str, Any]) -> None:
    """The corrected values on the live tasks, and on every task carrying the key: a waiting task
    re-inherits its parent's data when refreshed (as in service/runtime/recompute.py)."""
    live = {t.id for t in tasks_in(wf, LIVE)}
    for task in tasks_in(wf, TaskState.ANY_MASK):
        task.data.update(data if task.id in live else {k: v for k, v in data.items() if k in task.data})


def _fire_now(runtime: Any, timer_id: int) -> dict[str, Any]:
    try:
        runtime._fire_batch(1, LEASE, timer_id)
    except Conflict:
        pass  # the case stepped meanwhile: the timer waits, the next poll fires it
    with runtime.db.read() as session:
        t = session.get(Timer, timer_id)
        return {"id": t.id, "name": t.name, "state": t.state, "failures": t.failures,  # type: ignore[union-attr]
                "last_error": t.last_error}  # type: ignore[union-attr]


def move(runtime: Any, actor: Actor, instance_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Move the case back to a step it already passed (move_targets): its open tasks are closed
    (recorded), the step is opened again to its group, history `move` with the reason."""
    require_admin(actor)
    bpmn_id = body.get("step")
    if not isinstance(bpmn_id, str) or not bpmn_id.strip():
        raise Invalid("请选择要移至的步骤", [{"field": "step", "message": "请选择步骤"}])
    reason = _reason(body, "移动")
    return _retrying(lambda: _move_once(runtime, actor, instance_id, bpmn_id.strip(), reason))


def _move_once(runtime: Any, actor: Actor, instance_id: int, bpmn_id: str, reason: str) -> dict[str, Any]:
    now, gone = clock.now(), []

    def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
        _running(case, "移动")
        found = targets_of(wf)
        target = found.get(bpmn_id)
        if target is None:
            choices = "、".join(t.task_spec.bpmn_name or b for b, t in found.items()) or "无"
            raise Invalid(f"不能移至步骤 {bpmn_id}：只能移回本案件已办理过、在当前步骤之前的步骤（可选：{choices}）",
                          [{"field": "step", "message": f"可选：{choices}"}])
        name = target.task_spec.bpmn_name or bpmn_id
        open_before = _open_tasks(wf)
        rows_before = runtime._before(case.process_key, wf)
        new_id = reopen(wf, target)
        outbox = _run(runtime, wf, f"移至“{name}”")
        step = runtime._step(case, wf, now, rows_before)
        if new_id not in step.ready:
            raise RepairRefused(f"移至“{name}”后该步骤未能打开，未做任何更改")
        step.activity = False
        runtime._finish(step, actor.username, "move", task_bpmn_id=bpmn_id, task_name=name, task_id=new_id,
                        comment=f"移至“{name}”：{reason}", data_after=_json({"step": bpmn_id}),
                        data_before=_json({"open_tasks": [n for _b, n in open_before.values()]}))
        gone[:] = _closing(step, open_before, actor.username, f"移至“{name}”")
        moved = {"step": bpmn_id, "step_name": name, "task_id": new_id}
        return step, outbox, lambda c: {"id": c.id, "status": c.status, **moved}, actor.username

    return runtime._command(instance_id, now, prepare,  # type: ignore[no-any-return]
                            lambda tx, step: _cancel_rows(runtime, tx, step, gone))


def end(runtime: Any, actor: Actor, instance_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """End the case with a reason: status `terminated`, its open tasks closed (recorded), its
    timers cancelled (the engine's workflow is cancelled), history `terminate`."""
    require_admin(actor)
    reason = _reason(body, "终止")
    return _retrying(lambda: _end_once(runtime, actor, instance_id, reason))


def _end_once(runtime: Any, actor: Actor, instance_id: int, reason: str) -> dict[str, Any]:
    now, gone = clock.now(), []

    def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
        _running(case, "终止")
        open_before = _open_tasks(wf)
        values = runtime._instance_values(case.process_key, wf, now)  # its columns as it stood
        shown = instance_data(wf)
        rows_before = runtime._before(case.process_key, wf)
        wf.cancel()
        # a finished workflow's data is its own and its last task's: the data where it stood
        wf.data, wf.last_task = {**wf.data, **shown}, None
        step = runtime._step(case, wf, now, rows_before)
        step.values = {**values, "status": "terminated", "completed_at": now}
        step.activity = False
        runtime._finish(step, actor.username, "terminate", comment=reason)
        gone[:] = _closing(step, open_before, actor.username, "案件终止")
        return step, [], lambda c: {"id": c.id, "status": c.status}, actor.username

    return runtime._command(instance_id, now, prepare,  # type: ignore[no-any-return]
                            lambda tx, step: _cancel_rows(runtime, tx, step, gone))
