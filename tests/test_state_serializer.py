"""The state GovFlow stores is exactly what SpiffWorkflow's own converters would store, and a
workflow kept in memory between steps behaves exactly like one restored from that state."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.default.workflow import WorkflowConverter

from service import bench
from service.engine import dump_state, restore_workflow
from service.engine.serializer import SERIALIZER


def library_dump(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The state through SpiffWorkflow's generic converters (the reference)."""
    converter = SERIALIZER.registry.convert_to_dict["BpmnWorkflow"].args[1].__self__
    dct = WorkflowConverter.to_dict(converter, workflow)
    dct["subprocesses"] = converter.mapping_to_dict(workflow.subprocesses)
    dct["bpmn_events"] = converter.registry.convert(workflow.bpmn_events)
    dct["typename"] = "BpmnWorkflow"
    return dct


def test_stored_state_equals_spiffworkflow_converters_at_every_step_of_a_petition() -> None:
    model = bench.load_petition_model()
    states: list[BpmnWorkflow] = []
    bench.raw_petition(model, bench.petition_start(), bench.petition_steps(), states.append)
    wf = bench.raw_petition(model, bench.petition_start(), bench.petition_steps())
    for workflow in [*states, wf]:
        assert dump_state(workflow) == library_dump(workflow)
    # and it restores to the same workflow
    again = restore_workflow(dump_state(wf), model)
    assert dump_state(again) == dump_state(wf)
