"""Firing due timers: claimed in batches (PostgreSQL: FOR UPDATE SKIP LOCKED), fired through the
engine without I/O, written with one guarded UPDATE per batch; a conflicting batch falls back to
one timer at a time, so one case in trouble delays the others by a moment, never loses them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import orjson

from service import clock, readmodels
from service.actors import SYSTEM
from service.engine import (
    restore_workflow,
)
from service.errors import Conflict, GovFlowError
from service.runtime.step import CaseRef, Step, StepMachinery
from service.store import statements as stmt
from service.store.db import RawTx

log = logging.getLogger(__name__)


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
            query += " FOR UPDATE OF t SKIP LOCKED"
        done: list[tuple[Step, list[dict[str, Any]], int, str]] = []
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
                    fired = self._fire_one(row)
                    if fired is not None:
                        done.append(fired)
                if cancelled:
                    marks, params = sql.in_list("t", cancelled)
                    sql.run(tx, f"UPDATE timers SET state = 'cancelled' WHERE id IN ({marks})", params)
                if done:
                    self._write_fired(tx, done, lease)
                for step, outbox, _id, task_id in done:
                    self._effects(tx, step.case, outbox, step.now, SYSTEM.username, task_id)
        except BaseException:
            for step, *_rest in done:
                self.live.drop(step.case.id)
            raise
        for step, *_rest in done:
            self.live.put(step.case.id, step.case.version, step.case.business_key, step.wf)
        return len(done), deferred

    def _write_fired(self, tx: RawTx, done: list[tuple[Step, list[dict[str, Any]], int, str]],
                     lease: timedelta) -> None:
        """Write a batch of fired timers with as few statements as the batch allows: the timer
        rows in one guarded UPDATE (fired_at: when the batch is written, just before it commits),
        each case's guarded UPDATE, then states and projections, and all history rows at once."""
        sql, written = self.sql, clock.now()
        marks, params = sql.in_list("t", [claimed_id for _s, _o, claimed_id, _t in done])
        with sql.batch(tx):
            timers = sql.counted(tx, f"UPDATE timers SET state = 'fired', fired_at = :now, lease_until = :lease "
                                     f"WHERE id IN ({marks}) AND state = 'waiting'",
                                 {**params, "now": sql.when(written), "lease": sql.when(written + lease)})
            checks = [(step, self._guard(tx, step)) for step, *_rest in done]
        if timers() != len(done):
            raise Conflict("定时器已由其他进程触发")
        for step, step_checks in checks:
            self._settle(step, step_checks)
        with sql.batch(tx):
            for step, *_rest in done:
                self._write_step(tx, step, history=False)
            sql.many(tx, stmt.NEW_HISTORY, [{**h, "at": sql.when(h["at"])} for step, *_r in done for h in step.history])
        for step, *_rest in done:
            readmodels.write_step(sql, tx, step.case, step.history, step.now)

    def _fire_one(self, row: tuple[Any, ...]) -> tuple[Step, list[dict[str, Any]], int, str] | None:
        """Run one claimed timer through the engine (no I/O); None if its step fails (it stays
        waiting and is tried again at the next poll)."""
        timer_id, instance_id, task_id, name, version, definition_id, process_key, business_key, status, state = row
        case = CaseRef(instance_id, version, definition_id, process_key, business_key, status)
        now = clock.now()  # each timer's own moment: fired_at and its history row say when it fired
        wf = self.live.take(case.id, case.version, case.business_key)
        try:
            if wf is None:
                wf = restore_workflow(orjson.loads(state), self._model(definition_id))
            rows_before = self._before(case.process_key, wf)
            rows_before.timers.pop(task_id, None)  # its row is marked fired with the step
            outbox = self._run(wf, wf.refresh_timers)
            step = self._step(case, wf, now, rows_before)
        except GovFlowError:
            log.exception("timer %s could not fire; it stays waiting", timer_id)
            self.live.drop(case.id)
            return None
        self._finish(step, SYSTEM.username, "timer", task_name=name, task_id=task_id)
        return step, outbox, timer_id, task_id
