"""The service layer's commands on process instances (start, complete, claim, message, fire
timers, recompute deadlines), split by responsibility:

- step.py: reading a case and its workflow, validating, running the engine, writing a step;
- commands.py: start (登记), complete, claim/unclaim, messages;
- firing.py: due timers in claimed batches;
- recompute.py: deadlines after a calendar change.

Each command reads what it needs (the task and instance rows; the state only when this process
does not already hold that version of the workflow), runs the engine, then writes everything in
one database transaction whose first statements are guarded updates: the task must still be
open and the instance still at the version that was read (optimistic lock). A concurrent step
makes them match nothing: 409, nothing written. A crash before commit leaves the previous state."""

from __future__ import annotations

from service import definitions, form_versions
from service.engine.events import awaited_messages, waiting_timers, waits_for_message
from service.engine.live import LiveWorkflows
from service.forms import FormRegistry
from service.runtime.firing import TimerFiring
from service.runtime.recompute import Recompute
from service.runtime.step import NO_DUE_DATE, Before, CaseRef, Step, instance_data
from service.store.db import Database

__all__ = ["NO_DUE_DATE", "Before", "CaseRef", "Runtime", "Step", "awaited_messages", "instance_data",
           "waiting_timers", "waits_for_message"]


class Runtime(Recompute, TimerFiring):
    """The service layer: everything the web, the API, the CLI and the timers call."""

    def __init__(self, db: Database, forms: FormRegistry | None = None) -> None:
        self.db = db
        self.forms = forms or FormRegistry()
        self.forms.bind(form_versions.loader(db))  # a case's forms are its version's snapshots
        self.models = definitions.ModelCache()
        self.sql = db.sql
        self.live = LiveWorkflows()
        self._groups: tuple[float, frozenset[str]] | None = None
