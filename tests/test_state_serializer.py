"""The state GovFlow stores is exactly what SpiffWorkflow's own converters would store, and a
workflow kept in memory between steps behaves exactly like one restored from that state."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter
from SpiffWorkflow.util.task import TaskState

from service import bench, notices
from service.engine import dump_state, new_workflow, restore_workflow, serializer
from service.engine.serializer import SERIALIZER


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
    model = bench.load_petition_model()
    seen: list[BpmnWorkflow] = []
    with notices.collecting():
        wf = new_workflow(model)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update({**bench.petition_start(), "business_key": "XF-2026-000001"})
        wf.do_engine_steps()
        seen.append(restore_workflow(dump_state(wf), model))
        for _user, bpmn_id, data in bench.petition_steps():
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
            seen.append(wf)
            wf = restore_workflow(dump_state(wf), model)
    return seen


def test_stored_state_equals_spiffworkflow_converters_at_every_step_of_a_petition() -> None:
    model = bench.load_petition_model()
    states = petition_states()
    assert len(states) == 1 + len(bench.petition_steps())
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


def test_restored_workflow_equals_spiffworkflow_converters_at_every_step_of_a_petition(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = bench.load_petition_model()
    for state in [dump_state(wf) for wf in petition_states()]:
        ours, theirs = restore_workflow(copy.deepcopy(state), model), library_restore(state, model, monkeypatch)
        assert dump_state(ours) == dump_state(theirs) == state
        assert {t.id: (t.state, t.data, t.internal_data) for t in ours.get_tasks()} == \
            {t.id: (t.state, t.data, t.internal_data) for t in theirs.get_tasks()}
        assert set(ours.event_manager.tasks) == set(theirs.event_manager.tasks)
        assert [str(t.id) for t in ours.get_tasks()] == [str(t.id) for t in theirs.get_tasks()]
