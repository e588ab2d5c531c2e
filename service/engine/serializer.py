"""Workflow state serializer: Camunda config, state stored without the definition.

The definition is stored once per deployed version and kept parsed in memory, so an
instance's state holds only its tasks and data (about half the size, and faster)."""

from __future__ import annotations

from copy import copy
from types import ModuleType
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.camunda.serializer import DEFAULT_CONFIG as CAMUNDA_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

# Values the registry would hand back unchanged (it converts only registered types, and dicts,
# lists and sets item by item): an engine's internal data is nearly always made of these.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _internal(internal: dict[str, Any], convert: Any) -> dict[str, Any]:
    """registry.convert(internal_data), without the registry's walk for plain values: scalars and
    lists of scalars (a multi-instance task's `merged` ids) are what the walk would return, as
    they are; anything else goes through the registry, and callables are left out as it does."""
    out: dict[str, Any] = {}
    for key, value in internal.items():
        kind = type(value)
        if kind in _PLAIN or (kind is list and all(type(item) in _PLAIN for item in value)):
            out[key] = value
        elif not callable(value) and not isinstance(value, ModuleType):
            out[key] = convert(value)
    return out


def _task_dict(task: Task, convert: Any, ids: dict[UUID, str], tasks: dict[UUID, Task]) -> dict[str, Any]:
    """What SpiffWorkflow's TaskConverter writes (data stored as a delta from the parent's),
    built directly: the generic registry walk costs more than the workflow step it saves."""
    parent_id = task._parent
    parent = tasks.get(parent_id) if parent_id is not None else None
    if parent is None:
        data, delta = task.data, {}
    else:
        before, after = parent.data, task.data
        data = {}
        delta = {
            "updates": {k: v for k, v in after.items() if k not in before or v != before[k]},
            "deletions": [k for k in before if k not in after],
        }
    internal = task.internal_data
    return {
        "id": ids[task.id],
        "parent": ids[parent_id] if parent is not None else None,
        "children": [ids.get(child) or str(child) for child in task._children],
        "last_state_change": task.last_state_change,
        "state": task._state,
        "task_spec": task.task_spec.name,
        "triggered": task.triggered,
        "internal_data": _internal(internal, convert) if internal else {},
        "data": data,
        "delta": delta,
        "typename": "Task",
    }


def _restore_tasks(workflow: BpmnWorkflow, tasks: dict[str, Any], restore: Any) -> dict[UUID, Task]:
    """What SpiffWorkflow's TaskConverter.from_dict does for each task, without the registry
    walk per task and parsing each id once (it appears as id, parent and child)."""
    uuids: dict[str, UUID] = {}

    def uuid(text: str) -> UUID:
        value = uuids.get(text)
        if value is None:
            value = uuids[text] = UUID(text)
        return value

    specs = workflow.spec.task_specs
    events = workflow.top_workflow.event_manager
    for dct in tasks.values():
        spec = specs.get(dct["task_spec"])
        task = Task(workflow, spec, state=dct["state"], id=uuid(dct["id"]))  # registers in workflow.tasks
        parent_id = uuid(dct["parent"]) if dct["parent"] is not None else None
        task._parent = parent_id
        task._children = [uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = restore(dct["internal_data"])
        if isinstance(spec, CatchingEvent) and task._state & TaskState.WAITING:
            events.add_task(task)
        delta = dct.get("delta")
        parent = workflow.tasks.get(parent_id) if parent_id is not None else None
        if delta and parent is not None:
            # DeepMerge.merge({}, parent.data): a copy with mutable values copied one level deep
            data = {k: copy(v) if isinstance(v, dict | list | set) else v for k, v in parent.data.items()}
            data.update(restore(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                data.pop(key, None)
        else:
            data = restore(dct["data"])
        task.data = data
    return dict(workflow.tasks)


# Where a workflow object keeps its tasks' ids as text between steps (an id never changes, and
# formatting a UUID costs more than the rest of writing its task).
IDS_ATTRIBUTE = "govflow_task_ids"


def _ids(workflow: BpmnWorkflow) -> dict[UUID, str]:
    """The text of every task id of `workflow`, remembered on it (new tasks added; the memory
    starts afresh when it holds far more ids than the workflow has tasks)."""
    known: dict[UUID, str] | None = workflow.__dict__.get(IDS_ATTRIBUTE)
    if known is None or len(known) > 2 * len(workflow.tasks) + 64:
        known = workflow.__dict__[IDS_ATTRIBUTE] = {}
    for key in workflow.tasks.keys() - known.keys():
        known[key] = str(key)
    return known


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves the process spec out of the dict and takes it back from the caller."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        registry = self.registry
        tasks = workflow.tasks
        ids = _ids(workflow)  # each id is written three times: as id, parent, child
        return {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": {ids[k]: _task_dict(t, registry.convert, ids, tasks) for k, t in tasks.items()},
            "root": ids.get(workflow.task_tree.id) or str(workflow.task_tree.id),
            "subprocesses": self.mapping_to_dict(workflow.subprocesses),
            "bpmn_events": registry.convert(workflow.bpmn_events),
        }

    def from_dict(self, dct: dict[str, Any], **kwargs: Any) -> BpmnWorkflow:  # type: ignore[override]
        spec: BpmnProcessSpec = kwargs["spec"]
        workflow = self.target_class(spec, kwargs.get("subprocess_specs") or {}, deserializing=True)
        workflow.tasks = _restore_tasks(workflow, dct["tasks"], self.registry.restore)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def make_serializer() -> BpmnWorkflowSerializer:
    config = dict(CAMUNDA_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = make_serializer()
SERIALIZER_VERSION = SERIALIZER.VERSION


def dump_state(workflow: BpmnWorkflow) -> dict[str, Any]:
    return SERIALIZER.to_dict(workflow)


def load_state(state: dict[str, Any], spec: BpmnProcessSpec, subprocess_specs: dict[str, Any]) -> BpmnWorkflow:
    return SERIALIZER.registry.restore(state, spec=spec, subprocess_specs=subprocess_specs)
