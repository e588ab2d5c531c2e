"""What a workflow waits for: its messages and its timers with their due times (the runtime
projects these into the timers table after every step; pages ask which messages a case awaits)."""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as BaseMessageEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.task import Task

from service import clock


def awaited_messages(wf: BpmnWorkflow) -> list[str]:
    """The messages some waiting event (alone or in an event-based gateway) catches."""
    names: list[str] = []
    for task in wf.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        items = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        names += [i.name for i in items if isinstance(i, BaseMessageEventDefinition)]
    return list(dict.fromkeys(names))


def waits_for_message(wf: BpmnWorkflow, name: str) -> bool:
    return name in awaited_messages(wf)


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


def waiting_dues(wf: BpmnWorkflow) -> dict[str, tuple[datetime, str]]:
    """Waiting timers by task id: (due, name), as the timers table holds them."""
    found: dict[str, tuple[datetime, str]] = {}
    for task_id, (task, definition, name) in waiting_timers(wf).items():
        due_at = timer_due(task, definition)
        if due_at is not None:
            found[task_id] = (due_at, name)
    return found


def timer_due(task: Task, definition: TimerEventDefinition) -> datetime | None:
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
