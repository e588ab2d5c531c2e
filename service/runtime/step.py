"""One step of a case, the shared machinery of every command: read the case and its workflow
(from memory when this process saved that version), validate the form, run the engine to its
next wait, then write state, projections and history behind guarded updates (a concurrent step
makes them match nothing: 409, nothing written)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, definitions, hash_chain, notices, procedure, readmodels, script_context, sealed
from service.actors import SYSTEM
from service.engine import (
    SERIALIZER_VERSION,
    ProcessModel,
    ReadyMeta,
    dump_state,
    has_ready_engine_task,
    open_task_groups,
    ready_user_tasks,
    restore_workflow,
)
from service.engine.events import waiting_dues
from service.engine.live import LiveWorkflows
from service.engine.taskdata import instance_view
from service.errors import Conflict, EngineFailure, GovFlowError, Invalid, NotFound
from service.forms import FormRegistry
from service.runtime.projection import NO_DUE_DATE, project
from service.store import statements as stmt
from service.store.db import Database, RawTx
from service.store.models import Group, Instance

# NO_DUE_DATE: re-exported (lists sort by it)
__all__ = ["NO_DUE_DATE", "Before", "CaseRef", "Step", "StaleCase", "StepMachinery", "instance_data"]

log = logging.getLogger(__name__)

RESERVED_PREFIXES = ("_",)
# Group keys change rarely (`govflow init --demo`, user administration); validators read them from
# memory, refreshed every few seconds.
GROUPS_TTL_SECONDS = 10.0


def _json(value: Any) -> str:
    """Compact UTF-8 JSON, as json.dumps(ensure_ascii=False, default=str) writes it, ~10× faster."""
    try:
        return orjson.dumps(value, default=str,
                            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except TypeError:  # non-string keys, integers beyond 64 bits: the standard encoder copes
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


# The case data as people see it: the live tasks' data merged, multi-instance children (one
# task per department) kept apart under "per_task" (service/engine/taskdata.py).
instance_data = instance_view


def _check_keys(data: dict[str, Any]) -> None:
    bad = [k for k in data if not isinstance(k, str) or k.startswith(RESERVED_PREFIXES) or not k.isidentifier()]
    if bad:
        raise Invalid("数据包含不允许的字段名", [{"field": k, "message": "字段名不合法"} for k in bad])


def _normalise_dates(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Date-times without a zone are Beijing time; store them with +08:00."""
    out = dict(data)
    for name, prop in schema.get("properties", {}).items():
        value = out.get(name)
        if prop.get("format") == "date-time" and isinstance(value, str):
            try:
                out[name] = clock.parse_datetime(value).isoformat(timespec="seconds")
            except (ValueError, OverflowError) as exc:
                raise Invalid("日期超出范围", [{"field": name, "message": "日期超出可处理的范围"}]) from exc
    return out


@dataclass
class CaseRef:
    """The instance row as a command read it: `version` is what the save must still find."""

    id: int
    version: int
    definition_id: int
    process_key: str
    business_key: str
    status: str


@dataclass
class Step:
    """Everything one command writes, computed before its transaction starts."""

    case: CaseRef
    wf: BpmnWorkflow
    now: datetime
    state: str
    values: dict[str, Any]
    ready: Mapping[str, dict[str, Any]]  # id → meta, evaluated when read (ReadyMeta)
    timers: dict[str, tuple[datetime, str]]
    # What the database holds for the version read (the projections are written with every
    # state, so they are the workflow's before this command ran): open task ids, waiting timers.
    before: Before
    closed: list[str] = field(default_factory=list)  # tasks this command closed: candidates go
    opened: list[dict[str, Any]] = field(default_factory=list)  # tasks it opened (set when written)
    history: list[dict[str, Any]] = field(default_factory=list)
    # A person's step (start, complete, message) moves last_step_at; the system's (timers,
    # recomputed deadlines) only updated_at: timers are not activity for the stalled count.
    activity: bool = True
    head: Callable[[], hash_chain.Head | None] = lambda: None  # the history chain's, read by _guard
    # The instance row's projected columns (PROJECTED_COLUMNS), and whether the version read already
    # holds them (known for a workflow this process saved): the save then leaves them, and the
    # indexes on them, alone.
    columns: tuple[Any, ...] = ()
    columns_kept: bool = False


class StaleCase(Conflict):
    """The instance row was no longer at the version read (a timer or another task of the case
    moved it on): the command may read the case again and retry; not the task's own conflict."""


@dataclass
class Before:
    """The projections as of the version a command read, minus what the command itself closed."""

    ready: set[str] = field(default_factory=set)
    timers: dict[str, datetime] = field(default_factory=dict)
    groups: tuple[str, ...] = ()  # the case's handling groups (instance_groups rows)

    @classmethod
    def of(cls, wf: BpmnWorkflow, groups: tuple[str, ...] = ()) -> Before:
        return cls(set(ready_user_tasks(wf)), {task_id: due for task_id, (due, _name) in waiting_dues(wf).items()},
                   groups)


# Where a workflow object remembers the handling groups it was last projected with.
GROUPS_ATTRIBUTE = "govflow_projected_groups"
# ... and the instance row's projected columns it last saved (only steps write those columns, so
# a kept workflow's are what the version it was kept as holds).
COLUMNS_ATTRIBUTE = "govflow_projected_columns"
PROJECTED_COLUMNS = ("status", "completed_at", "handling_group", "due_at", "title")


def _handling_groups(shown: dict[str, Any]) -> tuple[str, ...]:
    """Every group handling the case: a projection's `handling_groups` (one task per department)
    or its single `handling_group`."""
    many = shown.get("handling_groups")
    if isinstance(many, list | tuple):
        return tuple(sorted({str(g) for g in many if isinstance(g, str) and g}))
    one = shown.get("handling_group")
    return (one,) if isinstance(one, str) and one else ()


# A guarded update's row count (known once its batch ran) and the error (or a Conflict's
# message) if it is not 1.
Check = tuple[Callable[[], int], Conflict | str]


def _history(case_id: int, now: datetime, username: str, action: str, **columns: Any) -> dict[str, Any]:
    row = {"instance_id": case_id, "at": now, "username": username, "action": action, "task_bpmn_id": None,
           "task_name": None, "task_id": None, "data_before": None, "data_after": None, "comment": None,
           "on_behalf_of": None}
    row.update(columns)
    return row


class StepMachinery:
    """What every command shares (the Runtime is composed of it and the command mixins)."""

    db: Database
    forms: FormRegistry
    models: definitions.ModelCache
    sql: Any
    live: LiveWorkflows
    _groups: tuple[float, frozenset[str]] | None

    # ----- reading ---------------------------------------------------------------------------

    def group_keys(self, fresh: bool = False) -> frozenset[str]:
        """Every group key, cached a few seconds (`fresh`: read now, for scripts' `group_keys()`)."""
        cached = self._groups
        if fresh or cached is None or time.monotonic() - cached[0] > GROUPS_TTL_SECONDS:
            with self.db.read() as session:
                cached = (time.monotonic(), frozenset(session.scalars(select(Group.key))))
            self._groups = cached
        return cached[1]

    def _model(self, definition_id: int) -> ProcessModel:
        model = self.models.cached(definition_id)
        if model is None:
            with self.db.read() as session:
                model = self.models.by_id(session, definition_id)
        return model

    def _workflow(self, tx: Session | RawTx, case: CaseRef) -> tuple[CaseRef, BpmnWorkflow]:
        """The workflow of `case` at the version read: from memory if this process saved it,
        else restored from the stored state (read with its version, in one statement)."""
        wf = self.live.take(case.id, case.version, case.business_key)
        if wf is not None:
            return case, wf
        row = self.sql.rows(tx, stmt.CASE_AND_STATE, {"id": case.id})
        if not row:
            raise NotFound("案件不存在")
        case = CaseRef(*row[0][:6])
        model = self._model(case.definition_id)
        return case, restore_workflow(orjson.loads(sealed.unseal(row[0][6])), model)

    def _load(self, session: Session, inst: Instance) -> tuple[BpmnWorkflow, ProcessModel]:
        """A freshly restored workflow for reading (case pages): never the cached one."""
        model = self.models.by_id(session, inst.definition_id)
        return restore_workflow(json.loads(inst.state), model), model

    def _validate(self, form_key: str | None, data: Any, bpmn_id: str, process_key: str,
                  instance_data_: dict[str, Any], definition_id: int | None = None) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid("表单数据必须是 JSON 对象", [{"field": "", "message": "应为对象"}])
        _check_keys(data)
        declared = procedure.get(process_key)
        validator = declared.validators.get(bpmn_id) if declared else None
        if form_key:
            # every field's error in one answer: the schema's and the procedure's rule together
            form = self.forms.get(form_key, definition_id)  # the form of the case's version
            extra = None
            if validator is not None:
                rule, schema, groups = validator, form.schema, set(self.group_keys())
                extra = lambda ok: rule(_normalise_dates(schema, ok), instance_data_, groups)  # noqa: E731
            form.validate(data, extra=extra)
            return _normalise_dates(form.schema, data)
        if validator is not None:
            errors = validator(data, instance_data_, set(self.group_keys()))
            if errors:
                raise Invalid("表单填写有误，请检查标出的字段", errors)
        return data

    def _effects(self, session: Any, case: CaseRef, outbox: Any, now: datetime, by: str | None,
                 task_id: str | None = None, depth: int = 0, recorded: list[dict[str, Any]] | None = None) -> None:
        """Write what a step's scripts queued (notices, linked starts): see Commands._effects."""
        raise NotImplementedError

    # ----- running the engine -----------------------------------------------------------------

    def _run(self, wf: BpmnWorkflow, action: Any) -> list[dict[str, Any]]:
        """Run an engine action to the next wait; returns the notices its scripts raised (those
        of `notify_open` addressed, now that the step ended, to the groups of the open tasks)."""
        try:
            with notices.collecting() as outbox, script_context.providing(lambda: self.group_keys(fresh=True), self.db):
                action()
                wf.do_engine_steps()
                # A timer found due at the end of the steps readies its branch: run that too.
                for _ in range(20):
                    if not has_ready_engine_task(wf):
                        break
                    wf.do_engine_steps()
            notices.resolve_open(outbox, lambda bpmn_id: open_task_groups(wf, bpmn_id))
            return outbox
        except GovFlowError:
            raise
        except (SpiffWorkflowException, Exception) as exc:  # noqa: BLE001 - scripts may raise anything
            log.exception("engine step failed")
            raise EngineFailure(f"流程执行出错，未做任何更改：{exc}") from exc

    def _before(self, process_key: str, wf: BpmnWorkflow) -> Before:
        """The projections of the workflow as read, before a command runs the engine (the groups
        a kept workflow was last projected with are remembered on it: no second merge of its data)."""
        groups = getattr(wf, GROUPS_ATTRIBUTE, None)
        if groups is None:
            groups = _handling_groups(self._shown(process_key, instance_data(wf)))
        return Before.of(wf, groups)

    @staticmethod
    def _shown(process_key: str, data: dict[str, Any]) -> dict[str, Any]:
        declared = procedure.get(process_key)
        return declared.project(data) if declared is not None and declared.project is not None else data

    def _instance_values(self, process_key: str, wf: BpmnWorkflow, now: datetime) -> dict[str, Any]:
        """The instance row's projected columns (lists and filters read these, never the state)."""
        data = instance_data(wf)
        completed = wf.is_completed()
        declared = procedure.get(process_key)
        shown = self._shown(process_key, data)
        group = shown.get("handling_group")
        due = shown.get("due_at")
        return {
            "groups": _handling_groups(shown),
            "status": "completed" if completed else "running",
            "completed_at": now if completed else None,
            "handling_group": group if isinstance(group, str) and group else None,
            "due_at": clock.parse_datetime(due) if isinstance(due, str) and due else None,
            "title": declared.title(data) if declared is not None else str(data.get("title") or "")[:256],
        }

    def _step(self, case: CaseRef, wf: BpmnWorkflow, now: datetime, before: Before) -> Step:
        """Serialize and project the workflow (outside the write transaction)."""
        values = self._instance_values(case.process_key, wf, now)
        setattr(wf, GROUPS_ATTRIBUTE, values["groups"])
        columns = tuple(values[c] for c in PROJECTED_COLUMNS)
        return Step(case=case, wf=wf, now=now, state=_json(dump_state(wf)),
                    values=values, columns=columns, columns_kept=getattr(wf, COLUMNS_ATTRIBUTE, None) == columns,
                    ready=ReadyMeta(wf),
                    timers=waiting_dues(wf), before=before)

    # ----- writing ----------------------------------------------------------------------------

    def _save(self, session: Session | RawTx, step: Step,
              guards: tuple[tuple[str, dict[str, Any], str], ...] = ()) -> list[dict[str, Any]]:
        """Write the step: first its guarded updates, checked (a concurrent step makes them
        match nothing: 409, and nothing else is written), then everything else as one batch
        (PostgreSQL: one round trip each). Returns the instance's open tasks."""
        with self.sql.batch(session):
            checks = self._guard(session, step, guards)
        self._settle(step, checks)
        with self.sql.batch(session):
            self._write_step(session, step)
        readmodels.write_step(self.sql, session, step.case, step.history, step.now)
        kept = [tid for tid in step.before.ready if tid in step.ready]
        return [{"id": r[0], "bpmn_id": r[1], "name": r[2], "candidate_groups": [g for g in r[3].split(",") if g],
                 "assignee": r[4]} for r in self._open_rows(session, kept)] + step.opened

    def _guard(self, session: Session | RawTx, step: Step,
               guards: tuple[tuple[str, dict[str, Any], str], ...] = ()) -> list[Check]:
        """Issue the step's guarded updates; returns the row counts to check once known.

        The instance UPDATE only matches the version that was read, so a concurrent step makes
        it match nothing (StaleCase); `guards` are further statements that must match one row
        each (sql, params, the conflict's message), checked first. The instance UPDATE is issued
        first all the same: the instance row is the first lock every transaction takes
        (PostgreSQL), so a step never holds a task or timer row while waiting for it."""
        case, values = step.case, step.values
        sql = self.sql
        saved = sql.counted(session, stmt.SAVE_CASE_AS[step.activity, step.columns_kept], {
            "id": case.id, "version": case.version, "new_version": case.version + 1,
            "now": sql.when(step.now), "serializer": SERIALIZER_VERSION, "status": values["status"],
            "completed_at": sql.when(values["completed_at"]), "handling_group": values["handling_group"],
            "due_at": sql.when(values["due_at"]), "title": values["title"],
        })
        checks: list[Check] = [(sql.counted(session, statement, params), Conflict(message))
                               for statement, params, message in guards]
        checks.append((saved, StaleCase("该案件已被他人同时处理，请刷新后重试")))
        step.head = hash_chain.read_head(sql, session, case.id)  # after the UPDATE: the row is ours
        return checks

    def _write_step(self, session: Session | RawTx, step: Step, history: bool = True) -> None:
        """The rest of a step whose guards held: state, projections, history (unless the caller
        writes the history of several steps at once)."""
        sql = self.sql
        sql.run(session, stmt.SAVE_STATE, {"id": step.case.id, "state": step.state})
        step.opened = self._project(session, step)
        if history:
            hash_chain.write_history(sql, session, step.history, {step.case.id: step.head()})

    @staticmethod
    def _settle(step: Step, checks: list[Check]) -> None:
        for count, error in checks:
            if count() != 1:
                raise error if isinstance(error, Conflict) else Conflict(error)
        step.case.version += 1
        step.case.status = step.values["status"]
        # remembered once the row is ours (a step that fails after this drops the workflow)
        setattr(step.wf, COLUMNS_ATTRIBUTE, step.columns)

    def _open_rows(self, session: Session | RawTx, task_ids: list[str]) -> list[tuple[Any, ...]]:
        if not task_ids:
            return []
        marks, params = self.sql.in_list("t", task_ids)
        return self.sql.rows(session, f"{stmt.OPEN_BY_ID} ({marks}) AND state = 'open'", params)

    def _project(self, session: Session | RawTx, step: Step) -> list[dict[str, Any]]:
        """Bring the open-task, waiting-timer and handling-group rows in line with the workflow
        (service/runtime/projection.py); returns the tasks it opened."""
        return project(self.sql, self.db, session, step)

    def _finish(self, step: Step, username: str, action: str, **columns: Any) -> None:
        """Queue the command's history row (and the end row when the instance completed)."""
        step.history.append(_history(step.case.id, step.now, username, action, **columns))
        if step.values["status"] == "completed":
            step.history.append(_history(step.case.id, step.now, SYSTEM.username, "end"))
