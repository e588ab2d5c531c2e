"""The diff of two deployed versions of one procedure: which elements (flow nodes, sequence flows,
lanes) were added, removed or changed, and for a changed one which of the attributes GovFlow reads
changed (group, assignee, form, due date, conditions, scripts, timers, default flow, the flow's
ends); and which of the forms the procedure names changed, field by field.

Pure functions over each version's XML and form snapshots (no database): the versions page, its
API and the migration helpers all read the same answer. The XML is parsed with
service.deploy.safe_parse, as every stored diagram was at deployment."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from service.deploy import BPMN_NS, CAMUNDA_NS, NS, safe_parse

Schema = dict[str, Any]
Change = dict[str, Any]

FLOW_NODES = frozenset({
    "task", "userTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "manualTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
})
CONNECTIONS = frozenset({"sequenceFlow"})
LANES = frozenset({"lane"})
# the order of an element's attributes in the table; what GovFlow reads, nothing of the layout
ATTRIBUTES = (
    "type", "name", "candidateGroups", "assignee", "formKey", "dueDate", "condition", "script",
    "timeDate", "timeDuration", "timeCycle", "eventDefinition", "default", "sourceRef", "targetRef",
    "attachedToRef", "cancelActivity", "calledElement", "collection", "elementVariable", "isSequential",
    "flowNodeRef",
)
# a lane's nodes: the diff names those moved out and in
SET_ATTRIBUTES = frozenset({"flowNodeRef"})
CAMUNDA_ATTRIBUTES = ("candidateGroups", "assignee", "formKey", "dueDate")
TIMER_KINDS = ("timeDate", "timeDuration", "timeCycle")
# a form field's aspects first in this order, then any other JSON Schema keyword it carries
FIELD_ORDER = ("title", "type", "format", "required", "enum", "default", "minimum", "maximum",
               "minLength", "maxLength", "pattern", "description")


@dataclass(frozen=True)
class Version:
    """One deployed version as the diff reads it: its number, its XML and its forms by key."""

    key: str
    version: int
    xml: str
    forms: Mapping[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Element:
    """One diagram element of the procedure with the attributes GovFlow reads (None: absent)."""

    id: str
    type: str
    name: str | None
    attributes: dict[str, str]
    order: int


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _text(node: etree._Element | None) -> str | None:
    """An expression or script as written, without the indentation of the XML around it."""
    if node is None or node.text is None:
        return None
    text = textwrap.dedent(node.text).strip()
    return text or None


def _child(node: etree._Element, name: str) -> etree._Element | None:
    return node.find(f"{{{BPMN_NS}}}{name}")


def _event_attributes(node: etree._Element, found: dict[str, str]) -> None:
    kinds = []
    for definition in node:
        if not isinstance(definition.tag, str) or not _local(definition).endswith("EventDefinition"):
            continue
        kinds.append(_local(definition))
        for kind in TIMER_KINDS:
            value = _text(_child(definition, kind))
            if value is not None:
                found[kind] = value
        if _local(definition) == "conditionalEventDefinition":
            condition = _text(_child(definition, "condition"))
            if condition is not None:
                found["condition"] = condition
    if kinds:
        found["eventDefinition"] = "、".join(sorted(kinds))


def _attributes(node: etree._Element, kind: str) -> dict[str, str]:
    """What GovFlow reads of one element, as text (a lane: the ids of its nodes, sorted)."""
    found: dict[str, str] = {"type": kind}
    name = (node.get("name") or "").strip()
    if name:
        found["name"] = name
    for attribute in CAMUNDA_ATTRIBUTES:
        value = node.get(f"{{{CAMUNDA_NS}}}{attribute}")
        if value is not None and value.strip():
            found[attribute] = value.strip()
    for attribute in ("default", "sourceRef", "targetRef", "attachedToRef", "calledElement"):
        if node.get(attribute):
            found[attribute] = str(node.get(attribute))
    if kind == "boundaryEvent":
        found["cancelActivity"] = "false" if node.get("cancelActivity") == "false" else "true"
    if kind == "sequenceFlow":
        condition = _text(_child(node, "conditionExpression"))
        if condition is not None:
            found["condition"] = condition
    if kind == "scriptTask":
        script = _text(_child(node, "script"))
        if script is not None:
            found["script"] = script
    _event_attributes(node, found)
    loop = _child(node, "multiInstanceLoopCharacteristics")
    if loop is not None:
        found["isSequential"] = "true" if loop.get("isSequential") == "true" else "false"
        for attribute in ("collection", "elementVariable"):
            if loop.get(f"{{{CAMUNDA_NS}}}{attribute}"):
                found[attribute] = str(loop.get(f"{{{CAMUNDA_NS}}}{attribute}"))
    if kind == "lane":
        refs = sorted((ref.text or "").strip() for ref in node.findall(f"{{{BPMN_NS}}}flowNodeRef"))
        if refs:
            found["flowNodeRef"] = "、".join(r for r in refs if r)
    return found


def process_of(root: etree._Element, key: str) -> etree._Element | None:
    """The <bpmn:process> of this procedure (a diagram file may hold several)."""
    found = root.xpath("./bpmn:process[@id=$key]", namespaces=NS, key=key)
    return found[0] if found else None


def elements(xml: str | etree._Element, key: str) -> dict[str, Element]:
    """id → element of every flow node, sequence flow and lane of the procedure (also those
    inside its sub-processes), in document order."""
    process = process_of(safe_parse(xml) if isinstance(xml, str | bytes) else xml, key)
    if process is None:
        return {}
    found: dict[str, Element] = {}
    for order, node in enumerate(process.iter()):
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN_NS:
            continue
        kind = _local(node)
        element_id = node.get("id")
        if element_id and kind in FLOW_NODES | CONNECTIONS | LANES:
            attributes = _attributes(node, kind)
            found[element_id] = Element(element_id, kind, attributes.get("name"), attributes, order)
    return found


def category(kind: str) -> int:
    """Flow nodes first in a list, then sequence flows, then lanes."""
    return 0 if kind in FLOW_NODES else 1 if kind in CONNECTIONS else 2


def _sorted(items: Iterable[Element]) -> list[Element]:
    return sorted(items, key=lambda e: (category(e.type), e.order))


def _summary(element: Element) -> dict[str, Any]:
    return {"element_id": element.id, "name": element.name, "type": element.type}


def _members(value: str | None) -> list[str]:
    return value.split("、") if value else []


def element_changes(before: Element, after: Element) -> list[Change]:
    """The attributes that differ, in the table's order; for a lane's nodes, the ones moved out
    (before) and in (after) rather than both whole lists."""
    changes = []
    for attribute in ATTRIBUTES:
        old, new = before.attributes.get(attribute), after.attributes.get(attribute)
        if old == new:
            continue
        if attribute in SET_ATTRIBUTES:
            out = [m for m in _members(old) if m not in _members(new)]
            into = [m for m in _members(new) if m not in _members(old)]
            old, new = "、".join(out) or None, "、".join(into) or None
        changes.append({"attribute": attribute, "before": old, "after": new})
    return changes


def _show(value: Any) -> str | None:
    """A JSON Schema value as the table shows it (lists of choices joined with 、)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "、".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _keyword_changes(before: Mapping[str, Any], after: Mapping[str, Any], order: Iterable[str],
                     skip: Iterable[str] = ()) -> list[Change]:
    ordered = list(order)
    rest = sorted((set(before) | set(after)) - set(ordered) - set(skip))
    return [{"attribute": k, "before": _show(before.get(k)), "after": _show(after.get(k))}
            for k in [*ordered, *rest] if k not in skip and before.get(k) != after.get(k)]


def _field(schema: Schema | None, name: str) -> dict[str, Any] | None:
    """One property of a form with its `required` as a keyword of its own (None: not there)."""
    if not schema or name not in (schema.get("properties") or {}):
        return None
    spec = dict(schema["properties"][name])
    spec["required"] = name in (schema.get("required") or [])
    return spec


def form_diff(form_key: str, before: Schema | None, after: Schema | None,
              used_by: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How one form differs between two versions (None when it is the same)."""
    if before == after:
        return None
    change = "added" if before is None else "removed" if after is None else "changed"
    old, new = before or {}, after or {}
    names = list(new.get("properties") or {})
    names += [n for n in (old.get("properties") or {}) if n not in names]
    fields = []
    for name in names:
        was, now = _field(before, name), _field(after, name)
        if was == now:
            continue
        fields.append({"field": name, "title": (now or was or {}).get("title"),
                       "change": "added" if was is None else "removed" if now is None else "changed",
                       "changes": _keyword_changes(was or {}, now or {}, FIELD_ORDER)})
    return {"form_key": form_key, "title": new.get("title") or old.get("title"), "change": change,
            "used_by": used_by,
            "changes": _keyword_changes(old, new, ("title", "description"), skip=("properties", "required")),
            "fields": fields}


def _named_forms(found: Mapping[str, Element]) -> dict[str, list[dict[str, Any]]]:
    """form key → the elements (start events, user tasks) that name it, by id and name."""
    named: dict[str, list[dict[str, Any]]] = {}
    for element in _sorted(found.values()):
        if "formKey" in element.attributes:
            named.setdefault(element.attributes["formKey"], []).append(
                {"element_id": element.id, "name": element.name})
    return named


def forms_diff(a: Version, b: Version, a_elements: Mapping[str, Element],
               b_elements: Mapping[str, Element]) -> list[dict[str, Any]]:
    """The forms either version names whose schema differs (a form named only by one version is
    added or removed), in the order the newer version names them."""
    named_a, named_b = _named_forms(a_elements), _named_forms(b_elements)
    found = []
    for form_key in [*named_b, *(k for k in named_a if k not in named_b)]:
        before = a.forms.get(form_key) if form_key in named_a else None
        after = b.forms.get(form_key) if form_key in named_b else None
        entry = form_diff(form_key, before, after, named_b.get(form_key) or named_a.get(form_key, []))
        if entry is not None:
            found.append(entry)
    return found


def _layout(root: etree._Element, ids: Iterable[str]) -> dict[str, str]:
    """element id → its shape's bounds or its edge's waypoints, for the elements `ids`."""
    wanted = set(ids)
    found: dict[str, str] = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or node.get("bpmnElement") not in wanted:
            continue
        points = [(p.get("x"), p.get("y"), p.get("width"), p.get("height")) for p in node
                  if isinstance(p.tag, str) and _local(p) in ("Bounds", "waypoint")]
        found[str(node.get("bpmnElement"))] = repr(points)
    return found


def diff(a: Version, b: Version) -> dict[str, Any]:
    """What changed from version `a` to version `b` (API.md: {a, b, added, removed, changed,
    forms}; `moved`: the elements otherwise the same whose place on the diagram changed)."""
    root_a, root_b = safe_parse(a.xml), safe_parse(b.xml)
    old, new = elements(root_a, a.key), elements(root_b, b.key)
    changed = []
    for element in _sorted(e for e in new.values() if e.id in old):
        changes = element_changes(old[element.id], element)
        if changes:
            changed.append({**_summary(element), "name": element.name or old[element.id].name,
                            "changes": changes})
    same = [i for i in new if i in old and i not in {c["element_id"] for c in changed}]
    layout_a, layout_b = _layout(root_a, same), _layout(root_b, same)
    return {
        "a": a.version,
        "b": b.version,
        "added": [_summary(e) for e in _sorted(e for e in new.values() if e.id not in old)],
        "removed": [_summary(e) for e in _sorted(e for e in old.values() if e.id not in new)],
        "changed": changed,
        "forms": forms_diff(a, b, old, new),
        "moved": [i for i in same if layout_a.get(i) != layout_b.get(i)],
    }
