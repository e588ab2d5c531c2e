"""Deployment: safe parsing, XSD and semantic validation (forms, groups, expressions, scripts),
versioning of diagrams with the forms they name.

Problems come back as one list of {line, element_id, name, message, level} in Chinese, so a
person drawing the diagram can fix every one in one go and find each element by its name; warnings
(a group without members) never block a deployment."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import audit, clock
from service.engine import ProcessModel, parse_processes
from service.engine.scripts import ScriptRejected, check_source
from service.errors import Invalid
from service.form_versions import write_snapshots
from service.forms import FormRegistry, is_form_key
from service.store.models import Definition, Group, User, UserGroup
from service.suspensions import held

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


ERROR, WARNING = "error", "warning"
Schema = dict[str, Any]


def _error(line: int | None, element_id: str | None, message: str, level: str = ERROR) -> dict[str, Any]:
    """One problem; `name` (the element's name, what the diagram shows) is filled in by `_named`."""
    return {"line": line, "element_id": element_id or None, "name": None, "message": message, "level": level}


def _named(root: etree._Element, details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each detail with its element's `name` attribute (None when it has none)."""
    names = {node.get("id"): node.get("name") for node in root.iter()
             if isinstance(node.tag, str) and node.get("id")}
    for detail in details:
        if detail.get("element_id") and not detail.get("name"):
            detail["name"] = names.get(detail["element_id"]) or None
    return details


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
    except Exception:  # noqa: BLE001 - any parse failure is the diagram's error
        return [_error(node.sourceline, _element_id(node), f"定时器取值 {value!r} 不是有效的 ISO 8601 时间")]
    return []


def _semantic_errors(root: etree._Element, forms: Mapping[str, Schema | None]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    processes = root.xpath("./bpmn:process", namespaces=NS)
    if not any(p.get("isExecutable") == "true" for p in processes):
        errors.append(_error(root.sourceline, None, "没有可执行的流程（process 需设置 isExecutable=\"true\"）"))
    for task in root.xpath(".//bpmn:userTask", namespaces=NS):
        tid = task.get("id")
        form_key = task.get(f"{{{CAMUNDA_NS}}}formKey")
        if not form_key:
            errors.append(_error(task.sourceline, tid, "用户任务缺少表单（camunda:formKey）"))
        elif forms.get(form_key) is None:
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
        if forms.get(key) is None:
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


def _group_details(root: etree._Element, groups: Mapping[str, int]) -> list[dict[str, Any]]:
    """Every literal candidate group must exist (an error) and should have an active member (a
    warning: the task would reach nobody). `${…}` expressions are decided per case: not checked."""
    details = []
    for task in root.xpath(".//bpmn:userTask[@camunda:candidateGroups]", namespaces=NS):
        value = task.get(f"{{{CAMUNDA_NS}}}candidateGroups") or ""
        if "${" in value:
            continue
        for key in dict.fromkeys(k.strip() for k in value.split(",") if k.strip()):
            if key not in groups:
                details.append(_error(task.sourceline, task.get("id"), f"办理组 {key} 不存在"))
            elif groups[key] <= 0:
                details.append(_error(task.sourceline, task.get("id"), f"办理组 {key} 没有成员，任务将无人办理",
                                      WARNING))
    return details


def named_forms(root: etree._Element) -> list[str]:
    """The form keys the diagram names (start events' and user tasks' formKey), in document order."""
    found = root.xpath(".//bpmn:startEvent/@camunda:formKey | .//bpmn:userTask/@camunda:formKey", namespaces=NS)
    return list(dict.fromkeys(str(key) for key in found if str(key)))


def resolve_forms(root: etree._Element, forms: FormRegistry, overrides: Mapping[str, Schema] | None = None,
                  process_forms: Mapping[str, Schema] | None = None) -> dict[str, Schema | None]:
    """What a deployment snapshots for each form the diagram names: the override, else the
    procedure's current form (`process_forms`, service/form_versions.current_forms), else the
    file; None when none exists."""
    resolved: dict[str, Schema | None] = {}
    for key in named_forms(root):
        if not is_form_key(key):
            resolved[key] = None
        elif overrides and key in overrides:
            resolved[key] = overrides[key]
        elif process_forms and key in process_forms:
            resolved[key] = process_forms[key]
        else:
            resolved[key] = forms.get(key).schema if forms.file_exists(key) else None
    return resolved


def _override_errors(root: etree._Element, overrides: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A form changed in the browser must be a JSON Schema object (its first element names it)."""
    errors = []
    for key in named_forms(root):
        if key not in overrides:
            continue
        problem = None if isinstance(overrides[key], dict) else "应为 JSON 对象"
        if problem is None:
            try:
                Draft202012Validator.check_schema(overrides[key])
            except SchemaError as exc:
                problem = exc.message
        if problem:
            node = root.xpath(".//*[@camunda:formKey=$key]", namespaces=NS, key=key)[0]
            errors.append(_error(node.sourceline, node.get("id"), f"表单 {key} 不是有效的 JSON Schema：{problem}"))
    return errors


@dataclass
class Checked:
    root: etree._Element
    xml: str
    models: dict[str, ProcessModel]
    forms: dict[str, Schema] = field(default_factory=dict)  # what the deployment snapshots
    warnings: list[dict[str, Any]] = field(default_factory=list)


def check_diagram(data: bytes | str, forms: FormRegistry, filename: str = "diagram.bpmn", *,
                  groups: Mapping[str, int] | None = None, form_overrides: Mapping[str, Schema] | None = None,
                  process_forms: Mapping[str, Schema] | None = None) -> Checked:
    """Run every check; raise Invalid with the whole list (errors first, then warnings), or return
    the parsed models with the forms to snapshot and the warnings.

    `groups`: every group key → its number of active members (None: groups are not checked);
    `form_overrides`: forms changed in the browser (a draft's); `process_forms`: the procedure's
    current forms. A form exists when any of them or forms/<key>.json has it."""
    root = safe_parse(data)
    errors = _xsd_errors(root)
    if errors:
        raise Invalid("流程图未通过 BPMN 2.0 校验", errors)
    resolved = resolve_forms(root, forms, form_overrides, process_forms)
    errors = _semantic_errors(root, resolved) + _override_errors(root, form_overrides or {})
    found = _group_details(root, groups) if groups is not None else []
    errors += [d for d in found if d["level"] == ERROR]
    warnings = _named(root, [d for d in found if d["level"] == WARNING])
    if errors:
        raise Invalid("流程图有错误，未部署", _named(root, errors) + warnings)
    try:
        models = parse_processes(root, filename)
    except ValidationException as exc:
        raise Invalid("流程图有错误，未部署", _named(root, [_parser_error(root, exc)])) from exc
    except Exception as exc:  # noqa: BLE001 - library bugs (e.g. TypeError) become one clear error
        raise Invalid("流程图有错误，未部署", _named(root, [_parser_error(root, exc)])) from exc
    if not models:
        raise Invalid("流程图有错误，未部署", [_error(root.sourceline, None, "没有可执行的流程")])
    xml = etree.tostring(root, encoding="unicode")
    return Checked(root, xml, models, {k: v for k, v in resolved.items() if v is not None}, warnings)


def checksum(key: str, xml: str, forms: Mapping[str, Schema]) -> str:
    """What makes a version: the diagram and the forms it snapshots (JSON, sorted by form key; each
    form as written, since the order of its properties is the order of its fields). Without forms
    it is the checksum of versions deployed before forms were snapshotted."""
    text = f"{key}\n{xml}"
    if forms:
        text += "\n" + json.dumps([[k, forms[k]] for k in sorted(forms)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def known_version(session: Session, key: str, xml: str, forms: Mapping[str, Schema], *,
                  any_version: bool = False) -> int | None:
    """The version this content already is: the latest's number if it is the latest, or with
    `any_version` the newest of any version with this checksum (also one deployed before forms
    were snapshotted, whose checksum covers the XML only)."""
    digest = checksum(key, xml, forms)
    if not any_version:
        latest = session.execute(select(Definition.version, Definition.checksum).where(Definition.key == key)
                                 .order_by(Definition.version.desc()).limit(1)).first()
        return latest.version if latest is not None and latest.checksum == digest else None
    digests = {digest, checksum(key, xml, {})}
    return session.scalar(select(Definition.version).where(Definition.key == key, Definition.checksum.in_(digests))
                          .order_by(Definition.version.desc()).limit(1))


def deploy(session: Session, checked: Checked, user: str | None, *, comment: str | None = None,
           skip_known: bool = False) -> tuple[list[str], dict[str, int], bool]:
    """Store each process of the diagram as a new version, with its forms, unless it is unchanged
    (the latest version; with `skip_known` any earlier one, so that start-up deploys of bpmn/
    never revert a version deployed in the browser).

    Returns (keys, version per key, changed)."""
    versions: dict[str, int] = {}
    changed = False
    now = clock.now()
    for key, model in checked.models.items():
        known = known_version(session, key, checked.xml, checked.forms, any_version=skip_known)
        if known is not None:
            versions[key] = known
            continue
        version = (session.scalar(select(func.max(Definition.version)).where(Definition.key == key)) or 0) + 1
        definition = Definition(
            key=key, name=model.name, version=version, bpmn_xml=checked.xml,
            checksum=checksum(key, checked.xml, checked.forms), start_form_key=model.start_form_key,
            deployed_at=now, deployed_by=user, comment=comment,
        )
        session.add(definition)
        session.flush()
        write_snapshots(session, definition.id, checked.forms)
        audit.record(session, audit.DEPLOY, target=f"{key} v{version}", username=user,
                     detail=f"部署“{model.name}”第 {version} 版" + (f"；说明：{comment}" if comment else ""))
        versions[key] = version
        changed = True
    session.flush()
    return list(checked.models), versions, changed


def executable_keys(root: etree._Element) -> list[str]:
    """The ids of the diagram's executable processes (what a deployment would version)."""
    return [str(p.get("id")) for p in root.xpath("./bpmn:process[@isExecutable='true']", namespaces=NS)
            if p.get("id")]


def group_members(session: Session) -> dict[str, int]:
    """Every group key → its number of active members: users who may log in and whose membership
    is not suspended now (service/suspensions.py). What the group checks and the catalog read."""
    counts = dict.fromkeys(session.scalars(select(Group.key)), 0)
    rows = session.execute(select(UserGroup.group_key, func.count(User.id))
                           .join(User, User.id == UserGroup.user_id)
                           .where(User.active.is_(True), held(User.username, UserGroup.group_key))
                           .group_by(UserGroup.group_key))
    for key, count in rows:
        counts[key] = int(count)
    return counts
