"""Deployment: safe parsing, XSD and semantic validation, versioning of diagrams.

Errors come back as one list of {line, element_id, message} in Chinese, so a designer
can fix every problem in one go."""

from __future__ import annotations

import ast
import hashlib
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock
from service.engine import ProcessModel, parse_processes
from service.engine.scripts import ScriptRejected, check_source
from service.errors import Invalid
from service.forms import FormRegistry
from service.store.models import Definition

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}
MAX_BYTES = 2 * 1024 * 1024

_validator: BpmnValidator | None = None


def _xsd() -> BpmnValidator:
    global _validator
    if _validator is None:
        _validator = BpmnValidator()
    return _validator


def _error(line: int | None, element_id: str | None, message: str) -> dict[str, Any]:
    return {"line": line, "element_id": element_id or None, "message": message}


def safe_parse(data: bytes | str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network; any DOCTYPE is refused."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise Invalid("流程图文件过大", [_error(None, None, f"文件超过 {MAX_BYTES // 1024 // 1024} MB 上限")])
    if not raw.strip():
        raise Invalid("流程图为空", [_error(None, None, "上传的内容为空")])
    match = re.search(rb"<!DOCTYPE|<!ENTITY", raw, re.IGNORECASE)
    if match:
        line = raw[: match.start()].count(b"\n") + 1
        raise Invalid("流程图被拒绝：不允许 DOCTYPE/实体声明", [_error(line, None, "出于安全原因，不允许 DOCTYPE 或实体声明（XXE）")])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=False,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise Invalid("流程图不是格式正确的 XML", [_error(line, None, f"XML 语法错误：{exc.msg}")]) from exc
    if root.getroottree().docinfo.doctype:
        raise Invalid("流程图被拒绝：不允许 DOCTYPE", [_error(1, None, "不允许 DOCTYPE 声明")])
    return root


def _xsd_errors(root: etree._Element) -> list[dict[str, Any]]:
    schema = _xsd().validator
    if schema.validate(root):
        return []
    errors = []
    for entry in schema.error_log:
        errors.append(_error(entry.line, None, f"不符合 BPMN 2.0 规范：{entry.message}"))
    return errors[:50]


def _element_id(node: etree._Element) -> str | None:
    while node is not None:
        if node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def _check(node: etree._Element, source: str | None, mode: str, what: str) -> list[dict[str, Any]]:
    if source is None or not source.strip():
        return []
    text = textwrap.dedent(source.lstrip("\n")) if mode == "exec" else source.strip()
    leading = len(source) - len(source.lstrip("\n")) if mode == "exec" else 0
    try:
        check_source(text.strip() if mode == "eval" else text, mode)
    except ScriptRejected as exc:
        offset = (exc.line - 1) if exc.line and mode == "exec" else 0
        return [_error(node.sourceline + leading + offset, _element_id(node), f"{what}不被允许：{exc}")]
    return []


def _dollar(value: str | None) -> str | None:
    if value and value.strip().startswith("${") and value.strip().endswith("}"):
        return value.strip()[2:-1]
    return None


def _timer_errors(node: etree._Element) -> list[dict[str, Any]]:
    """Timer expressions must be allowed Python and, when constant, a valid ISO 8601 value."""
    errors = _check(node, node.text, "eval", "定时器表达式")
    if errors:
        return errors
    text = (node.text or "").strip()
    if not text:
        return [_error(node.sourceline, _element_id(node), "定时器表达式为空")]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []  # refers to data; evaluated when the timer starts
    tag = etree.QName(node).localname
    try:
        if tag == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif tag == "timeDate":
            TimerEventDefinition.get_datetime(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - any parse failure is the designer's error
        return [_error(node.sourceline, _element_id(node), f"定时器取值 {value!r} 不是有效的 ISO 8601 时间")]
    return []


def _semantic_errors(root: etree._Element, forms: FormRegistry) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    processes = root.xpath("./bpmn:process", namespaces=NS)
    if not any(p.get("isExecutable") == "true" for p in processes):
        errors.append(_error(root.sourceline, None, "没有可执行的流程（process 需设置 isExecutable=\"true\"）"))
    for task in root.xpath(".//bpmn:userTask", namespaces=NS):
        tid = task.get("id")
        form_key = task.get(f"{{{CAMUNDA_NS}}}formKey")
        if not form_key:
            errors.append(_error(task.sourceline, tid, "用户任务缺少表单（camunda:formKey）"))
        elif not forms.exists(form_key):
            errors.append(_error(task.sourceline, tid, f"表单 {form_key} 不存在（forms/{form_key}.json）"))
        groups = task.get(f"{{{CAMUNDA_NS}}}candidateGroups")
        assignee = task.get(f"{{{CAMUNDA_NS}}}assignee")
        in_lane = root.xpath(f'.//bpmn:lane[bpmn:flowNodeRef="{tid}"]', namespaces=NS)
        if not groups and not assignee and not in_lane:
            errors.append(_error(task.sourceline, tid, "用户任务未指定办理组（camunda:candidateGroups）或泳道"))
        for attr, what in (("candidateGroups", "办理组表达式"), ("assignee", "办理人表达式"), ("dueDate", "期限表达式")):
            expr = _dollar(task.get(f"{{{CAMUNDA_NS}}}{attr}"))
            errors += _check(task, expr, "eval", what)
        due = task.get(f"{{{CAMUNDA_NS}}}dueDate")
        if due and not _dollar(due):
            try:
                clock.parse_datetime(due)
            except ValueError:
                errors.append(_error(task.sourceline, tid, f"期限 {due!r} 不是有效的日期时间"))
    for start in root.xpath(".//bpmn:startEvent[@camunda:formKey]", namespaces=NS):
        key = start.get(f"{{{CAMUNDA_NS}}}formKey")
        if not forms.exists(key):
            errors.append(_error(start.sourceline, start.get("id"), f"表单 {key} 不存在（forms/{key}.json）"))
    for script in root.xpath(".//bpmn:scriptTask/bpmn:script", namespaces=NS):
        errors += _check(script, script.text, "exec", "脚本")
    for cond in root.xpath(".//bpmn:conditionExpression", namespaces=NS):
        errors += _check(cond, cond.text, "eval", "条件表达式")
    for timer in root.xpath(".//bpmn:timerEventDefinition/*", namespaces=NS):
        errors += _timer_errors(timer)
    return errors


def _line_of(root: etree._Element, element_id: str | None) -> int | None:
    if not element_id:
        return None
    found = root.xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def _parser_error(root: etree._Element, exc: Exception) -> dict[str, Any]:
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or _line_of(root, element_id)
    detail = str(exc).split("\n")[0] if str(exc) else type(exc).__name__
    return _error(line if isinstance(line, int) else None, element_id, f"流程定义无法解析：{detail}")


@dataclass
class Checked:
    root: etree._Element
    xml: str
    models: dict[str, ProcessModel]


def check_diagram(data: bytes | str, forms: FormRegistry, filename: str = "diagram.bpmn") -> Checked:
    """Run every check; raise Invalid with the whole error list, or return the parsed models."""
    root = safe_parse(data)
    errors = _xsd_errors(root)
    if errors:
        raise Invalid("流程图未通过 BPMN 2.0 校验", errors)
    errors = _semantic_errors(root, forms)
    if errors:
        raise Invalid("流程图有错误，未部署", errors)
    try:
        models = parse_processes(root, filename)
    except ValidationException as exc:
        raise Invalid("流程图有错误，未部署", [_parser_error(root, exc)]) from exc
    except Exception as exc:  # noqa: BLE001 - library bugs (e.g. TypeError) become one clear error
        raise Invalid("流程图有错误，未部署", [_parser_error(root, exc)]) from exc
    if not models:
        raise Invalid("流程图有错误，未部署", [_error(root.sourceline, None, "没有可执行的流程")])
    xml = etree.tostring(root, encoding="unicode")
    return Checked(root, xml, models)


def deploy(session: Session, checked: Checked, user: str | None) -> tuple[list[str], dict[str, int], bool]:
    """Store each process of the diagram as a new version unless it is unchanged.

    Returns (keys, version per key, changed)."""
    versions: dict[str, int] = {}
    changed = False
    now = clock.now()
    for key, model in checked.models.items():
        checksum = hashlib.sha256(f"{key}\n{checked.xml}".encode()).hexdigest()
        latest = session.scalars(
            select(Definition).where(Definition.key == key).order_by(Definition.version.desc()).limit(1)
        ).first()
        if latest is not None and latest.checksum == checksum:
            versions[key] = latest.version
            continue
        version = (session.scalar(select(func.max(Definition.version)).where(Definition.key == key)) or 0) + 1
        session.add(
            Definition(
                key=key, name=model.name, version=version, bpmn_xml=checked.xml, checksum=checksum,
                start_form_key=model.start_form_key, deployed_at=now, deployed_by=user,
            )
        )
        versions[key] = version
        changed = True
    session.flush()
    return list(checked.models), versions, changed
