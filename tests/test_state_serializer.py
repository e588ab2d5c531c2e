"""The state GovFlow stores is exactly what SpiffWorkflow's own converters would store, and a
workflow kept in memory between steps behaves exactly like one restored from that state."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.util.task import TaskState

from service import clock, notices
from service.deploy import safe_parse
from service.engine import (
    ProcessModel,
    dump_state,
    new_workflow,
    parse_processes,
    restore_workflow,
    serializer,
)
from service.engine.serializer import SERIALIZER
from workflows import petition_sample


def library_dump(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The state through SpiffWorkflow's generic converters (the reference)."""
    converter = SERIALIZER.registry.convert_to_dict["BpmnWorkflow"].args[1].__self__
    dct = WorkflowConverter.to_dict(converter, workflow)
    dct["subprocesses"] = converter.mapping_to_dict(workflow.subprocesses)
    dct["bpmn_events"] = converter.registry.convert(workflow.bpmn_events)
    dct["typename"] = "BpmnWorkflow"
    return dct


def petition_states() -> list[BpmnWorkflow]:
    """A petition down the dept route, a copy of the workflow after the start and every step."""
    model = petition_sample.load_petition_model()
    seen: list[BpmnWorkflow] = []
    with notices.collecting():
        wf = new_workflow(model)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update({**petition_sample.start(), "business_key": "XF-2026-000001"})
        wf.do_engine_steps()
        seen.append(restore_workflow(dump_state(wf), model))
        for _user, bpmn_id, data in petition_sample.dept_route():
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            seen.append(wf)
            wf = restore_workflow(dump_state(wf), model)
    return seen


def test_stored_state_equals_spiffworkflow_converters_at_every_step_of_a_petition() -> None:
    model = petition_sample.load_petition_model()
    states = petition_states()
    assert len(states) == 1 + len(petition_sample.dept_route())
    wf = states[-1]
    for workflow in states:
        assert dump_state(workflow) == library_dump(workflow)
    # and it restores to the same workflow
    again = restore_workflow(dump_state(wf), model)
    assert dump_state(again) == dump_state(wf)


def library_restore(state: dict[str, Any], model: Any, monkeypatch: pytest.MonkeyPatch) -> BpmnWorkflow:
    """The workflow with its tasks through SpiffWorkflow's generic task converter (the reference)."""
    from uuid import UUID

    converter = SERIALIZER.registry.convert_to_dict["BpmnWorkflow"].args[1].__self__
    with monkeypatch.context() as patch:
        patch.setattr(serializer, "_restore_tasks",
                      lambda workflow, tasks, _restore: converter.mapping_from_dict(tasks, UUID, workflow=workflow))
        return restore_workflow(copy.deepcopy(state), model)


def assert_restores_alike(state: dict[str, Any], model: ProcessModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our restore of `state` and the library's give the same state, tasks (state, data, internal
    data, order) and waiting events."""
    ours, theirs = restore_workflow(copy.deepcopy(state), model), library_restore(state, model, monkeypatch)
    assert dump_state(ours) == dump_state(theirs) == state
    assert {t.id: (t.state, t.data, t.internal_data) for t in ours.get_tasks()} == \
        {t.id: (t.state, t.data, t.internal_data) for t in theirs.get_tasks()}
    assert set(ours.event_manager.tasks) == set(theirs.event_manager.tasks)
    assert [str(t.id) for t in ours.get_tasks()] == [str(t.id) for t in theirs.get_tasks()]


def test_restored_workflow_equals_spiffworkflow_converters_at_every_step_of_a_petition(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = petition_sample.load_petition_model()
    for state in [dump_state(wf) for wf in petition_states()]:
        assert_restores_alike(state, model, monkeypatch)


# --- beyond the petition: multi-instance, gateways, subprocesses, cycle timers ------------------

BPMN_DIR = Path(__file__).resolve().parent / "bpmn"
GROUPS = ["dept_a", "dept_b", "dept_c"]

Step = Callable[[BpmnWorkflow], None]


def load_model(name: str) -> ProcessModel:
    """The process `name` of tests/bpmn/`name`.bpmn, parsed as a deployment would."""
    return parse_processes(safe_parse((BPMN_DIR / f"{name}.bpmn").read_bytes()), f"{name}.bpmn")[name]


def ready_ids(wf: BpmnWorkflow) -> list[str]:
    """The bpmn ids of the ready user tasks, sorted (a multi-instance activity appears once per child)."""
    return sorted(t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.READY, manual=True))


def complete(bpmn_id: str, data: dict[str, Any], oldest: bool = False, **match: Any) -> Step:
    """Complete the ready user task `bpmn_id` whose data holds `match` (picks a multi-instance child),
    which must be the only one unless `oldest` (the first opened of a timer's tasks) is asked for."""

    def step(wf: BpmnWorkflow) -> None:
        found = [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id
                 and all(t.data.get(k) == v for k, v in match.items())]
        assert len(found) == 1 or (oldest and found), (bpmn_id, match, ready_ids(wf))
        task = min(found, key=lambda t: t.last_state_change)
        task.data.update(copy.deepcopy(data))  # fresh, as a form's JSON is: the engine changes nested values
        task.run()

    return step


def tick(hours: int = 1) -> Step:
    """Let `hours` (and a second) pass on GovFlow's clock and fire what fell due, as the scheduler does."""

    def step(wf: BpmnWorkflow) -> None:
        clock.set_offset(clock.offset() + timedelta(hours=hours, seconds=1))
        wf.refresh_timers()

    return step


@dataclass
class Scenario:
    """A diagram driven through `steps`: `ready` is what must be open after the start and after each
    step, `done` the user tasks the finished case keeps, all completed (a cancelled task leaves the
    tree)."""

    name: str
    steps: list[Step]
    ready: list[list[str]]
    done: list[str]


def mi_scenario(name: str, order: list[str]) -> Scenario:
    """Register the departments, each reports (in `order`), the office sums up."""
    report = [complete("dept_report", {"zero_report": g != "dept_b", "items": [f"{g}-1", f"{g}-2"]}, group=g)
              for g in order]
    open_reports = [["dept_report"] * n for n in range(len(order), 0, -1)]
    if name == "mi_sequential":
        open_reports = [["dept_report"]] * len(order)
    return Scenario(
        name,
        [complete("register", {"groups": list(GROUPS)}), *report, complete("summarize", {"summary": "ok"})],
        [["register"], *open_reports, ["summarize"], []],
        [*["dept_report"] * len(order), "register", "summarize"],
    )


SCENARIOS = [
    mi_scenario("mi_parallel", ["dept_b", "dept_c", "dept_a"]),
    mi_scenario("mi_sequential", GROUPS),
    Scenario("parallel_gateway", [
        complete("finance_opinion", {"finance": "同意"}),
        complete("legal_opinion", {"legal": "合法"}),
        complete("decide", {"decision": "批准"}),
    ], [["finance_opinion", "legal_opinion"], ["legal_opinion"], ["decide"], []],
        ["decide", "finance_opinion", "legal_opinion"]),
    Scenario("embedded_subprocess", [
        complete("handle", {"result": "已办结"}),
        complete("review", {"approved": True}),
    ], [["handle"], ["review"], []], ["handle", "review"]),
    Scenario("cycle_timer", [
        tick(), tick(),
        complete("progress_report", {"progress": "第一次续报"}, oldest=True),
        tick(),
        complete("handle", {"closed": True}),
    ], [
        ["handle"], ["handle", "progress_report"], ["handle", "progress_report", "progress_report"],
        ["handle", "progress_report"], ["handle", "progress_report", "progress_report"], [],
    ], done=["handle", "progress_report"]),  # the two reports still open when handle completed: cancelled
]


def scenario_states(scenario: Scenario) -> tuple[ProcessModel, list[BpmnWorkflow]]:
    """The workflow in memory after the start and after each step; each step runs on the workflow
    restored from the state stored before it, as the service runs it."""
    model = load_model(scenario.name)
    seen: list[BpmnWorkflow] = []
    offset = clock.offset()
    try:
        with notices.collecting():
            wf = new_workflow(model)
            wf.do_engine_steps()
            seen.append(wf)
            for step in scenario.steps:
                wf = restore_workflow(dump_state(wf), model)
                step(wf)
                wf.do_engine_steps()
                seen.append(wf)
    finally:
        clock.set_offset(offset)
    return model, seen


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_stored_state_equals_spiffworkflow_converters_at_every_step(scenario: Scenario) -> None:
    model, states = scenario_states(scenario)
    assert [ready_ids(wf) for wf in states] == scenario.ready
    assert states[-1].is_completed()
    kept = states[-1].get_tasks(manual=True)
    assert sorted(t.task_spec.bpmn_id for t in kept) == scenario.done
    assert {t.state for t in kept} == {TaskState.COMPLETED}
    for wf in states:
        assert dump_state(wf) == library_dump(wf)
        again = restore_workflow(dump_state(wf), model)
        assert dump_state(again) == library_dump(again) == dump_state(wf)
        assert ready_ids(again) == ready_ids(wf)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_restored_workflow_equals_spiffworkflow_converters_at_every_step(
        scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    model, states = scenario_states(scenario)
    for state in [dump_state(wf) for wf in states]:
        assert_restores_alike(state, model, monkeypatch)


def test_internal_data_written_as_the_registry_writes_it_plain_values_and_others() -> None:
    """The fast path for plain internal data (scalars, lists of scalars) gives what the registry's
    walk gives, and anything else still goes through the registry (typed, callables left out)."""
    import types
    from datetime import datetime
    from uuid import UUID

    registry = SERIALIZER.registry
    internal = {
        "merged": ["a", "b"], "current": 2, "cardinality": 2.5, "flag": True, "none": None, "text": "字",
        "when": datetime(2026, 10, 8, 9, 0, tzinfo=clock.BEIJING), "span": timedelta(hours=2),
        "id": UUID("12345678-1234-5678-1234-567812345678"), "nested": {"at": datetime(2026, 1, 1), "n": [1]},
        "mixed": [1, datetime(2026, 1, 2)], "pair": (1, 2), "seen": {"x"},
        "hook": lambda: None, "module": types,
    }
    assert serializer._internal(internal, registry.convert) == registry.convert(internal)
    assert "hook" not in serializer._internal(internal, registry.convert)


def test_workflow_kept_in_memory_writes_the_library_state_at_every_step() -> None:
    """A kept workflow remembers its task ids' text between steps (new tasks added as they come):
    after every step of a multi-instance round its state is still the library's."""
    model = load_model("mi_parallel")
    with notices.collecting():
        wf = new_workflow(model)
        wf.do_engine_steps()
        assert dump_state(wf) == library_dump(wf)
        for step in mi_scenario("mi_parallel", ["dept_b", "dept_c", "dept_a"]).steps:
            step(wf)
            wf.do_engine_steps()
            assert dump_state(wf) == library_dump(wf)
    assert wf.is_completed()
