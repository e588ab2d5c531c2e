"""Commands on process instances. Each command is one database transaction:
lock (version check), load, run the engine, save state + tasks + timers + history, commit."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

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
from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from service import clock, definitions, notices
from service.actors import SYSTEM, Actor
from service.engine import (
    SERIALIZER_VERSION,
    ProcessModel,
    dump_state,
    new_workflow,
    restore_workflow,
    user_task_meta,
)
from service.errors import Conflict, EngineFailure, Forbidden, GovFlowError, Invalid, NotFound
from service.forms import FormRegistry
from service.store.db import Database
from service.store.models import Group, History, HumanTask, Instance, InstanceState, TaskCandidate, Timer
from workflows import module_for

log = logging.getLogger(__name__)

RESERVED_PREFIXES = ("_",)
# Sort key for tasks without a due date: after every real one.
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=clock.BEIJING)


def _json(value: Any) -> str:
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
    live = [t for t in wf.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
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


class Runtime:
    """The service layer: everything the web, the API, the CLI and the timers call."""

    def __init__(self, db: Database, forms: FormRegistry | None = None) -> None:
        self.db = db
        self.forms = forms or FormRegistry()
        self.models = definitions.ModelCache()

    # ----- helpers -------------------------------------------------------------------------

    def _validate(self, form_key: str | None, data: Any, bpmn_id: str, process_key: str,
                  instance_data_: dict[str, Any], session: Session) -> dict[str, Any]:
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
            groups = set(session.scalars(select(Group.key)))
            errors = validator(data, instance_data_, groups)
            if errors:
                raise Invalid("表单填写有误，请检查标出的字段", errors)
        return data

    def _run(self, wf: BpmnWorkflow, action: Any) -> list[dict[str, Any]]:
        """Run an engine action to the next wait; returns the notices its scripts raised."""
        try:
            with notices.collecting() as outbox:
                action()
                wf.do_engine_steps()
                # A timer found due at the end of the steps readies its branch: run that too.
                for _ in range(20):
                    if not any(not t.task_spec.manual for t in wf.get_tasks(state=TaskState.READY)):
                        break
                    wf.do_engine_steps()
            return outbox
        except GovFlowError:
            raise
        except (SpiffWorkflowException, Exception) as exc:  # noqa: BLE001 - scripts may raise anything
            log.exception("engine step failed")
            raise EngineFailure(f"流程执行出错，未做任何更改：{exc}") from exc

    def _instance_values(self, inst: Instance, wf: BpmnWorkflow, now: datetime) -> dict[str, Any]:
        """The instance row's projected columns (lists and filters read these, never the state)."""
        data = instance_data(wf)
        completed = wf.is_completed()
        module = module_for(inst.process_key)
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

    def _project(self, session: Session, inst: Instance, wf: BpmnWorkflow, now: datetime) -> None:
        """Write the instance's projections: open human tasks and waiting timers."""
        with session.no_autoflush:
            ready = {str(t.id): t for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.manual}
            open_ids = set(session.scalars(
                select(HumanTask.id).where(HumanTask.instance_id == inst.id, HumanTask.state == "open")))
            gone = sorted(open_ids - ready.keys())
            if gone:
                session.execute(update(HumanTask).where(HumanTask.id.in_(gone))
                                .values(state="cancelled", completed_at=now)
                                .execution_options(synchronize_session=False))
                session.execute(delete(TaskCandidate).where(TaskCandidate.task_id.in_(gone)))
            tasks, candidates = [], []
            for task_id, task in ready.items():
                if task_id in open_ids:
                    continue
                meta = user_task_meta(task)
                tasks.append(HumanTask(
                    id=task_id, instance_id=inst.id, process_key=inst.process_key,
                    business_key=inst.business_key, bpmn_id=meta["bpmn_id"], name=meta["name"],
                    form_key=meta["form_key"], candidate_groups=",".join(meta["candidate_groups"]),
                    assignee=meta["assignee"], state="open", created_at=now, due_at=meta["due_at"],
                ))
                due_sort = meta["due_at"] or NO_DUE_DATE
                candidates += [TaskCandidate(task_id=task_id, group_key=g, due_sort=due_sort, created_at=now)
                               for g in dict.fromkeys(meta["candidate_groups"])]
            session.add_all(tasks)
            session.add_all(candidates)

            waiting = waiting_timers(wf)
            rows = dict(session.execute(select(Timer.task_id, Timer.id).where(
                Timer.instance_id == inst.id, Timer.state == "waiting")).all())
            stale = [timer_id for task_id, timer_id in rows.items() if task_id not in waiting]
            if stale:
                session.execute(update(Timer).where(Timer.id.in_(stale)).values(state="cancelled")
                                .execution_options(synchronize_session=False))
            for task_id, (task, definition, name) in waiting.items():
                due_at = _timer_due(task, definition)
                if due_at is None:
                    continue
                if task_id in rows:
                    session.execute(update(Timer).where(Timer.id == rows[task_id], Timer.due_at != due_at)
                                    .values(due_at=due_at).execution_options(synchronize_session=False))
                else:
                    session.add(Timer(instance_id=inst.id, task_id=task_id, state="waiting", due_at=due_at,
                                      name=name))

    def _save(self, session: Session, inst: Instance, wf: BpmnWorkflow, now: datetime) -> None:
        """One UPDATE writes state and projected columns; it only matches the version that was
        loaded (optimistic lock), so a concurrent step makes it match nothing: 409."""
        state = _json(dump_state(wf))
        values = self._instance_values(inst, wf, now)
        result = session.execute(
            update(Instance)
            .where(Instance.id == inst.id, Instance.version == inst.version)
            .values(version=inst.version + 1, updated_at=now, last_step_at=now,
                    serializer_version=SERIALIZER_VERSION, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict("该案件已被他人同时处理，请刷新后重试")
        session.execute(update(InstanceState).where(InstanceState.instance_id == inst.id).values(state=state)
                        .execution_options(synchronize_session=False))
        for key, value in {"version": inst.version + 1, "updated_at": now, "last_step_at": now,
                           **values}.items():
            set_committed_value(inst, key, value)
        if "state_row" in inst.__dict__ and inst.state_row is not None:
            set_committed_value(inst.state_row, "state", state)
        self._project(session, inst, wf, now)

    def _load(self, session: Session, inst: Instance) -> tuple[BpmnWorkflow, ProcessModel]:
        model = self.models.by_id(session, inst.definition_id)
        return restore_workflow(json.loads(inst.state), model), model

    # ----- commands ------------------------------------------------------------------------

    def start(self, process_key: str, data: Any, actor: Actor) -> dict[str, Any]:
        """Start an instance (登记): validate, number, run to the first wait, save."""
        if not isinstance(data, dict):
            raise Invalid("启动数据必须是 JSON 对象", [{"field": "", "message": "应为对象"}])
        now = clock.now()
        with self.db.write() as session:
            definition = definitions.latest(session, process_key)
            model = self.models.model(definition)
            data = self._validate(model.start_form_key, data, "start", process_key, {}, session)
            module = module_for(process_key)
            business_key = self._next_business_key(session, process_key, module, now)
            data = {**data, "business_key": business_key}
            wf = new_workflow(model)
            for task in wf.get_tasks(state=TaskState.READY):
                task.data.update(data)
            outbox = self._run(wf, lambda: None)
            inst = Instance(
                definition_id=definition.id, process_key=process_key, business_key=business_key,
                state=_json(dump_state(wf)), serializer_version=SERIALIZER_VERSION, version=1,
                started_at=now, started_by=actor.username, updated_at=now, last_step_at=now,
            )
            for key, value in self._instance_values(inst, wf, now).items():
                setattr(inst, key, value)
            session.add(inst)
            session.flush()
            self._project(session, inst, wf, now)
            notices.write(session, inst, outbox, now, actor.username)
            session.add(History(instance_id=inst.id, at=now, username=actor.username, action="start",
                                task_bpmn_id=None, task_name="登记", data_after=_json(data)))
            if inst.status == "completed":
                session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="end"))
            return {"id": inst.id, "business_key": business_key, "status": inst.status,
                    "open_tasks": self._open_tasks(session, inst.id)}

    def _next_business_key(self, session: Session, process_key: str, module: Any, now: datetime) -> str:
        prefix = getattr(module, "BUSINESS_KEY_PREFIX", process_key.upper()[:8])
        digits = int(getattr(module, "BUSINESS_KEY_DIGITS", 6))
        name = f"{prefix}-{now.year}"
        value = session.execute(
            text(
                "INSERT INTO sequences (name, value) VALUES (:name, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value"
            ),
            {"name": name},
        ).scalar_one()
        return f"{name}-{value:0{digits}d}"

    def complete(self, task_id: str, data: Any, actor: Actor) -> dict[str, Any]:
        """Complete a human task as `actor`: 404 unknown, 403 not theirs, 409 already done, 422 bad data."""
        now = clock.now()
        with self.db.write() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound("任务不存在")
            if row.state != "open":
                raise Conflict("该任务已办理，不能重复提交")
            if not actor.may_act(row.candidate_groups, row.assignee):
                if row.assignee and actor.groups.intersection(row.candidate_groups.split(",")):
                    raise Forbidden(f"该任务已由 {row.assignee} 签收，您不能办理")
                raise Forbidden("您无权办理此任务")
            inst = session.get(Instance, row.instance_id)
            assert inst is not None
            wf, _model = self._load(session, inst)
            task = wf.get_task_from_id(_uuid(task_id))
            if task is None or task.state != TaskState.READY:
                raise Conflict("该任务已不在待办状态")
            before = dict(task.data)  # the task's own data: what this step decides on
            data = self._validate(row.form_key, data, row.bpmn_id, inst.process_key, before, session)

            def run() -> None:
                task.data.update(data)
                task.run()

            outbox = self._run(wf, run)
            claimed = session.execute(
                update(HumanTask)
                .where(HumanTask.id == task_id, HumanTask.state == "open",
                       or_(HumanTask.assignee.is_(None), HumanTask.assignee == actor.username))
                .values(state="completed", completed_at=now, completed_by=actor.username)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:
                raise Conflict("该任务已办理，不能重复提交")
            session.execute(delete(TaskCandidate).where(TaskCandidate.task_id == task_id))
            set_committed_value(row, "state", "completed")
            self._save(session, inst, wf, now)
            notices.write(session, inst, outbox, now, actor.username, task_id)
            changed = {k: before.get(k) for k in data}
            session.add(History(
                instance_id=inst.id, at=now, username=actor.username, action="complete",
                task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=task_id,
                data_before=_json(changed), data_after=_json(data),
                comment=str(data.get("comment")) if data.get("comment") else None,
            ))
            if inst.status == "completed":
                session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="end"))
            return {"instance": {"id": inst.id, "status": inst.status,
                                 "open_tasks": self._open_tasks(session, inst.id)}}

    def _open_tasks(self, session: Session, instance_id: int) -> list[dict[str, Any]]:
        """The instance's open tasks after the step, so a client needs no extra request."""
        rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                       HumanTask.state == "open"))
        return [{"id": r.id, "bpmn_id": r.bpmn_id, "name": r.name,
                 "candidate_groups": [g for g in r.candidate_groups.split(",") if g], "assignee": r.assignee}
                for r in rows]

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
            set_committed_value(row, "assignee", actor.username)
            session.add(History(instance_id=row.instance_id, at=clock.now(), username=actor.username,
                                action="claim", task_bpmn_id=row.bpmn_id, task_name=row.name, task_id=row.id))
            return {"id": row.id, "assignee": row.assignee}

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

    def send_message(self, instance_id: int, name: str, payload: Any, actor: Actor) -> dict[str, Any]:
        """Deliver a BPMN message (e.g. review_request, 复查申请) to a waiting instance."""
        now = clock.now()
        if payload is not None and not isinstance(payload, dict):
            raise Invalid("消息内容必须是 JSON 对象")
        with self.db.write() as session:
            inst = session.get(Instance, instance_id)
            if inst is None:
                raise NotFound("案件不存在")
            if inst.status != "running":
                raise Conflict("案件已结束，不能再接收消息")
            wf, _model = self._load(session, inst)
            if not waits_for_message(wf, name):
                raise Conflict(f"案件当前不在等待“{name}”消息")
            if payload:
                _check_keys(payload)

            def run() -> None:
                event = MessageEventDefinition(name)
                wf.catch(BpmnEvent(event, {"payload": payload or {}, "result_var": f"{name}_data"}))

            outbox = self._run(wf, run)
            self._save(session, inst, wf, now)
            notices.write(session, inst, outbox, now, actor.username)
            session.add(History(instance_id=inst.id, at=now, username=actor.username, action="message",
                                task_name=name, data_after=_json(payload or {})))
            if inst.status == "completed":
                session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="end"))
            return {"id": inst.id, "status": inst.status}

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
        with self.db.write() as session:
            inst = session.get(Instance, instance_id)
            if inst is None or inst.status != "running":
                return False
            module = module_for(inst.process_key)
            hook = getattr(module, "recompute_deadlines", None)
            if hook is None:
                return False
            wf, _model = self._load(session, inst)
            data = instance_data(wf)
            updated = {k: v for k, v in hook(data, add_days).items() if data.get(k) != v}
            if not updated:
                return False
            # Waiting tasks re-inherit their parents' data when refreshed, so every task that
            # carries a deadline key gets the new value, finished ones included.
            for task in wf.get_tasks():
                for key, value in updated.items():
                    if key in task.data:
                        task.data[key] = value
            for task in wf.get_tasks(state=TaskState.WAITING):
                task.internal_data.pop("event_value", None)
            outbox = self._run(wf, wf.refresh_timers)
            self._save(session, inst, wf, now)
            for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == inst.id,
                                                               HumanTask.state == "open")):
                task = wf.get_task_from_id(_uuid(row.id))
                if task is not None:
                    row.due_at = user_task_meta(task)["due_at"]
            notices.write(session, inst, outbox, now, SYSTEM.username)
            session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="recalc",
                                task_name="法定期限重新计算", data_before=_json({k: data.get(k) for k in updated}),
                                data_after=_json(updated), comment="节假日安排变更，期限已重新计算"))
            return True

    # ----- timers --------------------------------------------------------------------------

    def due_timer_ids(self, limit: int = 100) -> list[int]:
        with self.db.read() as session:
            return list(session.scalars(
                select(Timer.id).where(Timer.state == "waiting", Timer.due_at <= clock.now())
                .order_by(Timer.due_at, Timer.id).limit(limit)
            ))

    def fire_timer(self, timer_id: int, lease: timedelta = timedelta(seconds=60)) -> bool:
        """Fire one due timer exactly once: claim its row, run the engine, save, in one transaction."""
        now = clock.now()
        try:
            with self.db.write() as session:
                query = select(Timer).where(Timer.id == timer_id, Timer.state == "waiting", Timer.due_at <= now)
                if self.db.dialect == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                timer = session.scalars(query).first()
                if timer is None:
                    return False
                timer.state = "fired"
                timer.fired_at = now
                timer.lease_until = now + lease
                inst = session.get(Instance, timer.instance_id)
                if inst is None or inst.status != "running":
                    timer.state = "cancelled"
                    return False
                wf, _model = self._load(session, inst)
                outbox = self._run(wf, wf.refresh_timers)
                session.flush()
                self._save(session, inst, wf, now)
                notices.write(session, inst, outbox, now, SYSTEM.username, timer.task_id)
                session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="timer",
                                    task_name=timer.name, task_id=timer.task_id))
                if inst.status == "completed":
                    session.add(History(instance_id=inst.id, at=now, username=SYSTEM.username, action="end"))
                return True
        except Conflict:
            return False

    def fire_due_timers(self, limit: int = 100) -> int:
        fired = 0
        for timer_id in self.due_timer_ids(limit):
            try:
                if self.fire_timer(timer_id):
                    fired += 1
            except EngineFailure:
                log.exception("timer %s failed", timer_id)
        return fired


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
