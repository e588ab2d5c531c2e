"""After a calendar change: every running case's deadlines recomputed by its procedure's rule,
its timers and task due dates moved, in the case's own step."""

from __future__ import annotations

import logging
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from service import clock, procedure
from service.actors import SYSTEM
from service.engine import (
    tasks_in,
)
from service.errors import Conflict
from service.runtime.commands import Commands
from service.runtime.step import CaseRef, Step, _json, instance_data
from service.store.db import RawTx
from service.store.models import Instance

log = logging.getLogger(__name__)


class Recompute(Commands):
    def recompute_deadlines(self) -> int:
        """After a calendar change: recompute every running case's deadlines, move its timers
        and task due dates. Returns how many cases changed."""
        from service import calendar

        with self.db.read() as session:
            ids = list(session.scalars(select(Instance.id).where(Instance.status == "running")))
        changed = 0
        for instance_id in ids:
            for _attempt in range(3):
                try:
                    changed += int(self._recompute_one(instance_id, calendar.add_days))
                    break
                except Conflict:
                    continue
        return changed

    def _recompute_one(self, instance_id: int, add_days: Any) -> bool:
        now = clock.now()

        def prepare(case: CaseRef, wf: BpmnWorkflow) -> Any:
            declared = procedure.get(case.process_key)
            hook = declared.recompute if declared else None
            if case.status != "running" or hook is None:
                return None
            data = instance_data(wf)
            updated = {k: v for k, v in hook(data, add_days).items() if data.get(k) != v}
            if not updated:
                return None
            # Waiting tasks re-inherit their parents' data when refreshed, so every task that
            # carries a deadline key gets the new value, finished ones included.
            rows_before = self._before(case.process_key, wf)
            for task in wf.get_tasks():
                for key, value in updated.items():
                    if key in task.data:
                        task.data[key] = value
            for task in tasks_in(wf, TaskState.WAITING):
                task.internal_data.pop("event_value", None)
            outbox = self._run(wf, wf.refresh_timers)
            step = self._step(case, wf, now, rows_before)
            step.activity = False  # the system's step: not activity for the stalled count
            self._finish(step, SYSTEM.username, "recalc", task_name="法定期限重新计算",
                         data_before=_json({k: data.get(k) for k in updated}), data_after=_json(updated),
                         comment="节假日安排变更，期限已重新计算")
            return step, outbox, True, SYSTEM.username

        def write(session: RawTx, step: Step) -> None:
            for task_id, meta in step.ready.items():
                self.sql.run(session, "UPDATE human_tasks SET due_at = :due_at WHERE id = :id AND state = 'open'",
                             {"id": task_id, "due_at": self.sql.when(meta["due_at"])})

        return bool(self._command(instance_id, now, prepare, write))
