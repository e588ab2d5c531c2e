"""Commands on process instances.

Each command reads what it needs (the task and instance rows; the state only when this process
does not already hold that version of the workflow), runs the engine, then writes everything in
one database transaction whose first statements are guarded updates: the task must still be
open and the instance still at the version that was read (optimistic lock). A concurrent step
makes them match nothing: 409, nothing written. A crash before commit leaves the previous state."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as BaseMessageEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service import clock, definitions, notices
from service.actors import SYSTEM, Actor
from service.engine import (
    SERIALIZER_VERSION,
    ProcessModel,
    dump_state,
    has_ready_engine_task,
    new_workflow,
    ready_user_tasks,
    restore_workflow,
    tasks_in,
    user_task_meta,
)
from service.engine.live import LiveWorkflows
from service.errors import Conflict, EngineFailure, Forbidden, GovFlowError, Invalid, NotFound
from service.forms import FormRegistry
from service.store.db import Database, RawTx
from service.store.models import Group, History, HumanTask, Instance
from workflows import module_for

log = logging.getLogger(__name__)

RESERVED_PREFIXES = ("_",)
# Sort key for tasks without a due date: after every real one.
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=clock.BEIJING)
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


def instance_data(wf: BpmnWorkflow) -> dict[str, Any]:
    """The case data as people see it: the data of the tasks where the instance now stands."""
    if wf.is_completed():
        data = dict(wf.data)
        if wf.last_task is not None:
            data.update(wf.last_task.data)
        return data
    # Merge the live flow nodes oldest first, so the newest copy of a key wins: a branch spawned
    # earlier (a 督办 rung) must not hide what the main path changed since (an extension).
    live = [t for t in tasks_in(wf, TaskState.READY | TaskState.WAITING | TaskState.STARTED)
            if t.task_spec.bpmn_id]
    data: dict[str, Any] = {}
    for task in sorted(live, key=lambda t: t.last_state_change):
        data.update(task.data)
    if not data and wf.last_task is not None:
        data.update(wf.last_task.data)
    return data


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
    ready: dict[str, dict[str, Any]]
    timers: dict[str, tuple[datetime, str]]
    # What the database holds for the version read (the projections are written with every
    # state, so they are the workflow's before this command ran): open task ids, waiting timers.
    before: Before
    closed: list[str] = field(default_factory=list)  # tasks this command closed: candidates go
    opened: list[dict[str, Any]] = field(default_factory=list)  # tasks it opened (set when written)
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Before:
    """The projections as of the version a command read, minus what the command itself closed."""

    ready: set[str] = field(default_factory=set)
    timers: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, wf: BpmnWorkflow) -> Before:
        return cls(set(ready_user_tasks(wf)), {task_id: due for task_id, (due, _name) in _waiting_dues(wf).items()})


# ----- the statements of the hot path (service.store.fastsql) ---------------------------------

_TASK_AND_CASE = (
    "SELECT t.instance_id, t.state, t.candidate_groups, t.assignee, t.form_key, t.bpmn_id, t.name, "
    "i.version, i.definition_id, i.process_key, i.business_key, i.status "
    "FROM human_tasks t JOIN instances i ON i.id = t.instance_id WHERE t.id = :id"
)
_CASE = "SELECT id, version, definition_id, process_key, business_key, status FROM instances WHERE id = :id"
_CASE_AND_STATE = (
    "SELECT i.id, i.version, i.definition_id, i.process_key, i.business_key, i.status, s.state "
    "FROM instances i JOIN instance_states s ON s.instance_id = i.id WHERE i.id = :id"
)
_CLOSE_TASK = (
    "UPDATE human_tasks SET state = 'completed', completed_at = :now, completed_by = :user "
    "WHERE id = :id AND state = 'open' AND (assignee IS NULL OR assignee = :user)"
)
_SAVE_CASE = (
    "UPDATE instances SET version = :new_version, updated_at = :now, last_step_at = :now, "
    "serializer_version = :serializer, status = :status, completed_at = :completed_at, "
    "handling_group = :handling_group, due_at = :due_at, title = :title "
    "WHERE id = :id AND version = :version"
)
_SAVE_STATE = "UPDATE instance_states SET state = :state WHERE instance_id = :id"
_NEXT_NUMBER = (
    "INSERT INTO sequences (name, value) VALUES (:name, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value"
)
_NEW_CASE = (
    "INSERT INTO instances (definition_id, process_key, business_key, title, status, version, started_at, "
    "started_by, updated_at, last_step_at, completed_at, due_at, handling_group, listed, serializer_version) "
    "VALUES (:definition_id, :process_key, :business_key, :title, :status, 1, :now, :user, :now, :now, "
    ":completed_at, :due_at, :handling_group, :listed, :serializer) RETURNING id"
)
_NEW_STATE = "INSERT INTO instance_states (instance_id, state) VALUES (:id, :state)"
_OPEN_BY_ID = "SELECT id, bpmn_id, name, candidate_groups, assignee FROM human_tasks WHERE id IN"
_NEW_TASK = (
    "INSERT INTO human_tasks (id, instance_id, process_key, business_key, bpmn_id, name, form_key, "
    "candidate_groups, assignee, state, created_at, due_at) VALUES (:id, :instance_id, :process_key, "
    ":business_key, :bpmn_id, :name, :form_key, :candidate_groups, :assignee, 'open', :now, :due_at)"
)
_NEW_CANDIDATE = (
    "INSERT INTO task_candidates (task_id, group_key, due_sort, created_at) "
    "VALUES (:task_id, :group_key, :due_sort, :now)"
)
_NEW_TIMER = (
    "INSERT INTO timers (instance_id, task_id, name, due_at, state) "
    "VALUES (:instance_id, :task_id, :name, :due_at, 'waiting')"
)
_MOVE_TIMER = (
    "UPDATE timers SET due_at = :due_at WHERE instance_id = :id AND task_id = :task_id AND state = 'waiting'"
)
_NEW_HISTORY = (
    "INSERT INTO history (instance_id, at, username, action, task_bpmn_id, task_name, task_id, data_before, "
    "data_after, comment) VALUES (:instance_id, :at, :username, :action, :task_bpmn_id, :task_name, :task_id, "
    ":data_before, :data_after, :comment)"
)
_DUE_TIMERS = (
    "SELECT id, instance_id, task_id, name FROM timers WHERE state = 'waiting' AND due_at <= :now "
    "ORDER BY due_at, id LIMIT :limit"
)
_CLAIM_TIMERS = (
    "SELECT t.id, t.instance_id, t.task_id, t.name, i.version, i.definition_id, i.process_key, i.business_key, "
    "i.status, s.state FROM timers t JOIN instances i ON i.id = t.instance_id "
    "JOIN instance_states s ON s.instance_id = t.instance_id WHERE t.state = 'waiting' AND t.due_at <= :now"
)
_CLAIM_ORDER = " ORDER BY t.due_at, t.id LIMIT :limit"
_NEXT_DUE = "SELECT MIN(due_at) FROM timers WHERE state = 'waiting'"
_LATEST_DEFINITION = "SELECT id FROM definitions WHERE key = :key ORDER BY version DESC LIMIT 1"


def _history(case_id: int, now: datetime, username: str, action: str, **columns: Any) -> dict[str, Any]:
    row = {"instance_id": case_id, "at": now, "username": username, "action": action, "task_bpmn_id": None,
           "task_name": None, "task_id": None, "data_before": None, "data_after": None, "comment": None}
    row.update(columns)
    return row


class Runtime:
    """The service layer: everything the web, the API, the CLI and the timers call."""

    def __init__(self, db: Database, forms: FormRegistry | None = None) -> None:
        self.db = db
        self.forms = forms or FormRegistry()
        self.models = definitions.ModelCache()
        self.sql = db.sql
        self.live = LiveWorkflows()
        self._groups: tuple[float, frozenset[str]] | None = None

    # ----- reading ---------------------------------------------------------------------------

    def group_keys(self) -> frozenset[str]:
        cached = self._groups
        if cached is None or time.monotonic() - cached[0] > GROUPS_TTL_SECONDS:
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
        row = self.sql.rows(tx, _CASE_AND_STATE, {"id": case.id})
        if not row:
            raise NotFound("案件不存在")
        case = CaseRef(*row[0][:6])
        model = self._model(case.definition_id)
        return case, restore_workflow(orjson.loads(row[0][6]), model)

    def _load(self, session: Session, inst: Instance) -> tuple[BpmnWorkflow, ProcessModel]:
        """A freshly restored workflow for reading (case pages): never the cached one."""
        model = self.models.by_id(session, inst.definition_id)
        return restore_workflow(json.loads(inst.state), model), model

    def _validate(self, form_key: str | None, data: Any, bpmn_id: str, process_key: str,
                  instance_data_: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid("表单数据必须是 JSON 对象", [{"field": "", "message": "应为对象"}])
        _check_keys(data)
        if form_key:
            form = self.forms.get(form_key)
            form.validate(data)
            data = _normalise_dates(form.schema, data)
        module = module_for(process_key)
        validator = getattr(module, "VALIDATORS", {}).get(bpmn_id) if module else None
        if validator is not None:
            errors = validator(data, instance_data_, set(self.group_keys()))
            if errors:
                raise Invalid("表单填写有误，请检查标出的字段", errors)
        return data

    # ----- running the engine -----------------------------------------------------------------

    def _run(self, wf: BpmnWorkflow, action: Any) -> list[dict[str, Any]]:
        """Run an engine action to the next wait; returns the notices its scripts raised."""
        try:
            with notices.collecting() as outbox:
                action()
                wf.do_engine_steps()
                # A timer found due at the end of the steps readies its branch: run that too.
                for _ in range(20):
                    if not has_ready_engine_task(wf):
                        break
                    wf.do_engine_steps()
            return outbox
        except GovFlowError:
            raise
        except (SpiffWorkflowException, Exception) as exc:  # noqa: BLE001 - scripts may raise anything
            log.exception("engine step failed")
            raise EngineFailure(f"流程执行出错，未做任何更改：{exc}") from exc

    def _instance_values(self, process_key: str, wf: BpmnWorkflow, now: datetime) -> dict[str, Any]:
        """The instance row's projected columns (lists and filters read these, never the state)."""
        data = instance_data(wf)
        completed = wf.is_completed()
        module = module_for(process_key)
        shown = module.project(data) if module is not None and hasattr(module, "project") else data
        group = shown.get("handling_group")
        due = shown.get("due_at")
        return {
            "status": "completed" if completed else "running",
            "completed_at": now if completed else None,
            "handling_group": group if isinstance(group, str) and group else None,
            "due_at": clock.parse_datetime(due) if isinstance(due, str) and due else None,
            "title": str(data.get("subject") or data.get("title") or "")[:256],
        }

    def _step(self, case: CaseRef, wf: BpmnWorkflow, now: datetime, before: Before) -> Step:
        """Serialize and project the workflow (outside the write transaction)."""
        return Step(case=case, wf=wf, now=now, state=_json(dump_state(wf)),
                    values=self._instance_values(case.process_key, wf, now),
                    ready={tid: user_task_meta(t) for tid, t in ready_user_tasks(wf).items()},
                    timers=_waiting_dues(wf), before=before)

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
        kept = [tid for tid in step.before.ready if tid in step.ready]
        return [{"id": r[0], "bpmn_id": r[1], "name": r[2], "candidate_groups": [g for g in r[3].split(",") if g],
                 "assignee": r[4]} for r in self._open_rows(session, kept)] + step.opened

    def _guard(self, session: Session | RawTx, step: Step,
               guards: tuple[tuple[str, dict[str, Any], str], ...] = ()) -> list[tuple[Callable[[], int], str]]:
        """Issue the step's guarded updates; returns the row counts to check once known.

        The instance UPDATE only matches the version that was read, so a concurrent step makes
        it match nothing (409); `guards` are further statements that must match one row each
        (sql, params, the conflict's message), checked first."""
        case, values = step.case, step.values
        sql = self.sql
        checks = [(sql.counted(session, statement, params), message) for statement, params, message in guards]
        checks.append((sql.counted(session, _SAVE_CASE, {
            "id": case.id, "version": case.version, "new_version": case.version + 1,
            "now": sql.when(step.now), "serializer": SERIALIZER_VERSION, "status": values["status"],
            "completed_at": sql.when(values["completed_at"]), "handling_group": values["handling_group"],
            "due_at": sql.when(values["due_at"]), "title": values["title"],
        }), "该案件已被他人同时处理，请刷新后重试"))
        return checks

    def _write_step(self, session: Session | RawTx, step: Step, history: bool = True) -> None:
        """The rest of a step whose guards held: state, projections, history (unless the caller
        writes the history of several steps at once)."""
        sql = self.sql
        sql.run(session, _SAVE_STATE, {"id": step.case.id, "state": step.state})
        step.opened = self._project(session, step)
        if history:
            sql.many(session, _NEW_HISTORY, [{**h, "at": sql.when(h["at"])} for h in step.history])

    @staticmethod
    def _settle(step: Step, checks: list[tuple[Callable[[], int], str]]) -> None:
        for count, message in checks:
            if count() != 1:
                raise Conflict(message)
        step.case.version += 1
        step.case.status = step.values["status"]

    def _open_rows(self, session: Session | RawTx, task_ids: list[str]) -> list[tuple[Any, ...]]:
        if not task_ids:
            return []
        marks, params = self.sql.in_list("t", task_ids)
        return self.sql.rows(session, f"{_OPEN_BY_ID} ({marks}) AND state = 'open'", params)

    def _project(self, session: Session | RawTx, step: Step) -> list[dict[str, Any]]:
        """Bring the open-task and waiting-timer rows in line with the workflow (the rows as they
        were are `step.before`); returns the tasks it opened."""
        sql, case, before = self.sql, step.case, step.before
        now = sql.when(step.now)
        gone = sorted(before.ready - step.ready.keys())
        if gone:
            marks, params = sql.in_list("t", gone)
            sql.run(session, f"UPDATE human_tasks SET state = 'cancelled', completed_at = :now WHERE id IN ({marks}) "
                             "AND state = 'open'", {**params, "now": now})
        dropped = gone + step.closed
        if dropped:
            marks, params = sql.in_list("t", dropped)
            sql.run(session, f"DELETE FROM task_candidates WHERE task_id IN ({marks})", params)
        opened, tasks, candidates = [], [], []
        for task_id, meta in step.ready.items():
            if task_id in before.ready:
                continue
            tasks.append({"id": task_id, "instance_id": case.id, "process_key": case.process_key,
                          "business_key": case.business_key, "bpmn_id": meta["bpmn_id"], "name": meta["name"],
                          "form_key": meta["form_key"], "candidate_groups": ",".join(meta["candidate_groups"]),
                          "assignee": meta["assignee"], "now": now, "due_at": sql.when(meta["due_at"])})
            due_sort = sql.when(meta["due_at"] or NO_DUE_DATE)
            candidates += [{"task_id": task_id, "group_key": g, "due_sort": due_sort, "now": now}
                           for g in dict.fromkeys(meta["candidate_groups"])]
            opened.append({"id": task_id, "bpmn_id": meta["bpmn_id"], "name": meta["name"],
                           "candidate_groups": [g for g in meta["candidate_groups"] if g], "assignee": meta["assignee"]})
        sql.many(session, _NEW_TASK, tasks)
        sql.many(session, _NEW_CANDIDATE, candidates)

        stale = [task_id for task_id in before.timers if task_id not in step.timers]
        if stale:
            marks, params = sql.in_list("t", stale)
            sql.run(session, f"UPDATE timers SET state = 'cancelled' WHERE instance_id = :id AND task_id IN ({marks}) "
                             "AND state = 'waiting'", {**params, "id": case.id})
        new_timers, moved = [], []
        for task_id, (due_at, name) in step.timers.items():
            if task_id not in before.timers:
                new_timers.append({"instance_id": case.id, "task_id": task_id, "name": name,
                                   "due_at": sql.when(due_at)})
            elif before.timers[task_id] != due_at:
                moved.append({"id": case.id, "task_id": task_id, "due_at": sql.when(due_at)})
        sql.many(session, _NEW_TIMER, new_timers)
        for row in moved:
            sql.run(session, _MOVE_TIMER, row)
        return opened

    def _finish(self, step: Step, username: str, action: str, **columns: Any) -> None:
        """Queue the command's history row (and the end row when the instance completed)."""
        step.history.append(_history(step.case.id, step.now, username, action, **columns))
        if step.values["status"] == "completed":
            step.history.append(_history(step.case.id, step.now, SYSTEM.username, "end"))

    # ----- commands ------------------------------------------------------------------------

    def start(self, process_key: str, data: Any, actor: Actor) -> dict[str, Any]:
        """Start an instance (登记): validate, number, run to the first wait, save."""
        if not isinstance(data, dict):
            raise Invalid("启动数据必须是 JSON 对象", [{"field": "", "message": "应为对象"}])
        now = clock.now()
        sql = self.sql
        with self.db.raw(begin=False) as session:
            found = sql.rows(session, _LATEST_DEFINITION, {"key": process_key})
            if not found:
                raise NotFound(f"流程 {process_key} 未部署")
            definition_id = int(found[0][0])
            model = self._model(definition_id)
            data = self._validate(model.start_form_key, data, "start", process_key, {})
            module = module_for(process_key)
            session.begin()
            # The number is taken inside the transaction that stores the case: gap-free.
            business_key = self._next_business_key(session, process_key, module, now)
            data = {**data, "business_key": business_key}
            wf = new_workflow(model)
            for task in tasks_in(wf, TaskState.READY):
                task.data.update(data)
            outbox = self._run(wf, lambda: None)
            case = CaseRef(0, 1, definition_id, process_key, business_key, "running")
            step = self._step(case, wf, now, Before())
            values = step.values
            case.id = int(sql.rows(session, _NEW_CASE, {
                "definition_id": definition_id, "process_key": process_key, "business_key": business_key,
                "title": values["title"], "status": values["status"], "now": sql.when(now), "user": actor.username,
                "completed_at": sql.when(values["completed_at"]), "due_at": sql.when(values["due_at"]),
                "handling_group": values["handling_group"], "listed": False, "serializer": SERIALIZER_VERSION,
            })[0][0])
            case.status = values["status"]
            self._finish(step, actor.username, "start", task_name="登记", data_after=_json(data))
            with sql.batch(session):
                sql.run(session, _NEW_STATE, {"id": case.id, "state": step.state})
                open_tasks = self._project(session, step)
                sql.many(session, _NEW_HISTORY, [{**h, "at": sql.when(h["at"])} for h in step.history])
            notices.write(self.db, session, case, outbox, now, actor.username)
        self.live.put(case.id, case.version, case.business_key, wf)
        return {"id": case.id, "business_key": business_key, "status": case.status, "open_tasks": open_tasks}

    def _next_business_key(self, session: Session | RawTx, process_key: str, module: Any, now: datetime) -> str:
        prefix = getattr(module, "BUSINESS_KEY_PREFIX", process_key.upper()[:8])
        digits = int(getattr(module, "BUSINESS_KEY_DIGITS", 6))
        name = f"{prefix}-{now.year}"
        value = self.sql.rows(session, _NEXT_NUMBER, {"name": name})[0][0]
        return f"{name}-{int(value):0{digits}d}"

    def complete(self, task_id: str, data: Any, actor: Actor) -> dict[str, Any]:
        """Complete a human task as `actor`: 404 unknown, 403 not theirs, 409 already done, 422 bad data."""
        now = clock.now()
        with self.db.raw(begin=False) as tx:
            found = self.sql.rows(tx, _TASK_AND_CASE, {"id": task_id})
            if not found:
                raise NotFound("任务不存在")
            (instance_id, state, candidate_groups, assignee, form_key, bpmn_id, name, *case_row) = found[0]
            if state != "open":
                raise Conflict("该任务已办理，不能重复提交")
            if not actor.may_act(candidate_groups, assignee):
                if assignee and actor.groups.intersection(candidate_groups.split(",")):
                    raise Forbidden(f"该任务已由 {assignee} 签收，您不能办理")
                raise Forbidden("您无权办理此任务")
            case, wf = self._workflow(tx, CaseRef(instance_id, *case_row))
            try:
                task = wf.get_task_from_id(_uuid(task_id))
                if task is None or task.state != TaskState.READY:
                    raise Conflict("该任务已不在待办状态")
                before = dict(task.data)  # the task's own data: what this step decides on
                data = self._validate(form_key, data, bpmn_id, case.process_key, before)
                rows_before = Before.of(wf)
                rows_before.ready.discard(task_id)  # closed below, with its own guarded update

                def run() -> None:
                    task.data.update(data)
                    task.run()

                outbox = self._run(wf, run)
                step = self._step(case, wf, now, rows_before)
                step.closed.append(task_id)
                changed = {k: before.get(k) for k in data}
                self._finish(step, actor.username, "complete", task_bpmn_id=bpmn_id, task_name=name,
                             task_id=task_id, data_before=_json(changed), data_after=_json(data),
                             comment=str(data.get("comment")) if data.get("comment") else None)
                tx.begin()
                close = (_CLOSE_TASK, {"id": task_id, "now": self.sql.when(now), "user": actor.username},
                         "该任务已办理，不能重复提交")
                open_tasks = self._save(tx, step, (close,))
                notices.write(self.db, tx, case, outbox, now, actor.username, task_id)
            except BaseException:
                self.live.drop(case.id)
                raise
        self.live.put(case.id, case.version, case.business_key, wf)
        return {"instance": {"id": case.id, "status": case.status, "open_tasks": open_tasks}}

    def claim(self, task_id: str, actor: Actor) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._open_task(session, task_id)
            if row.assignee and row.assignee != actor.username:
                raise Conflict(f"该任务已由 {row.assignee} 签收")
            if not actor.may_act(row.candidate_groups, None):
                raise Forbidden("您无权签收此任务")
            # guarded: two colleagues clicking at once — the second one matches no row
            claimed = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.state == "open",
                       or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.username))
                .values(assignee=actor.username).execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                raise Conflict("该任务刚被他人签收或已办理，请刷新")
            session.add(History(instance_id=row.instance_id, at=clock.now(), username=actor.username,
                                action="claim", task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=row.id))
            return {"id": row.id, "assignee": actor.username}

    def unclaim(self, task_id: str, actor: Actor) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._open_task(session, task_id)
            if row.assignee is None:
                return {"id": row.id, "assignee": None}
            if row.assignee != actor.username and not actor.is_admin:
                raise Conflict(f"该任务由 {row.assignee} 签收，只有签收人可以退回")
            row.assignee = None
            session.add(History(instance_id=row.instance_id, at=clock.now(), username=actor.username,
                                action="unclaim", task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=row.id))
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
            found = self.sql.rows(tx, _CASE, {"id": instance_id})
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
                    notices.write(self.db, tx, case, outbox, now, by)
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
            if payload:
                _check_keys(payload)

            def run() -> None:
                event = MessageEventDefinition(name)
                wf.catch(BpmnEvent(event, {"payload": payload or {}, "result_var": f"{name}_data"}))

            rows_before = Before.of(wf)
            outbox = self._run(wf, run)
            step = self._step(case, wf, now, rows_before)
            self._finish(step, actor.username, "message", task_name=name, data_after=_json(payload or {}))
            return step, outbox, lambda c: {"id": c.id, "status": c.status}, actor.username

        return self._command(instance_id, now, prepare)  # type: ignore[no-any-return]

    # ----- calendar changes ----------------------------------------------------------------

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
            module = module_for(case.process_key)
            hook = getattr(module, "recompute_deadlines", None)
            if case.status != "running" or hook is None:
                return None
            data = instance_data(wf)
            updated = {k: v for k, v in hook(data, add_days).items() if data.get(k) != v}
            if not updated:
                return None
            # Waiting tasks re-inherit their parents' data when refreshed, so every task that
            # carries a deadline key gets the new value, finished ones included.
            rows_before = Before.of(wf)
            for task in wf.get_tasks():
                for key, value in updated.items():
                    if key in task.data:
                        task.data[key] = value
            for task in tasks_in(wf, TaskState.WAITING):
                task.internal_data.pop("event_value", None)
            outbox = self._run(wf, wf.refresh_timers)
            step = self._step(case, wf, now, rows_before)
            self._finish(step, SYSTEM.username, "recalc", task_name="法定期限重新计算",
                         data_before=_json({k: data.get(k) for k in updated}), data_after=_json(updated),
                         comment="节假日安排变更，期限已重新计算")
            return step, outbox, True, SYSTEM.username

        def write(session: RawTx, step: Step) -> None:
            for task_id, meta in step.ready.items():
                self.sql.run(session, "UPDATE human_tasks SET due_at = :due_at WHERE id = :id AND state = 'open'",
                             {"id": task_id, "due_at": self.sql.when(meta["due_at"])})

        return bool(self._command(instance_id, now, prepare, write))

    # ----- timers --------------------------------------------------------------------------

    def next_timer_due(self) -> datetime | None:
        """When the earliest waiting timer falls due (the scheduler sleeps until then)."""
        with self.db.raw(write=False) as tx:
            value = self.sql.rows(tx, _NEXT_DUE)[0][0]
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
            return [r[0] for r in self.sql.rows(tx, _DUE_TIMERS, {"now": self.sql.when(clock.now()), "limit": limit})]

    def _fire_batch(self, limit: int, lease: timedelta, timer_id: int | None = None) -> tuple[int, int]:
        """One transaction; returns (timers fired, timers left for the next batch because
        another timer of their case fired in this one)."""
        sql = self.sql
        query = _CLAIM_TIMERS + (" AND t.id = :timer_id" if timer_id is not None else "") + _CLAIM_ORDER
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
                    notices.write(self.db, tx, step.case, outbox, step.now, SYSTEM.username, task_id)
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
            sql.many(tx, _NEW_HISTORY, [{**h, "at": sql.when(h["at"])} for step, *_r in done for h in step.history])

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
            rows_before = Before.of(wf)
            rows_before.timers.pop(task_id, None)  # its row is marked fired with the step
            outbox = self._run(wf, wf.refresh_timers)
            step = self._step(case, wf, now, rows_before)
        except GovFlowError:
            log.exception("timer %s could not fire; it stays waiting", timer_id)
            self.live.drop(case.id)
            return None
        self._finish(step, SYSTEM.username, "timer", task_name=name, task_id=task_id)
        return step, outbox, timer_id, task_id


def waits_for_message(wf: BpmnWorkflow, name: str) -> bool:
    """Whether some waiting event (alone or in an event-based gateway) catches message `name`."""
    for task in wf.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        items = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        if any(isinstance(i, BaseMessageEventDefinition) and i.name == name for i in items):
            return True
    return False


def waiting_timers(wf: BpmnWorkflow) -> dict[str, tuple[Task, TimerEventDefinition, str]]:
    """Waiting timers by task id, including the timer branch of an event-based gateway."""
    found: dict[str, tuple[Task, TimerEventDefinition, str]] = {}
    for task in wf.event_manager.tasks.values():
        spec = task.task_spec
        definition = spec.event_definition
        if isinstance(definition, TimerEventDefinition):
            found[str(task.id)] = (task, definition, spec.bpmn_name or spec.bpmn_id or spec.name)
        elif isinstance(definition, MultipleEventDefinition):
            for index, item in enumerate(definition.event_definitions):
                if isinstance(item, TimerEventDefinition):
                    target = spec.outputs[index] if index < len(spec.outputs) else spec
                    found[str(task.id)] = (task, item, target.bpmn_name or target.bpmn_id or spec.name)
    return found


def _waiting_dues(wf: BpmnWorkflow) -> dict[str, tuple[datetime, str]]:
    """Waiting timers by task id: (due, name), as the timers table holds them."""
    found: dict[str, tuple[datetime, str]] = {}
    for task_id, (task, definition, name) in waiting_timers(wf).items():
        due_at = _timer_due(task, definition)
        if due_at is not None:
            found[task_id] = (due_at, name)
    return found


def _timer_due(task: Task, definition: TimerEventDefinition) -> datetime | None:
    if task._get_internal_data("event_value") is None and not isinstance(task.task_spec.event_definition,
                                                                          TimerEventDefinition):
        definition.has_fired(task)  # evaluates the expression and records it, as the engine would
    detail = definition.details(task)
    value = detail.value
    if isinstance(value, dict):
        value = value.get("next")
    if value is None:
        return None
    try:
        return clock.parse_datetime(value if isinstance(value, str) else str(value))
    except ValueError:
        return TimerEventDefinition.get_datetime(str(value)).astimezone(clock.BEIJING)


def _uuid(task_id: str) -> Any:
    from uuid import UUID

    try:
        return UUID(task_id)
    except ValueError as exc:
        raise NotFound("任务不存在") from exc
