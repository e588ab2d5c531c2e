"""An engine failure of a person's step (a diagram's script raised while a task was completed or
a message delivered) left on the case, so the administrator's incidents list (service/incidents.py)
shows it: the step's own transaction never began or rolled back (nothing of the step is written),
so the failure is recorded in a short transaction of its own. The case's next successful person's
step clears it (statements.SAVE_CASE), as does the administrator's retry."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from service import clock
from service.errors import EngineFailure
from service.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ERROR_LENGTH = 2000
_TASK = "SELECT instance_id, name FROM human_tasks WHERE id = :id"
_RECORD = "UPDATE instances SET error = :error, error_at = :now WHERE id = :id AND status = 'running'"


def failure_recorded(db: Database, command: Callable[[], T], *, task_id: str | None = None,
             instance_id: int | None = None, message: str | None = None) -> T:
    """Run a person's step; an EngineFailure is recorded on its case (found by `task_id`, or
    `instance_id` for a message named `message`) and raised again unchanged."""
    try:
        return command()
    except EngineFailure as exc:
        _record(db, exc, task_id, instance_id, message)
        raise


def _record(db: Database, exc: EngineFailure, task_id: str | None, instance_id: int | None,
            message: str | None) -> None:
    try:
        with db.raw() as tx:
            step = f"接收消息“{message}”" if message else "办理"
            if task_id is not None:
                found = db.sql.rows(tx, _TASK, {"id": task_id})
                if not found:
                    return
                instance_id, step = int(found[0][0]), f"办理“{found[0][1]}”"
            if instance_id is None:
                return
            db.sql.run(tx, _RECORD, {"id": instance_id, "error": f"{step}时{exc.message}"[:MAX_ERROR_LENGTH],
                                     "now": db.sql.when(clock.now())})
    except Exception:  # noqa: BLE001 - the person gets the step's own error, whatever happens here
        log.exception("could not record the engine failure on case %s", instance_id or task_id)
