"""BPMN parser: CamundaParser that also reads who may act, the due date and the form."""

from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, UserTaskParser
from SpiffWorkflow.camunda.specs.user_task import UserTask

CAMUNDA_ATTRIBUTES = ("candidateGroups", "candidateUsers", "assignee", "dueDate", "formKey")


class GovFlowUserTaskParser(UserTaskParser):
    """Stores camunda:candidateGroups/assignee/dueDate/formKey and the lane in `extensions`."""

    def parse_extensions(self, node=None):  # type: ignore[no-untyped-def]
        extensions = super().parse_extensions(node)
        element = self.node if node is None else node
        for name in CAMUNDA_ATTRIBUTES:
            value = element.get(f"{{{CAMUNDA_MODEL_NS}}}{name}")
            if value is not None:
                extensions[name] = value.strip()
        if self.lane:
            extensions.setdefault("lane", self.lane)
        return extensions


class GovFlowParser(CamundaParser):
    """The one parser GovFlow uses for every diagram."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (GovFlowUserTaskParser, UserTask),
    }
