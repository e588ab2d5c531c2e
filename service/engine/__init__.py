"""The engine wrapper: one place owns the parser, serializer and restricted script engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import SpiffWorkflow.bpmn.specs.event_definitions.timer as _timer_module
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from service import calendar, clock
from service.engine.parser import GovFlowParser
from service.engine.scripts import RestrictedScriptEngine
from service.engine.serializer import SERIALIZER_VERSION, dump_state, load_state
from service.engine.taskdata import completed_children, instance_view, task_data

__all__ = [
    "SERIALIZER_VERSION", "ProcessModel", "SCRIPT_ENGINE", "dump_state", "load_state",
    "parse_processes", "new_workflow", "restore_workflow", "user_task_meta", "expression_value", "tasks_in",
    "ready_user_tasks", "ReadyMeta", "open_task_groups", "has_ready_engine_task", "install_helpers",
    "task_data", "instance_view", "completed_children",
]


class _ClockDatetime(datetime):
    """SpiffWorkflow's timers ask datetime.now(); answer with GovFlow's clock."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)


_timer_module.datetime = _ClockDatetime  # type: ignore[attr-defined]

# SpiffWorkflow logs every task state change at INFO: far too costly for a server. The level is
# set on each of its loggers, not only on "spiff": it builds its log extras (task data, the list
# of every task id) whenever that logger's own level is below INFO, even if nothing is emitted.
for _name in ("spiff", "spiff.task", "spiff.workflow", "spiff.data", "spiff.dmn"):
    logging.getLogger(_name).setLevel(logging.WARNING)

_task_logger = logging.getLogger("spiff.task")
_library_set_state = Task._set_state


def _set_state(self: Task, value: int) -> None:
    """Task._set_state without formatting a log line nobody reads: the library builds the
    message and its extras (two state-name lookups that each build a dict) on every state
    change, ~10 % of the engine's time, whatever the log level. Same effect otherwise."""
    if _task_logger.isEnabledFor(logging.INFO):
        _library_set_state(self, value)
    elif value != self._state:
        self.last_state_change = time.time()
        self._state = value


Task._set_state = _set_state  # type: ignore[method-assign]


# The platform's own helpers; the rest (notify, each procedure's namespace) are injected at
# start-up by service.bootstrap through install_helpers, so the engine imports nothing above it.
SCRIPT_ENGINE = RestrictedScriptEngine({"add_days": calendar.add_days, "now": clock.now_iso})


def install_helpers(helpers: dict[str, Any]) -> None:
    """Add functions (or procedure namespaces) that diagrams' scripts and expressions may call."""
    SCRIPT_ENGINE.environment.globals.update(helpers)


@dataclass
class ProcessModel:
    """A parsed process definition, shared by every instance of that version."""

    key: str
    name: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, Any]
    start_form_key: str | None = None
    lines: dict[str, int] = field(default_factory=dict)


def parse_processes(root: etree._Element, filename: str = "diagram.bpmn") -> dict[str, ProcessModel]:
    """Parse an already safely-loaded BPMN document into its executable processes."""
    parser = GovFlowParser()
    parser.add_bpmn_xml(root, filename=filename)
    models: dict[str, ProcessModel] = {}
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    for key in parser.get_process_ids():
        node = root.xpath(f'.//bpmn:process[@id="{key}"]', namespaces=ns)[0]
        start_form = None
        for start in node.xpath("./bpmn:startEvent", namespaces=ns):
            start_form = start.get("{http://camunda.org/schema/1.0/bpmn}formKey") or start_form
        models[key] = ProcessModel(
            key=key,
            name=node.get("name") or key,
            spec=parser.get_spec(key),
            subprocess_specs=parser.get_subprocess_specs(key),
            start_form_key=start_form,
        )
        connect_loops(models[key])
    return models


def connect_loops(model: ProcessModel) -> None:
    """Connect each multi-instance task to its child spec's completion, as the library's spec
    serializer does. The library connects them only when it creates a child, so a freshly parsed
    spec (a restart, another node, a migration's target) would never merge children created
    before: a round whose departments all reported would stop with no next task."""
    for spec in [model.spec, *model.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, LoopTask):
                child = spec.task_specs.get(task_spec.task_spec)
                if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                    child.completed_event.connect(task_spec.merge_child)


def new_workflow(model: ProcessModel) -> BpmnWorkflow:
    return BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=SCRIPT_ENGINE)


def restore_workflow(state: dict[str, Any], model: ProcessModel) -> BpmnWorkflow:
    wf = load_state(state, model.spec, model.subprocess_specs)
    wf.script_engine = SCRIPT_ENGINE
    return wf


def tasks_in(wf: BpmnWorkflow, state: int) -> list[Task]:
    """The workflow's (and its subprocesses') tasks in `state`, a TaskState mask, in creation order.

    `get_tasks()` walks the task tree through a generic iterator; scanning the task dicts gives
    the same tasks several times faster, and the service asks this question on every step."""
    found = [t for t in wf.tasks.values() if t.state & state]
    for sub in wf.subprocesses.values():
        found.extend(t for t in sub.tasks.values() if t.state & state)
    return found


def ready_user_tasks(wf: BpmnWorkflow) -> dict[str, Task]:
    """Ready human tasks by id (str)."""
    return {str(t.id): t for t in tasks_in(wf, TaskState.READY) if t.task_spec.manual}


def has_ready_engine_task(wf: BpmnWorkflow) -> bool:
    """Whether the engine still has work of its own (a timer branch readied by a late timer)."""
    return any(not t.task_spec.manual for t in tasks_in(wf, TaskState.READY))


def expression_value(task: Task, raw: str | None) -> Any:
    """`${expr}` is evaluated on the task's data; anything else is a literal."""
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if text.startswith("${") and text.endswith("}"):
        return SCRIPT_ENGINE.evaluate(task, text[2:-1])
    return text


def user_task_meta(task: Task) -> dict[str, Any]:
    """Who may act on a ready user task, its form and due date, evaluated on its data."""
    spec = task.task_spec
    ext = getattr(spec, "extensions", {}) or {}
    groups_value = expression_value(task, ext.get("candidateGroups"))
    if groups_value is None and ext.get("lane"):
        groups_value = ext["lane"]
    if isinstance(groups_value, str):
        groups = [g.strip() for g in groups_value.split(",") if g.strip()]
    else:
        groups = [str(g) for g in (groups_value or [])]
    form_key = ext.get("formKey") or (spec.form.key if isinstance(spec, UserTask) else None)
    due = expression_value(task, ext.get("dueDate"))
    return {
        "bpmn_id": spec.bpmn_id,
        "name": spec.bpmn_name or spec.bpmn_id,
        "candidate_groups": groups,
        "assignee": expression_value(task, ext.get("assignee")),
        "form_key": form_key or None,
        "due_at": clock.parse_datetime(due) if due else None,
    }


def open_task_groups(wf: BpmnWorkflow, bpmn_id: str) -> list[str]:
    """The candidate groups of the workflow's ready user tasks `bpmn_id`, in task order (the
    recipients of a `notify_open`, e.g. the departments whose report is still missing)."""
    groups: list[str] = []
    for task in ready_user_tasks(wf).values():
        if task.task_spec.bpmn_id == bpmn_id:
            groups += user_task_meta(task)["candidate_groups"]
    return groups


class ReadyMeta(Mapping[str, dict[str, Any]]):
    """The ready human tasks of a workflow by id, each one's `user_task_meta` evaluated only when
    asked for: a step writes the meta of the tasks it opened, not of every task still waiting (a
    round of 50 departments would otherwise evaluate 50 expressions at each report)."""

    def __init__(self, wf: BpmnWorkflow) -> None:
        self._tasks = ready_user_tasks(wf)
        self._meta: dict[str, dict[str, Any]] = {}

    def __getitem__(self, task_id: str) -> dict[str, Any]:
        found = self._meta.get(task_id)
        if found is None:
            found = self._meta[task_id] = user_task_meta(self._tasks[task_id])
        return found

    def __contains__(self, task_id: object) -> bool:  # without evaluating the meta (Mapping's would)
        return task_id in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)
