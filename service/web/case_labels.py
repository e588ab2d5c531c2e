"""Labels for case data: the field titles, enum titles and formats of every form a diagram
uses (cached per deployed version), and the (label, shown value) rows the case panels print.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from service import procedure
from service.errors import GovFlowError
from service.forms import is_rows
from service.store.models import Definition
from service.web.context import services
from service.web.dates import fmt_dt
from service.web.form_rows import summary as rows_summary
from service.web.form_rows import table as rows_table
from service.web.kind_values import folded, kind_labels, kind_row, merge_kind_labels

# Keys every case has whatever its procedure (a procedure labels its own computed keys).
COMPUTED_LABELS = {"business_key": "统一编号", "due_at": "办结期限", "handling_group": "办理单位"}
# Fields every approval step writes for itself: the case data keeps only the latest one, which
# would read as the case's own (a stale 意见说明 after a later step). They are shown in the
# history entry of the step that made them, never among the case's data.
STEP_KEYS = frozenset({"decision", "comment"})

CAMUNDA_FORM_KEY = "{http://camunda.org/schema/1.0/bpmn}formKey"

_label_cache: dict[tuple[int, str], dict[str, Any]] = {}


def _step_forms(definition: Definition) -> dict[str, str]:
    """bpmn_id → formKey of every element that has a form, in document order."""
    from service.deploy import safe_parse

    try:
        root = safe_parse(definition.bpmn_xml)
    except GovFlowError:
        return {}
    return {str(node.get("id")): str(node.get(CAMUNDA_FORM_KEY)) for node in root.iter()
            if isinstance(node.tag, str) and node.get(CAMUNDA_FORM_KEY) and node.get("id")}


def _form_labels(schema: dict[str, Any]) -> dict[str, Any]:
    titles: dict[str, str] = {}
    enums: dict[str, dict[str, str]] = {}
    formats: dict[str, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    pickers: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        titles[name] = str(prop.get("title", name))
        if is_rows(prop):  # an array of objects: its items' own labels, for the table of its rows
            own = _form_labels(prop["items"])
            rows[name] = {**own, "order": list(own["titles"])}
        if prop.get("format"):
            formats[name] = prop["format"]
        if "x-group-prefix" in prop:  # a group picker: its value is a group key
            pickers.append(name)
        for value, title in zip(prop.get("enum", []), prop.get("x-enum-titles", []), strict=False):
            enums.setdefault(name, {})[str(value)] = str(title)
    return {"titles": titles, "enums": enums, "formats": formats, "rows": rows, "pickers": pickers,
            **kind_labels(schema)}


def labels_for(definition: Definition) -> dict[str, Any]:
    """Field titles, enum titles and formats from every form the diagram uses (start form first);
    `steps` keeps each step's own labels for its history entries."""
    cache_key = (definition.id, definition.checksum)
    cached = _label_cache.get(cache_key)
    if cached is not None:
        return cached
    forms = services().runtime.forms
    step_forms = _step_forms(definition)
    keys = [definition.start_form_key] if definition.start_form_key else []
    keys += list(step_forms.values())
    titles: dict[str, str] = {}
    enums: dict[str, dict[str, str]] = {}
    formats: dict[str, str] = {}
    rows: dict[str, dict[str, Any]] = {}
    per_form: dict[str, dict[str, Any]] = {}
    kinds: dict[str, Any] = {}  # rich-text names and checklists (kind_values.py)
    pickers: set[str] = set()  # fields any form picks a group for (shown by the group's name)
    for key in dict.fromkeys(keys):
        if not forms.exists(key, definition.id):
            continue
        own = per_form[key] = _form_labels(forms.get(key, definition.id).schema)  # the version's forms
        merge_kind_labels(kinds, own)
        pickers.update(own["pickers"])
        for name, title in own["titles"].items():
            titles.setdefault(name, title)
        for name, fmt in own["formats"].items():
            formats.setdefault(name, fmt)
        for name, sub in own["rows"].items():
            rows.setdefault(name, sub)
        for name, mapping in own["enums"].items():
            for value, title in mapping.items():
                enums.setdefault(name, {}).setdefault(value, title)
    declared = procedure.get(definition.key)
    pickers.update(declared.unit_keys if declared else ())
    for name, title in {**COMPUTED_LABELS, **(declared.labels if declared else {})}.items():
        titles.setdefault(name, title)
    # A message's payload lands as `<name>_data`: shown under the message's label, its fields
    # under their own form's labels (the same labels its history entry uses).
    nested: dict[str, dict[str, Any]] = {}
    messages: dict[str, dict[str, Any]] = {}
    for rule in declared.messages if declared else ():
        own = _form_labels(forms.get(rule.form_key).schema) if rule.form_key and forms.exists(rule.form_key) \
            else {"titles": {}, "enums": {}, "formats": {}, "rows": {}}
        titles.setdefault(f"{rule.name}_data", rule.label)
        nested[f"{rule.name}_data"] = messages[rule.name] = {**own, "order": list(own["titles"])}
    order = list(titles)
    result: dict[str, Any] = {"titles": titles, "enums": enums, "formats": formats, "order": order, "steps": {},
                              "nested": nested, "messages": messages, "rows": rows,
                              "pickers": frozenset(pickers), **kinds}
    for bpmn_id, key in step_forms.items():
        own = per_form.get(key)
        if own is None:
            continue
        result["steps"][bpmn_id] = {
            "titles": {**titles, **own["titles"]},
            "enums": {**enums, **own["enums"]},
            "formats": {**formats, **own["formats"]},
            "order": list(own["titles"]) + [k for k in order if k not in own["titles"]],
            "nested": nested,
            "rows": {**rows, **own["rows"]},
            "pickers": frozenset(pickers),
            "rich": own["rich"] + [n for n in kinds.get("rich", []) if n not in own["rich"]],
            "checklists": {**kinds.get("checklists", {}), **own["checklists"]},
        }
    _label_cache[cache_key] = result
    return result


def _display(name: str, value: Any, labels: dict[str, Any], group_names: dict[str, str]) -> str:
    if value is None or value == "" or value == [] or value == {}:  # an empty object reads as nothing, not "{}"
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    enum = labels["enums"].get(name)
    if enum and str(value) in enum:
        return enum[str(value)]
    if name.endswith("group") and isinstance(value, str):
        return group_names.get(value, value)
    if (name.endswith("_by") or name in labels.get("pickers", ())) and isinstance(value, str) \
            and value in group_names:
        return group_names[value]  # a unit that did something (the department that reported) or was picked
    if name.endswith("groups") and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "、".join(group_names.get(v, v) for v in value)  # e.g. a round's reporting units
    fmt = labels["formats"].get(name)
    if fmt == "date":
        return str(value)
    if isinstance(value, str) and (fmt == "date-time" or re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", value)):
        return fmt_dt(value)
    if isinstance(value, list) and (shown := _table(name, value, labels, group_names)):
        return rows_summary(shown)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _table(name: str, value: list[Any], labels: dict[str, Any], group_names: dict[str, str]) -> dict[str, Any] | None:
    """A list of objects as {columns, rows}: the sub-fields' titles of the form that declares it
    (else the case's own labels, e.g. the departments' collected reports), cells shown as values."""
    sub = labels.get("rows", {}).get(name)
    if sub is None:
        sub = {"titles": labels["titles"], "enums": labels["enums"], "formats": labels["formats"],
               "order": labels["order"], "rows": labels.get("rows", {}), "pickers": labels.get("pickers", ())}
    return rows_table(value, sub["titles"], sub["order"],
                           lambda key, cell: _display(key, cell, sub, group_names))


def data_rows(data: dict[str, Any] | None, labels: dict[str, Any], group_names: dict[str, str],
              skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    """(label, shown value) rows in form order. Empty values, internals and keys nothing labels
    are left out: a page in Chinese shows no raw key. A message's payload is one row, its fields
    each with their own label."""
    if not data:
        return []
    order = {name: i for i, name in enumerate(labels["order"])}
    nested = labels.get("nested", {})
    skipped = set(skip) | folded(labels, data)
    rows = []
    for name in sorted(data, key=lambda k: (order.get(k, len(order)), k)):
        value = data[name]
        if name in skipped or value is None or value == "" or name.startswith("_") or name not in labels["titles"]:
            continue
        special = kind_row(name, value, data, labels)  # rich text, a checklist and its comments
        if special is not None:
            rows.append({"name": name, "label": labels["titles"][name], "table": None, **special})
            continue
        if name in nested and isinstance(value, dict):
            parts = data_rows(value, nested[name], group_names)
            if not parts:
                continue
            shown = "；".join(f"{part['label']}：{part['value']}" for part in parts)
        else:
            shown = _display(name, value, labels, group_names)
        table = _table(name, value, labels, group_names) if isinstance(value, list) else None
        rows.append({
            "name": name,
            "label": labels["titles"][name],
            "value": shown,
            "table": table,  # a list of objects: drawn as a small table (_form_rows.html)
            "long": table is not None or len(shown) > 40 or (isinstance(value, str) and "\n" in value),
        })
    return rows
