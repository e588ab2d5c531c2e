"""Per-task data (service.engine.taskdata): the children of a multi-instance activity (one task per
department) keep their own data apart while they are open and after the join, where the engine
drops it; without such children the case view is exactly the plain merge of the live tasks' data
(what the runtime showed before children were kept apart)."""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from test_state_serializer import GROUPS, SCENARIOS, Scenario, Step, complete, load_model, scenario_states

from service import notices
from service.engine import dump_state, new_workflow, restore_workflow, tasks_in
from service.engine.taskdata import PER_TASK, completed_children, instance_view, task_data

CASE = {"subject": "小区道路破损", "groups": GROUPS}
# dept_b replaces its element variable with a record of itself: the engine writes it into the collection
RECORD = {"name": "dept_b", "contact": "0883-1234567"}


def instance_data(wf: Any) -> dict[str, Any]:
    """The plain merge of the live tasks' data (the reference: the case view before children
    were kept apart), newest copy of a key winning."""
    if wf.is_completed():
        data = dict(wf.data)
        if wf.last_task is not None:
            data.update(wf.last_task.data)
        return data
    live = [t for t in tasks_in(wf, TaskState.READY | TaskState.WAITING | TaskState.STARTED) if t.task_spec.bpmn_id]
    data: dict[str, Any] = {}
    for task in sorted(live, key=lambda t: t.last_state_change):
        data.update(task.data)
    if not data and wf.last_task is not None:
        data.update(wf.last_task.data)
    return data


def drive(name: str, steps: list[Step]) -> BpmnWorkflow:
    """Start tests/bpmn/`name`.bpmn and run `steps`, each on the workflow restored from the state
    stored before it (as the service runs it); returns the workflow restored from the last state."""
    model = load_model(name)
    with notices.collecting():
        wf = new_workflow(model)
        wf.do_engine_steps()
        for step in steps:
            wf = restore_workflow(dump_state(wf), model)
            step(wf)
            wf.do_engine_steps()
    return restore_workflow(dump_state(wf), model)


def report(group: str) -> dict[str, Any]:
    """What department `group` reports: dept_b has cases to report, the others none."""
    return {"zero_report": group != "dept_b", "items": [f"{group}-1", f"{group}-2"]}


def children(wf: BpmnWorkflow, state: int = TaskState.READY) -> dict[str, Task]:
    """The department tasks in `state`, by the department each was created for. Read from the task
    dict: get_tasks(state=COMPLETED) does not reach a completed child while its activity is open."""
    return {GROUPS[t.internal_data["key_or_index"]]: t for t in wf.tasks.values()
            if t.state == state and t.task_spec.name == "dept_report [child]"}


def test_live_children_are_reported_per_task_and_do_not_overwrite_each_other() -> None:
    wf = drive("mi_parallel", [complete("register", CASE)])
    live = children(wf)
    assert sorted(live) == GROUPS
    for group, task in live.items():  # what each department has entered so far on its own task
        task.data.update(report(group))

    view = instance_view(wf)
    assert {k: v for k, v in view.items() if k != PER_TASK} == CASE
    assert view[PER_TASK] == {
        str(live[g].id): {"bpmn_id": "dept_report", "element": g, "data": {"group": g, **report(g)}}
        for g in GROUPS
    }
    for group, task in live.items():
        assert task_data(task) == {"group": group, **report(group)}
    # the merge the view replaces keeps one department and loses the other two
    merged = instance_data(wf)
    assert merged["group"] in GROUPS
    assert {k: merged[k] for k in ("zero_report", "items")} == report(merged["group"])


def test_a_completed_child_leaves_the_live_view_and_is_listed_as_completed() -> None:
    wf = drive("mi_parallel", [complete("register", CASE),
                               complete("dept_report", {**report("dept_b"), "group": RECORD}, group="dept_b")])
    done = children(wf, TaskState.COMPLETED)["dept_b"]
    live = children(wf)
    assert sorted(live) == ["dept_a", "dept_c"]
    view = instance_view(wf)
    assert view[PER_TASK] == {
        str(live[g].id): {"bpmn_id": "dept_report", "element": g, "data": {"group": g}} for g in ("dept_a", "dept_c")
    }
    # the collection is the activity's, as the join will pass it on, not the copy the open children got
    assert {k: v for k, v in view.items() if k != PER_TASK} == {**CASE, "groups": ["dept_a", RECORD, "dept_c"]}
    assert completed_children(wf, "dept_report") == [
        {"task_id": str(done.id), "element": "dept_b", "data": {**report("dept_b"), "group": RECORD}},
    ]


@pytest.mark.parametrize(("name", "order"), [
    ("mi_parallel", ["dept_b", "dept_c", "dept_a"]),
    ("mi_sequential", GROUPS),
])
def test_completed_children_keep_each_departments_report_after_the_join(name: str, order: list[str]) -> None:
    # dept_b's record is still listed as dept_b's; dept_c (after it in the sequence) is handed the
    # rewritten collection, which is not something dept_c set
    reports = {g: {**report(g), **({"group": RECORD} if g == "dept_b" else {})} for g in GROUPS}
    wf = drive(name, [complete("register", CASE),
                      *[complete("dept_report", reports[g], group=g) for g in order]])

    summarize = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True))
    assert summarize.task_spec.bpmn_id == "summarize"
    assert "zero_report" not in summarize.data and "items" not in summarize.data  # the engine dropped them
    done = children(wf, TaskState.COMPLETED)
    assert completed_children(wf, "dept_report") == [
        {"task_id": str(done[g].id), "element": g, "data": {"group": reports[g].get("group", g), **reports[g]}}
        for g in order
    ]
    assert completed_children(wf, "summarize") == []
    # with no child open the view is the plain merge
    assert instance_view(wf) == instance_data(wf)
    assert PER_TASK not in instance_view(wf)


def test_each_counted_child_keeps_only_what_it_set_not_what_the_one_before_handed_on() -> None:
    # flat values: merging whole data, the engine rewrites nested dicts that siblings share after a restore
    rounds = [{"zero_report": i != 1, "items": [f"round-{i}"]} for i in range(3)]
    first = drive("mi_cardinality", [complete("register", {"subject": "三轮"}), complete("round_report", rounds[0])])
    second = next(t for t in first.get_tasks(state=TaskState.READY, manual=True))
    assert second.data == {"subject": "三轮", **rounds[0]}  # the engine hands the next round the last one's data
    assert instance_view(first)[PER_TASK] == {str(second.id): {"bpmn_id": "round_report", "element": 1, "data": {}}}
    assert task_data(second) == {}

    wf = drive("mi_cardinality", [complete("register", {"subject": "三轮"}),
                                  *[complete("round_report", r) for r in rounds]])
    stored = dump_state(wf)
    assert [(c["element"], c["data"]) for c in completed_children(wf, "round_report")] == list(enumerate(rounds))
    assert dump_state(wf) == stored  # reading it changed no task's data


LINEAR = Scenario("linear", [
    complete("register", {"subject": "小区道路破损", "people_count": 6, "channel": "来访"}),
    complete("classify", {"category": "城乡建设"}),
    complete("propose", {"proposal": "转住建局办理"}),
    complete("approve", {"approved": True}),
    complete("reply", {"reply_text": "已修复"}),
], [["register"], ["classify"], ["propose"], ["approve"], ["reply"], []],
    ["approve", "classify", "propose", "register", "reply"])


@pytest.mark.parametrize("scenario", [LINEAR, *[s for s in SCENARIOS if not s.name.startswith("mi_")]],
                         ids=lambda s: s.name)
def test_without_multi_instance_the_view_equals_runtime_instance_data(scenario: Scenario) -> None:
    _model, states = scenario_states(scenario)
    for wf in states:
        assert instance_view(wf) == instance_data(wf)
    if scenario is LINEAR:
        assert instance_view(states[4]) == {"subject": "小区道路破损", "people_count": 6, "channel": "来访",
                                           "is_group_visit": True, "category": "城乡建设",
                                           "proposal": "转住建局办理", "approved": True}
        assert instance_view(states[-1])["reply_text"] == "已修复"
