"""The commands on cases: start (登记), complete, claim/unclaim, messages. Each one reads what it
needs, runs the engine outside the write transaction, then saves in one transaction."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import clock, hash_chain, notices, policy, procedure, readmodels, receipts, schedule, search_keys
from service.actors import SYSTEM, Actor
from service.engine import (
    SERIALIZER_VERSION,
    new_workflow,
    tasks_in,
)
from service.engine.events import waits_for_message
from service.engine.taskdata import collect_output
from service.errors import Conflict, DuplicatePeriod, EngineFailure, Forbidden, Invalid, NotFound
from service.links import MAX_DEPTH
from service.runtime.derive import START, derive_keys
from service.runtime.incident_log import failure_recorded
from service.runtime.step import Before, CaseRef, StaleCase, StepMachinery, _check_keys, _json
from service.store import statements as stmt
from service.store.db import RawTx
from service.store.models import History, HumanTask

log = logging.getLogger(__name__)
T = TypeVar("T")


class Commands(StepMachinery):
    def start(self, process_key: str, data: Any, actor: Actor,
              idempotency_key: str | None = None,
              then: Callable[[RawTx, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Start an instance (登记): validate, number, run to the first wait, save. With an
        `idempotency_key` (a round's process + period) a second start of it is refused (409
        duplicate_period), however many nodes try at once: the key is a unique column. `then`
        writes what belongs to the new case (its attachments) in the same transaction."""
        if not isinstance(data, dict):
            raise Invalid("启动数据必须是 JSON 对象", [{"field": "", "message": "应为对象"}])
        if idempotency_key is None:
            idempotency_key = schedule.period_key(procedure.get(process_key), data)
        now = clock.now()
        try:
            with self.db.raw(begin=False) as session:
                if idempotency_key is not None:
                    self._refuse_duplicate(session, idempotency_key)
                prepared = self._prepare_start(session, process_key, data, actor.groups)
                session.begin()
                result, case, wf = self._start_in(session, prepared, actor, now, idempotency_key, depth=0)
                if then is not None:
                    then(session, result)
        except IntegrityError as exc:
            if idempotency_key is not None and "idempotency" in str(exc.orig or exc):
                raise DuplicatePeriod("该周期的案件已经发起，不能重复发起", [{"field": "period",
                                                                     "message": idempotency_key}]) from exc
            raise
        self.live.put(case.id, case.version, case.business_key, wf)
        return result

    def _refuse_duplicate(self, session: RawTx, idempotency_key: str) -> None:
        found = self.sql.rows(session, stmt.CASE_BY_IDEMPOTENCY_KEY, {"key": idempotency_key})
        if found:
            raise DuplicatePeriod(f"该周期的案件已经发起（{found[0][1]}），不能重复发起",
                                  [{"field": "period", "message": idempotency_key, "id": found[0][0]}])

    def _prepare_start(self, session: RawTx, process_key: str, data: dict[str, Any],
                       actor_groups: frozenset[str]) -> tuple[Any, ...]:
        """The definition to start and the validated data with the keys the procedure derives from
        the starting user's groups (read before the write lock is taken)."""
        found = self.sql.rows(session, stmt.LATEST_DEFINITION, {"key": process_key})
        if not found:
            raise NotFound(f"流程 {process_key} 未部署")
        definition_id = int(found[0][0])
        model = self._model(definition_id)
        valid = self._validate(model.start_form_key, data, "start", process_key, {}, definition_id)
        return process_key, definition_id, model, derive_keys(process_key, START, valid, {}, actor_groups)

    def _start_in(self, session: RawTx, prepared: tuple[Any, ...], actor: Actor, now: datetime,
                  idempotency_key: str | None, depth: int) -> tuple[dict[str, Any], CaseRef, BpmnWorkflow]:
        """The start's writes, inside the caller's transaction (a linked start runs in the step
        that asked for it)."""
        process_key, definition_id, model, data = prepared
        sql = self.sql
        # The number is taken inside the transaction that stores the case: gap-free.
        business_key = self._next_business_key(session, process_key, now, data)
        data = {**data, "business_key": business_key}
        match_hash, duplicate_of = self._duplicate(session, process_key, data)
        if duplicate_of is not None:
            data["duplicate_of"] = duplicate_of[1]
        wf = new_workflow(model)
        for task in tasks_in(wf, TaskState.READY):
            task.data.update(data)
        outbox = self._run(wf, lambda: None)
        case = CaseRef(0, 1, definition_id, process_key, business_key, "running")
        step = self._step(case, wf, now, Before())
        values = step.values
        case.id = int(sql.rows(session, stmt.NEW_CASE, {
            "definition_id": definition_id, "process_key": process_key, "business_key": business_key,
            "title": values["title"], "status": values["status"], "now": sql.when(now), "user": actor.username,
            "completed_at": sql.when(values["completed_at"]), "due_at": sql.when(values["due_at"]),
            "handling_group": values["handling_group"], "listed": False, "serializer": SERIALIZER_VERSION,
            "idempotency_key": idempotency_key, "match_hash": match_hash, "drill": data.get("drill") is True,
        })[0][0])
        case.status = values["status"]
        self._finish(step, actor.username, "start", task_name="登记", data_after=_json(data))
        with sql.batch(session):
            sql.run(session, stmt.NEW_STATE, {"id": case.id, "state": step.state})
            open_tasks = self._project(session, step)
            hash_chain.write_history(sql, session, step.history, {case.id: hash_chain.EMPTY})  # a new chain
            if duplicate_of is not None:
                sql.run(session, stmt.NEW_LINK, {"from_id": case.id, "to_id": duplicate_of[0],
                                                 "relation": "duplicate", "now": sql.when(now)})
        readmodels.write_step(sql, session, case, step.history, now)
        self._effects(session, case, outbox, now, actor.username, depth=depth)
        result = {"id": case.id, "business_key": business_key, "status": case.status, "open_tasks": open_tasks}
        return result, case, wf

    def _duplicate(self, session: RawTx, process_key: str, data: dict[str, Any]) -> tuple[str | None, Any]:
        """(match hash of the procedure's duplicate key, the running case it matches or None)."""
        declared = procedure.get(process_key)
        value = data.get(declared.duplicate_key) if declared and declared.duplicate_key else None
        if not isinstance(value, str) or not value.strip():
            return None, None
        # keyed (an unkeyed hash of an ID number is the number: its space is small enough to try);
        # a case registered before that still carries the unkeyed one until `govflow rotate-key`
        digest = search_keys.match_digest(process_key, value)
        legacy = hashlib.sha256(f"{process_key}:{value.strip().upper()}".encode()).hexdigest()
        found = self.sql.rows(session, stmt.RUNNING_MATCH, {"process": process_key, "hash": digest, "legacy": legacy})
        return digest, (found[0] if found else None)

    def _effects(self, session: RawTx | Session, case: CaseRef, outbox: Any, now: datetime, by: str | None,
                 task_id: str | None = None, depth: int = 0, recorded: list[dict[str, Any]] | None = None) -> None:
        """What the step's scripts queued, written in its transaction: notices (each one sent
        appended to `recorded` when given), linked starts."""
        notices.write(self.db, session, case, outbox, now, by, task_id, recorded)
        for item in getattr(outbox, "starts", ()):
            if depth >= MAX_DEPTH:
                raise EngineFailure("关联案件层层发起超过上限，未做任何更改")
            target = item["process"]
            if not self.sql.rows(session, stmt.LATEST_DEFINITION, {"key": target}):
                raise Invalid(f"关联流程“{target}”尚未部署，无法发起关联案件，未做任何更改",
                              [{"field": "", "message": f"请先部署流程 {target}"}])
            data = {**item["data"], item["id_key"]: case.id} if item.get("id_key") else item["data"]
            prepared = self._prepare_start(session, target, data, SYSTEM.groups)  # type: ignore[arg-type]
            _result, linked, _wf = self._start_in(session, prepared, SYSTEM, now, None, depth + 1)  # type: ignore[arg-type]
            self.sql.run(session, stmt.NEW_LINK, {"from_id": case.id, "to_id": linked.id,
                                                  "relation": item["relation"], "now": self.sql.when(now)})

    def _next_business_key(self, session: Session | RawTx, process_key: str, now: datetime,
                           data: dict[str, Any] | None = None) -> str:
        declared = procedure.get(process_key)
        prefix = declared.numbering.prefix if declared else process_key.upper()[:8]
        digits = declared.numbering.digits if declared else 6
        period = data.get("period") if declared and declared.numbering.by_period and data else None
        period_number = schedule.period_number(prefix, period)
        if period_number is not None:
            # A round is numbered by its period (PC-2026-12). Counting that number in this
            # transaction makes a second start of the period wait here for the first one and then
            # fail as duplicate_period; without it, two nodes racing would end on the number's
            # unique constraint (an IntegrityError) before reaching the idempotency key's.
            if int(self.sql.rows(session, stmt.NEXT_NUMBER, {"name": period_number})[0][0]) > 1:
                raise DuplicatePeriod(f"该周期的案件已经发起（{period_number}），不能重复发起",
                                      [{"field": "period", "message": str(period)}])
            return period_number
        name = f"{prefix}-{now.year}"
        value = self.sql.rows(session, stmt.NEXT_NUMBER, {"name": name})[0][0]
        return f"{name}-{int(value):0{digits}d}"

    def complete(self, task_id: str, data: Any, actor: Actor) -> dict[str, Any]:
        """Complete a human task as `actor`: 404 unknown, 403 not theirs, 409 already done, 422 bad data.
        A timer or another task of the case that moved the case on meanwhile is no conflict of
        this task's: the step is run again on the case as it now is (API.md: 409 only when this
        task was already done)."""
        return failure_recorded(self.db, lambda: _retrying(lambda: self._complete_once(task_id, data, actor)),
                                task_id=task_id)  # a script's failure is left on the case: an incident

    def _complete_once(self, task_id: str, data: Any, actor: Actor) -> dict[str, Any]:
        now = clock.now()
        with self.db.raw(begin=False) as tx:
            found = self.sql.rows(tx, stmt.TASK_AND_CASE, {"id": task_id})
            if not found:
                raise NotFound("任务不存在")
            (instance_id, state, candidate_groups, assignee, form_key, bpmn_id, name, *case_row) = found[0]
            if state != "open":
                raise Conflict("该任务已办理，不能重复提交")
            if not policy.may_act(actor, candidate_groups, assignee):
                if assignee and actor.groups.intersection(candidate_groups.split(",")):
                    raise Forbidden(f"该任务已由 {assignee} 签收，您不能办理")
                raise Forbidden("您无权办理此任务")
            case, wf = self._workflow(tx, CaseRef(instance_id, *case_row))
            try:
                task = wf.get_task_from_id(_uuid(task_id))
                if task is None or task.state != TaskState.READY:
                    raise Conflict("该任务已不在待办状态")
                before = dict(task.data)  # the task's own data: what this step decides on
                data = self._validate(form_key, data, bpmn_id, case.process_key, before, case.definition_id)
                behalf = policy.acting_for(actor, candidate_groups, assignee)  # 委托: done in whose name
                # derived from the groups of whose step it is: the delegator's when acting for them
                data = derive_keys(case.process_key, bpmn_id, data, before, behalf.groups if behalf else actor.groups)
                rows_before = self._before(case.process_key, wf)
                rows_before.ready.discard(task_id)  # closed below, with its own guarded update

                def run() -> None:
                    task.data.update(data)
                    collect_output(task, data, {"completed_at": clock.iso(now), "completed_by": actor.username})
                    task.run()

                outbox = self._run(wf, run)
                step = self._step(case, wf, now, rows_before)
                step.closed.append(task_id)
                changed = {k: before.get(k) for k in data}
                self._finish(step, actor.username, "complete", task_bpmn_id=bpmn_id, task_name=name,
                             task_id=task_id, data_before=_json(changed), data_after=_json(data),
                             comment=str(data.get("comment")) if data.get("comment") else None,
                             on_behalf_of=behalf.username if behalf else None)
                tx.begin()
                close = (stmt.CLOSE_TASK, {"id": task_id, "now": self.sql.when(now), "user": actor.username,
                                           "holder": assignee or actor.username}, "该任务已办理，不能重复提交")
                open_tasks = self._save(tx, step, (close,))
                self._effects(tx, case, outbox, now, actor.username, task_id)
            except BaseException:
                self.live.drop(case.id)
                raise
        self.live.put(case.id, case.version, case.business_key, wf)
        return {"instance": {"id": case.id, "status": case.status, "open_tasks": open_tasks}}

    def claim(self, task_id: str, actor: Actor) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._open_task(session, task_id)
            if row.assignee and row.assignee not in policy.task_holders(actor):
                raise Conflict(f"该任务已由 {row.assignee} 签收")
            if not policy.may_act(actor, row.candidate_groups, None):
                raise Forbidden("您无权签收此任务")
            # 委托: a delegate signs in the delegator's name (the task stays theirs after the period)
            behalf = policy.acting_for(actor, row.candidate_groups, None)
            claimant = behalf.username if behalf else actor.username
            # guarded: two colleagues clicking at once — the second one matches no row
            claimed = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.state == "open",
                       or_(HumanTask.assignee.is_(None), HumanTask.assignee == claimant))
                .values(assignee=claimant).execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                raise Conflict("该任务刚被他人签收或已办理，请刷新")
            now = clock.now()
            session.add(History(instance_id=row.instance_id, at=now, username=actor.username,
                                action="claim", task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=row.id,
                                on_behalf_of=behalf.username if behalf else None))
            receipts.record(session, row, actor, now)  # 签收回执: the unit's first claim, same transaction
            return {"id": row.id, "assignee": claimant}

    def unclaim(self, task_id: str, actor: Actor) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._open_task(session, task_id)
            if row.assignee is None:
                return {"id": row.id, "assignee": None}
            if row.assignee not in policy.task_holders(actor) and not actor.is_admin:
                raise Conflict(f"该任务由 {row.assignee} 签收，只有签收人可以退回")
            behalf = row.assignee if row.assignee != actor.username and not actor.is_admin else None
            row.assignee = None
            session.add(History(instance_id=row.instance_id, at=clock.now(), username=actor.username,
                                action="unclaim", task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=row.id,
                                on_behalf_of=behalf))
            return {"id": row.id, "assignee": None}

    def _open_task(self, session: Session, task_id: str) -> HumanTask:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound("任务不存在")
        if row.state != "open":
            raise Conflict("该任务已办理")
        return row

    def _command(self, instance_id: int, now: datetime, prepare: Any, write: Any | None = None) -> Any:
        """Shared shape of the instance-level commands (message, recompute): read the case, let
        `prepare(case, wf)` run the engine and return (step, outbox, result, by) or None for
        "nothing to do", then save, all on one connection."""
        with self.db.raw(begin=False) as tx:
            found = self.sql.rows(tx, stmt.CASE, {"id": instance_id})
            if not found:
                raise NotFound("案件不存在")
            case, wf = self._workflow(tx, CaseRef(*found[0]))
            try:
                prepared = prepare(case, wf)
                if prepared is not None:
                    step, outbox, result, by = prepared
                    tx.begin()
                    self._save(tx, step)
                    if write is not None:
                        write(tx, step)
                    self._effects(tx, case, outbox, now, by)
            except BaseException:
                self.live.drop(case.id)
                raise
        self.live.put(case.id, case.version, case.business_key, wf)
        if prepared is None:
            return None
        return result(case) if callable(result) else result

    def send_message(self, instance_id: int, name: str, payload: Any, actor: Actor) -> dict[str, Any]:
        """Deliver a BPMN message (e.g. review_request, 复查申请) to a waiting instance."""
        now = clock.now()
        if payload is not None and not isinstance(payload, dict):
            raise Invalid("消息内容必须是 JSON 对象")

        def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
            if case.status != "running":
                raise Conflict("案件已结束，不能再接收消息")
            if not waits_for_message(wf, name):
                raise Conflict(f"案件当前不在等待“{name}”消息")
            data = self._message_payload(case.process_key, name, payload or {}, wf)

            def run() -> None:
                event = MessageEventDefinition(name)
                wf.catch(BpmnEvent(event, {"payload": data, "result_var": f"{name}_data"}))

            rows_before = self._before(case.process_key, wf)
            outbox = self._run(wf, run)
            step = self._step(case, wf, now, rows_before)
            self._finish(step, actor.username, "message", task_name=name, data_after=_json(data))
            return step, outbox, lambda c: {"id": c.id, "status": c.status}, actor.username

        return failure_recorded(self.db, lambda: _retrying(lambda: self._command(instance_id, now, prepare)),
                                instance_id=instance_id, message=name)  # type: ignore[no-any-return]

    def _message_payload(self, process_key: str, name: str, payload: dict[str, Any],
                         wf: BpmnWorkflow) -> dict[str, Any]:
        """A message's payload checked against its rule's form (and a validator declared under the
        message's name), so the case page and the API refuse the same payloads (422)."""
        declared = procedure.get(process_key)
        rule = declared.message(name) if declared else None
        if rule is None or not rule.form_key:
            if payload:
                _check_keys(payload)
            return payload
        return self._validate(rule.form_key, payload, name, process_key, dict(wf.data))


# A command that finds its case moved on (StaleCase) reads it again and reruns its step, this
# many times in all, sleeping a little longer each time (a timer batch commits within a moment).
STALE_ATTEMPTS = 6
STALE_BACKOFF_SECONDS = 0.02


def _retrying(command: Callable[[], T]) -> T:
    """Run `command`, again after a StaleCase: it rereads the case (the version it had read
    is gone from the cache) and its guards decide anew (a task done meanwhile: 409)."""
    for attempt in range(STALE_ATTEMPTS - 1):
        try:
            return command()
        except StaleCase:
            log.info("case moved on during a step; retrying (attempt %d)", attempt + 2)
            time.sleep(STALE_BACKOFF_SECONDS * (attempt + 1) * (0.5 + random.random()))
    return command()


def _uuid(task_id: str) -> Any:
    from uuid import UUID

    try:
        return UUID(task_id)
    except ValueError as exc:
        raise NotFound("任务不存在") from exc
