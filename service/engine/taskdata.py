"""Per-task data: what each task of a case shows and keeps, multi-instance children kept apart.

A multi-instance activity (one task per department) runs one child task per element of its
collection. Merging every live task's data into one view lets the children overwrite each other
(each department's `zero_report` hides the others'), and SpiffWorkflow carries nothing a child set
past the join: the Camunda flavour only writes the element variable back into the collection. So
the case view reports each live child apart, and a procedure reads what each completed child set
from the task tree (which keeps completed tasks) instead of from the data after the join.

Pure functions over a workflow: no database, no web."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask, SequentialMultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

__all__ = ["PER_TASK", "COLLECT", "task_data", "instance_view", "completed_children", "collect_output"]

# The key of instance_view's result under which live multi-instance children are reported.
PER_TASK = "per_task"

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED

# The extension property (camunda:property name="collect" value="<variable>") of a multi-instance
# user task whose children's submissions are kept, in completion order, in that case variable.
COLLECT = "collect"


def _tasks_in(wf: BpmnWorkflow, state: int) -> list[Task]:
    """service.engine.tasks_in (the same scan, in the same order); not imported from there because
    the engine package imports this module."""
    found = [t for t in wf.tasks.values() if t.state & state]
    for sub in wf.subprocesses.values():
        found.extend(t for t in sub.tasks.values() if t.state & state)
    return found


# Answers worked out once per parsed spec and question (specs are shared by every case of a
# deployed version, and these are asked at every step): id(spec) -> (spec, answer).
_MULTI_INSTANCE: dict[int, tuple[Any, Any]] = {}
_COLLECTIONS: dict[int, tuple[Any, Any]] = {}


def _per_spec(cache: dict[int, tuple[Any, Any]], spec: Any, answer: Callable[[Any], Any]) -> Any:
    cached = cache.get(id(spec))
    if cached is not None and cached[0] is spec:  # the id of a spec gone could be reused
        return cached[1]
    if len(cache) > 1000:
        cache.clear()
    found = answer(spec)
    cache[id(spec)] = (spec, found)
    return found


def _has_multi_instance(wf: BpmnWorkflow) -> bool:
    """Whether the workflow's process (or a subprocess of it) has a multi-instance activity."""
    specs = [wf.spec, *wf.subprocess_specs.values()]
    return bool(_per_spec(_MULTI_INSTANCE, wf.spec, lambda _spec: any(
        isinstance(s, MultiInstanceTask) for p in specs for s in p.task_specs.values())))


def _activity(task: Task) -> Task | None:
    """The multi-instance task `task` is a child of, or None if it is not a multi-instance child."""
    parent = task.parent
    if parent is not None and isinstance(parent.task_spec, MultiInstanceTask) \
            and parent.task_spec.task_spec == task.task_spec.name:
        return parent
    return None


def _element_name(spec: MultiInstanceTask) -> str | None:
    """The element variable (camunda:elementVariable): the engine sets the output item from it at
    run time, the input item only once the activity started in this process."""
    ref = spec.input_item or spec.output_item
    return ref.bpmn_id if ref is not None else None


def _collections(spec: MultiInstanceTask) -> frozenset[str]:
    return frozenset(ref.bpmn_id for ref in (spec.data_input, spec.data_output) if ref is not None)


def _collection_names(spec: MultiInstanceTask) -> frozenset[str]:
    """The collection (camunda:collection): the activity's own bookkeeping, rewritten as children
    complete, so it is never what a child "set" (asked for every live child at every step)."""
    return _per_spec(_COLLECTIONS, spec, _collections)  # type: ignore[no-any-return]


def _handed(child: Task, activity: Task) -> dict[str, Any]:
    """The data the activity handed `child` when it created it.

    Not the activity's data now: that also collects what its children return (the collection is
    rewritten; without an output collection the engine merges each child's whole data into it). It
    is the data the activity started from (its parent's: a completed task's data no longer changes)
    and, for a sequential activity that merges whole data, what the children before this one merged."""
    start = activity.parent
    base = start.data if start is not None else activity.data
    spec = activity.task_spec
    if isinstance(spec, SequentialMultiInstanceTask) and (spec.data_output is None or spec.output_item is None):
        base = deepcopy(base)
        for merged in activity.internal_data.get("merged", []):
            if merged == str(child.id):
                break
            earlier = activity.workflow.tasks.get(UUID(merged))
            if earlier is not None:  # a copy: DeepMerge changes nested values in place
                DeepMerge.merge(base, deepcopy(earlier.data))
    return base


def _element(child: Task, activity: Task, handed: dict[str, Any]) -> Any:
    """The element of the collection the child was created for (as handed, even if the child then
    replaced its element variable), or its index when the activity counts instead of iterating."""
    where = child.internal_data.get("key_or_index")
    for name in _collection_names(activity.task_spec):
        collection = handed.get(name)
        if where is not None and isinstance(collection, dict | list | tuple):
            try:
                return collection[where]
            except (KeyError, IndexError, TypeError):
                pass
    if "item" in child.internal_data:
        return child.internal_data["item"]
    name = _element_name(activity.task_spec)
    if name is not None and name in child.data:
        return child.data[name]
    return where


def _own(child: Task, activity: Task, handed: dict[str, Any]) -> dict[str, Any]:
    """What the child keeps of its own: its element variable and every key it set or changed."""
    skip = _collection_names(activity.task_spec)
    own = {k: v for k, v in child.data.items() if k not in skip and (k not in handed or handed[k] != v)}
    name = _element_name(activity.task_spec)
    if name is not None and name in child.data:
        own[name] = child.data[name]
    return own


def task_data(task: Task) -> dict[str, Any]:
    """The data this one task shows and keeps: its whole data, except for a multi-instance child,
    whose case data is its activity's: then only its element variable and what was set on it."""
    activity = _activity(task)
    if activity is None:
        return dict(task.data)
    return _own(task, activity, _handed(task, activity))


def _joined(join: Task) -> dict[str, Any]:
    """A parallel join waiting for its other branches holds no data yet (SpiffWorkflow merges it
    when the join fires): what the branches that arrived set is still where the case stands —
    their data as the join will merge it (the earlier arrivals first, as its run hook does)."""
    spec = join.task_spec
    arrived = [t for t in join.workflow.tasks.values() if t.task_spec == spec and t is not join
               and t.has_state(TaskState.FINISHED_MASK) and not join.is_descendant_of(t) and t.parent is not None]
    data: dict[str, Any] = {}
    for task in sorted(arrived, key=lambda t: t.last_state_change):
        data.update(task.parent.data)
    if join.parent is not None:
        data.update(join.parent.data)
    data.update(join.data)
    return data


def instance_view(wf: BpmnWorkflow) -> dict[str, Any]:
    """The case data as people see it: the data of the tasks where the instance now stands.

    As service.runtime.instance_data (the same result when no multi-instance child is live), except
    that live multi-instance children do not overwrite each other: what each one set is left out of
    the merged data and reported under PER_TASK, {task id: {bpmn_id, element, data}}; the keys they
    only inherited stay in the merge. A case variable named like PER_TASK is shadowed while
    children are live."""
    if wf.is_completed():
        data = dict(wf.data)
        if wf.last_task is not None:
            data.update(wf.last_task.data)
        return data
    # Merge the live flow nodes oldest first, so the newest copy of a key wins: a branch spawned
    # earlier (a 督办 rung) must not hide what the main path changed since (an extension).
    live = [t for t in _tasks_in(wf, LIVE) if t.task_spec.bpmn_id]
    data: dict[str, Any] = {}
    if not _has_multi_instance(wf):  # most diagrams: the plain merge (this runs on every step)
        for task in sorted(live, key=lambda t: t.last_state_change):
            data.update(_joined(task) if task.state == TaskState.WAITING and isinstance(task.task_spec, UnstructuredJoin)
                        else task.data)
        if not data and wf.last_task is not None:
            data.update(wf.last_task.data)
        return data
    per_task: dict[str, dict[str, Any]] = {}
    for task in sorted(live, key=lambda t: t.last_state_change):
        activity = _activity(task)
        if activity is None:
            data.update(task.data)
            continue
        handed = _handed(task, activity)
        own = _own(task, activity, handed)
        skip = _collection_names(activity.task_spec)
        data.update({k: v for k, v in task.data.items() if k not in own and k not in skip})
        per_task[str(task.id)] = {
            "bpmn_id": task.task_spec.bpmn_id, "element": _element(task, activity, handed), "data": own,
        }
    if not data and wf.last_task is not None:
        data.update(wf.last_task.data)
    if per_task:
        data[PER_TASK] = per_task
    return data


def completed_children(wf: BpmnWorkflow, bpmn_id: str) -> list[dict[str, Any]]:
    """What each completed child of the multi-instance activity `bpmn_id` set, in the order they
    completed, as [{task_id, element, data}] (data: its element variable and the keys it changed
    relative to what the activity handed it): the engine drops it at the join, so a procedure that
    must keep each department's report reads it here. Every pass through the activity counts
    (a case sent back to it lists the earlier round first); cancelled children are left out."""
    out: list[dict[str, Any]] = []
    for activity in _tasks_in(wf, TaskState.ANY_MASK):
        if activity.task_spec.bpmn_id != bpmn_id or not isinstance(activity.task_spec, MultiInstanceTask):
            continue
        for merged in activity.internal_data.get("merged", []):
            child = activity.workflow.tasks.get(UUID(merged))
            if child is None or child.state != TaskState.COMPLETED:
                continue
            handed = _handed(child, activity)
            out.append({
                "task_id": merged, "element": _element(child, activity, handed),
                "data": _own(child, activity, handed),
            })
    return out


def collect_output(task: Task, data: dict[str, Any], extra: dict[str, Any]) -> None:
    """Keep what a multi-instance child submits past the join: if its task declares the extension
    property `collect` (e.g. `reports`), append {element variable: its element, **data, **extra}
    to that variable of its activity, whose data is what flows on after the join. So a round's
    later steps and scripts see every department's report (`reports`), one entry per child, none
    overwriting another. Anything else is left alone."""
    name = (getattr(task.task_spec, "extensions", None) or {}).get(COLLECT)
    activity = _activity(task)
    if not name or activity is None or not str(name).isidentifier() or str(name).startswith("_"):
        return
    entry: dict[str, Any] = {}
    element_name = _element_name(activity.task_spec)
    if element_name is not None:
        entry[element_name] = _element(task, activity, _handed(task, activity))
    entry.update(deepcopy(data))
    entry.update(extra)
    collected = activity.data.get(name)
    activity.data[name] = [*(collected if isinstance(collected, list) else []), entry]
