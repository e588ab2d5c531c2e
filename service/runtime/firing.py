"""Firing due timers: claimed in batches (PostgreSQL: FOR UPDATE SKIP LOCKED), fired through the
engine without I/O, written with one guarded UPDATE per batch; a conflicting batch falls back to
one timer at a time, so one case in trouble delays the others by a moment, never loses them.
A timer whose step fails (a script error) is counted in the batch's transaction; at
FAILURE_LIMIT it is `failed`, polled no more, and listed as an incident (service/incidents.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import SQLAlchemyError

from service import clock, hash_chain, notices, readmodels, sealed
from service.actors import SYSTEM
from service.engine import (
    restore_workflow,
)
from service.engine.events import waiting_dues
from service.errors import Conflict, GovFlowError
from service.runtime.step import CaseRef, Step, StepMachinery, _history, _json
from service.store import statements as stmt
from service.store.db import RawTx

log = logging.getLogger(__name__)

# Failed attempts after which a timer is `failed` (an incident the administrator retries) instead
# of being tried again at every poll; its last error is kept, this long at most.
FAILURE_LIMIT = 3
MAX_ERROR_LENGTH = 2000
COUNT_FAILURE = (
    "UPDATE timers SET failures = failures + 1, last_error = :error, "
    "state = CASE WHEN failures + 1 >= :limit THEN 'failed' ELSE state END WHERE id = :id AND state = 'waiting'"
)


class TimerFiring(StepMachinery):
    def next_timer_due(self) -> datetime | None:
        """When the earliest waiting timer falls due (the scheduler sleeps until then)."""
        with self.db.raw(write=False) as tx:
            value = self.sql.rows(tx, stmt.NEXT_DUE)[0][0]
        return None if value is None else clock.parse_datetime(value)

    def fire_due_timers(self, limit: int = 100, lease: timedelta = timedelta(seconds=60)) -> int:
        """Fire up to `limit` due timers, oldest first, in one transaction: the rows are claimed
        (PostgreSQL: FOR UPDATE SKIP LOCKED, so other nodes take other rows; SQLite: the write
        lock), each fired through the engine, and all written and marked fired in one batch. If
        any of them conflicts, the batch is rolled back and its timers are fired one by one, so
        one case in trouble delays the others by a moment, never loses them."""
        fired = 0
        while fired < limit:
            try:
                count, deferred = self._fire_batch(limit - fired, lease)
            except Conflict as exc:
                log.info("timer batch rolled back (%s); firing its timers one by one", exc)
                return fired + self._fire_one_by_one(limit - fired, lease)
            fired += count
            if not deferred or not count:
                return fired
        return fired

    def _fire_one_by_one(self, limit: int, lease: timedelta) -> int:
        fired = 0
        for timer_id in self._due_ids(limit):
            try:
                fired += self._fire_batch(1, lease, timer_id)[0]
            except Conflict:
                log.warning("timer %s conflicted with another step; it fires at the next poll", timer_id)
        return fired

    def _due_ids(self, limit: int) -> list[int]:
        with self.db.raw(write=False) as tx:
            return [r[0] for r in self.sql.rows(tx, stmt.DUE_TIMERS, {"now": self.sql.when(clock.now()), "limit": limit})]

    def _fire_batch(self, limit: int, lease: timedelta, timer_id: int | None = None) -> tuple[int, int]:
        """One transaction; returns (timers fired, timers left for the next batch because
        another timer of their case fired in this one)."""
        sql = self.sql
        query = stmt.CLAIM_TIMERS + (" AND t.id = :timer_id" if timer_id is not None else "") + stmt.CLAIM_ORDER
        if sql.postgresql:
            query += stmt.CLAIM_LOCK
        done: list[Fired] = []
        failed: list[dict[str, Any]] = []  # the claimed timers whose step failed: counted here
        try:
            with self.db.raw() as tx:
                claimed = sql.rows(tx, query, {"now": sql.when(clock.now()), "limit": limit, "timer_id": timer_id})
                cancelled, seen, deferred = [], set(), 0
                for row in claimed:
                    if row[1] in seen:
                        deferred += 1  # a second timer of the same case: fired by the next batch
                        continue
                    seen.add(row[1])
                    if row[8] != "running":
                        cancelled.append(row[0])
                        continue
                    fired = self._fire_one(row, failed)
                    if fired is not None:
                        done.append(fired)
                if failed:
                    sql.many(tx, COUNT_FAILURE, [{**f, "limit": FAILURE_LIMIT} for f in failed])
                if cancelled:
                    marks, params = sql.in_list("t", cancelled)
                    sql.run(tx, f"UPDATE timers SET state = 'cancelled' WHERE id IN ({marks})", params)
                if done:
                    self._write_fired(tx, done, lease)
                for item in done:
                    step, sent = item.step, []
                    self._effects(tx, step.case, item.outbox, step.now, SYSTEM.username, item.task_id, recorded=sent)
                    self._record(item, sent)
                if done:
                    with sql.batch(tx):
                        hash_chain.write_history(sql, tx, [h for item in done for h in item.step.history],
                                                 {item.step.case.id: item.step.head() for item in done})
                    for item in done:
                        readmodels.write_step(sql, tx, item.step.case, item.step.history, item.step.now)
        except BaseException:
            for item in done:
                self.live.drop(item.step.case.id)
            raise
        for item in done:
            self.live.put(item.step.case.id, item.step.case.version, item.step.case.business_key, item.step.wf)
        return len(done), deferred

    @staticmethod
    def _record(item: Fired, sent: list[dict[str, Any]]) -> None:
        """The case's history of a firing, as the system's actions: a row per timer that fired,
        per notice it sent (kind and text) and per task it opened (e.g. 书面汇报), then the end."""
        step = item.step
        step.history.extend(_history(step.case.id, step.now, SYSTEM.username, "notice",
                                     task_name=notices.kinds().get(n["kind"], n["kind"]), comment=n["text"],
                                     data_after=_json({"kind": n["kind"], "recipients": n["recipients"]}))
                            for n in sent)
        step.history.extend(_history(step.case.id, step.now, SYSTEM.username, "task_opened",
                                     task_bpmn_id=t["bpmn_id"], task_name=t["name"], task_id=t["id"],
                                     data_after=_json({"candidate_groups": t["candidate_groups"],
                                                       "assignee": t["assignee"]}))
                            for t in step.opened)
        if step.values["status"] == "completed":
            step.history.append(_history(step.case.id, step.now, SYSTEM.username, "end"))

    def _write_fired(self, tx: RawTx, done: list[Fired], lease: timedelta) -> None:
        """Write a batch of fired timers with as few statements as the batch allows: the timer
        rows in one guarded UPDATE (fired_at: when the batch is written, just before it commits),
        each case's guarded UPDATE, then states and projections (the history is written by the
        caller, with the notices the firings sent)."""
        sql, written = self.sql, clock.now()
        marks, params = sql.in_list("t", [item.timer_id for item in done])
        at = {"now": sql.when(written), "lease": sql.when(written + lease)}
        with sql.batch(tx):
            # the cases first (the lock order: instance row, then the rest), then the timer rows
            checks = [(item.step, self._guard(tx, item.step)) for item in done]
            timers = sql.counted(tx, f"UPDATE timers SET state = 'fired', fired_at = :now, lease_until = :lease "
                                     f"WHERE id IN ({marks}) AND state = 'waiting'", {**params, **at})
            for item in done:
                if item.also:  # further timers of the case that fell due and fired in the same step
                    also, also_params = sql.in_list("a", item.also)
                    sql.run(tx, f"{stmt.FIRE_ALSO} ({also}) AND state = 'waiting'",
                            {**also_params, **at, "id": item.step.case.id})
        if timers() != len(done):
            raise Conflict("定时器已由其他进程触发")
        for step, step_checks in checks:
            self._settle(step, step_checks)
        with sql.batch(tx):
            for item in done:
                self._write_step(tx, item.step, history=False)

    def _fire_one(self, row: tuple[Any, ...], failed: list[dict[str, Any]]) -> Fired | None:
        """Run one claimed timer through the engine (no I/O); None if its step fails (it is
        appended to `failed`: counted, tried again at the next poll until FAILURE_LIMIT, then
        `failed`). Every timer of the case due by now fires in that one engine step: each gets
        its own history row, in the order they fell due."""
        timer_id, instance_id, task_id, name, version, definition_id, process_key, business_key, status, state = row
        case = CaseRef(instance_id, version, definition_id, process_key, business_key, status)
        now = clock.now()  # each timer's own moment: fired_at and its history row say when it fired
        wf = self.live.take(case.id, case.version, case.business_key)
        try:
            if wf is None:
                wf = restore_workflow(orjson.loads(sealed.unseal(state)), self._model(definition_id))
            rows_before = self._before(case.process_key, wf)
            waiting = {tid: (due, label) for tid, (due, label) in waiting_dues(wf).items()}
            outbox = self._run(wf, wf.refresh_timers)
            step = self._step(case, wf, now, rows_before)
        except SQLAlchemyError:
            raise  # the database, not the case: the poll is retried as a whole
        except Exception as exc:  # noqa: BLE001 - a script error, or a state that does not restore
            log.exception("timer %s could not fire; its failure is counted", timer_id)
            self.live.drop(case.id)
            error = exc.message if isinstance(exc, GovFlowError) else f"定时器无法触发：{type(exc).__name__}: {exc}"
            failed.append({"id": timer_id, "error": error[:MAX_ERROR_LENGTH]})
            return None
        step.activity = False  # timers are not activity: last_step_at stays the people's
        fired = sorted((due, tid, label) for tid, (due, label) in waiting.items()
                       if tid not in step.timers and _completed(wf, tid))
        also = [tid for _due, tid, _label in fired if tid != task_id]
        for tid in [task_id, *also]:
            rows_before.timers.pop(tid, None)  # their rows are marked fired with the step
        if not any(tid == task_id for _due, tid, _label in fired):
            fired.insert(0, (now, task_id, name))
        step.history = [_history(case.id, now, SYSTEM.username, "timer", task_name=label, task_id=tid)
                        for _due, tid, label in sorted(fired)]
        return Fired(step, outbox, timer_id, task_id, also)


@dataclass
class Fired:
    """One claimed timer run through the engine: its step, what its scripts queued, the claimed
    row, and the further timers of the case that fired in the same step."""

    step: Step
    outbox: list[dict[str, Any]]
    timer_id: int
    task_id: str
    also: list[str] = field(default_factory=list)


def _completed(wf: Any, task_id: str) -> bool:
    """Whether the timer's task fired (completed) rather than was cancelled by another event."""
    task = wf.get_task_from_id(UUID(task_id))
    return task is not None and task.state == TaskState.COMPLETED
