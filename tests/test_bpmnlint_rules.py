"""GovFlow's bpmnlint rules (service/web/designer_src/bpmnlint-plugin-govflow, what the modeler
lints with as the designer edits), run by the real bpmnlint CLI from node_modules with a
temporary .bpmnlintrc extending plugin:govflow/recommended: each rule reports the right element
with its Chinese message, and the repository's own diagrams pass without errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import missing_dependency

ROOT = Path(__file__).resolve().parent.parent
BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"

Row = tuple[str, str, str, str]  # element id, level, message, rule
Lint = Callable[..., tuple[int, list[Row]]]

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_lint" targetNamespace="http://govflow.local/test">
"""
TAIL = "</bpmn:definitions>\n"

GROUP = "用户任务没有办理组或办理人，也不在泳道中：任务将无人办理"
FORM = "用户任务没有表单：请在「表单」中选择一个表单"
TIMER = "定时事件没有时间表达式：请填写时间点、时长或循环"
UNREACHABLE = "没有从开始事件到达此处的路径：此步骤永远不会执行"


def chain(*nodes: str, extra: str = "") -> str:
    """A process start → nodes… → end, each node given as its XML with an {io} placeholder for its flows."""
    body, ids = [], ["start", *[re.search(r'id="([^"]+)"', n).group(1) for n in nodes], "end"]  # type: ignore[union-attr]
    flows = [f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}"/>' for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))]
    body.append('<bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>')
    for i, node in enumerate(nodes):
        body.append(node.replace("{io}", f"<bpmn:incoming>f{i}</bpmn:incoming><bpmn:outgoing>f{i + 1}</bpmn:outgoing>"))
    body.append(f'<bpmn:endEvent id="end"><bpmn:incoming>f{len(nodes)}</bpmn:incoming></bpmn:endEvent>')
    return (HEAD + '<bpmn:process id="p" isExecutable="true">' + "".join(body) + "".join(flows) + extra
            + "</bpmn:process>" + TAIL)


@pytest.fixture(scope="module")
def lint(tmp_path_factory: pytest.TempPathFactory) -> Lint:
    if shutil.which("node") is None or not BPMNLINT.exists():
        missing_dependency("node and node_modules/.bin/bpmnlint are needed (run 'make assets')")
    work = tmp_path_factory.mktemp("bpmnlint")
    rc = work / ".bpmnlintrc"
    rc.write_text(json.dumps({"extends": "plugin:govflow/recommended"}), encoding="utf-8")

    def run(xml: str | None = None, path: Path | None = None) -> tuple[int, list[Row]]:
        """bpmnlint's exit code and its rows (element id, level, message, rule)."""
        if path is None:
            path = work / "diagram.bpmn"
            path.write_text(xml or "", encoding="utf-8")
        out = subprocess.run([str(BPMNLINT), "-c", str(rc), str(path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert "Error:" not in out.stderr, out.stderr
        rows = []
        for line in out.stdout.splitlines():
            m = re.match(r"^\s+(\S+)\s+(error|warning)\s+(.+?)\s+(govflow/[\w-]+)\s*$", line)
            if m:
                rows.append((m.group(1), m.group(2), m.group(3), m.group(4)))
        return out.returncode, rows

    return run


def test_user_task_group_reports_a_task_that_reaches_nobody(lint: Lint) -> None:
    code, rows = lint(chain('<bpmn:userTask id="t1" name="审核" camunda:formKey="f">{io}</bpmn:userTask>'))
    assert rows == [("t1", "error", GROUP, "govflow/user-task-group")]
    assert code == 1


def test_user_task_group_accepts_a_group_an_assignee_or_a_lane(lint: Lint) -> None:
    tasks = ('<bpmn:userTask id="g" camunda:formKey="f" camunda:candidateGroups="xfk">{io}</bpmn:userTask>',
             '<bpmn:userTask id="a" camunda:formKey="f" camunda:assignee="${owner}">{io}</bpmn:userTask>',
             '<bpmn:userTask id="l" camunda:formKey="f">{io}</bpmn:userTask>')
    lanes = ('<bpmn:laneSet id="ls"><bpmn:lane id="lane" name="信访科"><bpmn:flowNodeRef>l</bpmn:flowNodeRef>'
             '</bpmn:lane></bpmn:laneSet>')
    xml = chain(*tasks).replace('<bpmn:process id="p" isExecutable="true">',
                                '<bpmn:process id="p" isExecutable="true">' + lanes)
    code, rows = lint(xml)
    assert rows == []
    assert code == 0


def test_user_task_form_warns_for_a_task_without_a_form(lint: Lint) -> None:
    code, rows = lint(chain('<bpmn:userTask id="t1" camunda:candidateGroups="xfk">{io}</bpmn:userTask>',
                            '<bpmn:userTask id="t2" camunda:candidateGroups="xfk" camunda:formKey="f">{io}</bpmn:userTask>'))
    assert rows == [("t1", "warning", FORM, "govflow/user-task-form")]
    assert code == 0  # a warning alone does not fail the lint


def test_timer_expression_reports_a_timer_without_time(lint: Lint) -> None:
    empty = '<bpmn:intermediateCatchEvent id="wait">{io}<bpmn:timerEventDefinition id="td1"/></bpmn:intermediateCatchEvent>'
    blank = ('<bpmn:intermediateCatchEvent id="blank">{io}<bpmn:timerEventDefinition id="td2">'
             '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">  </bpmn:timeDuration>'
             '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
    good = ('<bpmn:intermediateCatchEvent id="good">{io}<bpmn:timerEventDefinition id="td3">'
            '<bpmn:timeDate xsi:type="bpmn:tFormalExpression">route_due_at</bpmn:timeDate>'
            '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>')
    boundary = ('<bpmn:boundaryEvent id="urge" attachedToRef="blank"><bpmn:timerEventDefinition id="td4">'
                '<bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R3/P1D</bpmn:timeCycle>'
                '</bpmn:timerEventDefinition></bpmn:boundaryEvent>')
    code, rows = lint(chain(empty, blank, good, extra=boundary))
    assert sorted(rows) == [("blank", "error", TIMER, "govflow/timer-expression"),
                            ("wait", "error", TIMER, "govflow/timer-expression")]
    assert code == 1


def test_unreachable_reports_steps_no_path_reaches(lint: Lint) -> None:
    task = '<bpmn:userTask id="t1" camunda:candidateGroups="xfk" camunda:formKey="f">{io}</bpmn:userTask>'
    extra = ('<bpmn:boundaryEvent id="deadline" attachedToRef="t1"><bpmn:outgoing>fb</bpmn:outgoing>'
             '<bpmn:timerEventDefinition id="tb"><bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate>'
             '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
             '<bpmn:endEvent id="late"><bpmn:incoming>fb</bpmn:incoming></bpmn:endEvent>'
             '<bpmn:sequenceFlow id="fb" sourceRef="deadline" targetRef="late"/>'
             '<bpmn:userTask id="orphan" name="遗留步骤" camunda:candidateGroups="xfk" camunda:formKey="f">'
             '<bpmn:outgoing>fo</bpmn:outgoing></bpmn:userTask>'
             '<bpmn:endEvent id="orphan_end"><bpmn:incoming>fo</bpmn:incoming></bpmn:endEvent>'
             '<bpmn:sequenceFlow id="fo" sourceRef="orphan" targetRef="orphan_end"/>')
    code, rows = lint(chain(task, extra=extra))
    assert sorted(rows) == [("orphan", "warning", UNREACHABLE, "govflow/unreachable"),
                            ("orphan_end", "warning", UNREACHABLE, "govflow/unreachable")]
    assert code == 0


def test_unreachable_counts_sub_process_and_event_sub_process_starts(lint: Lint) -> None:
    sub = ('<bpmn:subProcess id="sub">{io}<bpmn:startEvent id="s_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>'
           '<bpmn:endEvent id="s_end"><bpmn:incoming>s1</bpmn:incoming></bpmn:endEvent>'
           '<bpmn:sequenceFlow id="s1" sourceRef="s_start" targetRef="s_end"/></bpmn:subProcess>')
    events = ('<bpmn:subProcess id="on_message" triggeredByEvent="true">'
              '<bpmn:startEvent id="e_start" isInterrupting="false"><bpmn:outgoing>e1</bpmn:outgoing>'
              '<bpmn:messageEventDefinition id="md"/></bpmn:startEvent>'
              '<bpmn:endEvent id="e_end"><bpmn:incoming>e1</bpmn:incoming></bpmn:endEvent>'
              '<bpmn:sequenceFlow id="e1" sourceRef="e_start" targetRef="e_end"/></bpmn:subProcess>')
    code, rows = lint(chain(sub, extra=events))
    assert rows == []
    assert code == 0


@pytest.mark.parametrize("diagram", sorted((ROOT / "bpmn").glob("*.bpmn")), ids=lambda p: p.name)
def test_recommended_passes_the_repository_diagrams_without_errors(lint: Lint, diagram: Path) -> None:
    code, rows = lint(path=diagram)
    assert [r for r in rows if r[1] == "error"] == []
    assert code == 0
