"""Forms rendered from JSON Schema: one widget description per schema property, the if/then
rules govflow.js applies, a fresh form's defaults, a posted form's values for re-rendering,
and the errors of a refused submission placed next to their fields.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from service import clock, queries
from service.errors import Invalid
from service.forms import Form, is_rows
from service.web.form_rows import describe as describe_rows
from service.web.form_widgets import describe_kind, with_upload

# Conditionally required fields that stay visible when not required (free comments).
ALWAYS_VISIBLE = frozenset({"comment"})


def conditions(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """if/then rules as {when: {field: value}, required: [...], patterns: {field: regex}}."""
    rules = []
    for part in schema.get("allOf", []):
        cond, then = part.get("if", {}), part.get("then", {})
        when = {k: v["const"] for k, v in cond.get("properties", {}).items()
                if isinstance(v, dict) and "const" in v}
        if not when:
            continue
        patterns = {k: v["pattern"] for k, v in then.get("properties", {}).items()
                    if isinstance(v, dict) and "pattern" in v}
        rules.append({"when": when, "required": list(then.get("required", [])), "patterns": patterns})
    return rules


def form_fields(form: Form, values: dict[str, Any], errors: dict[str, str],
                group_rows: list[dict[str, str]], paths: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One dict per schema property, telling the template which widget to draw. `paths`: every
    error by its full path (`disputes.0.parties`), for the rows of an array of objects."""
    return _describe(form.schema, values, errors, group_rows, paths or {})


def _describe(schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str],
              group_rows: list[dict[str, str]], paths: dict[str, str]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    conditional = {f for rule in conditions(schema) for f in rule["required"]} - required
    fields = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("x-hidden") is True:  # set by the system (a linked start), never typed in a page
            continue
        kind = prop.get("type")
        field: dict[str, Any] = {
            "name": name,
            "title": prop.get("title", name),
            "description": prop.get("description", ""),
            "required": name in required,
            "conditional": name in conditional,
            "hideable": name in conditional and name not in ALWAYS_VISIBLE,
            "error": errors.get(name),
            "value": values.get(name, ""),
            "min": prop.get("minimum"),
            "max": prop.get("maximum"),
            "maxlength": prop.get("maxLength"),
            "options": [],
        }
        kind_widget = describe_kind(schema, name, prop, values, paths)  # rich text, checklist, setting choices
        if kind_widget is not None:
            field.update(kind_widget)
        elif "x-group-prefix" in prop:
            prefixes = tuple(prop["x-group-prefix"])
            field["widget"] = "select"
            # `x-group-pattern` (a regex the whole key matches) narrows a family to some of its keys
            # (the units of a family, not the roles inside them)
            pattern = prop.get("x-group-pattern")
            field["options"] = [(row["key"], row["name"]) for row in group_rows if row["key"].startswith(prefixes)
                                and (not pattern or re.fullmatch(pattern, row["key"]))]
        elif "enum" in prop:
            titles = prop.get("x-enum-titles") or prop["enum"]
            field["widget"] = "select"
            field["options"] = [(str(v), str(t)) for v, t in zip(prop["enum"], titles, strict=False)]
        elif kind == "boolean":
            field["widget"] = "checkbox"
        elif kind in ("integer", "number"):
            field["widget"] = "number"
            field["step"] = "1" if kind == "integer" else "any"
        elif is_rows(prop):
            field["widget"] = "rows"
            field.update(describe_rows(name, prop, values, paths, group_rows, _describe))
        elif kind == "array":
            items = prop.get("items", {})
            if "enum" in items:
                titles = items.get("x-enum-titles") or items["enum"]
                field["widget"] = "checkboxes"
                field["options"] = [(str(v), str(t)) for v, t in zip(items["enum"], titles, strict=False)]
                value = field["value"]
                field["value"] = [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])
            else:
                field["widget"] = "unsupported"
        elif prop.get("format") == "date":
            field["widget"] = "date"
        elif prop.get("format") == "date-time":
            field["widget"] = "datetime"
        elif prop.get("x-widget") == "textarea":
            field["widget"] = "textarea"
        else:
            field["widget"] = "text"
        field["wide"] = field["widget"] in ("textarea", "checkboxes", "rows", "unsupported", "richtext", "checklist")
        fields.append(field)
    return fields


def initial_values(form: Form, case_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults for a fresh form: schema defaults; required dates default to now/today; a field
    with `"x-prefill": true` starts from the case's current value (an article's body to edit)."""
    now = clock.now()
    required = set(form.schema.get("required", []))
    values: dict[str, Any] = {}
    for name, prop in form.schema.get("properties", {}).items():
        if prop.get("x-prefill") is True and case_data and case_data.get(name) not in (None, ""):
            values[name] = case_data[name]
        elif "default" in prop:
            values[name] = prop["default"]
        elif name in required and prop.get("format") == "date-time":
            values[name] = now.strftime("%Y-%m-%dT%H:%M")
        elif name in required and prop.get("format") == "date":
            values[name] = now.strftime("%Y-%m-%d")
    return values


def submitted_values() -> dict[str, Any]:
    """The raw values of a posted form, for re-rendering it (lists for multi-value fields)."""
    raw = request.form.to_dict(flat=False)
    raw.pop("csrf_token", None)
    raw.pop("submission_token", None)
    return {k: (v if len(v) > 1 else v[0]) for k, v in raw.items()}


def _error_map(exc: Invalid) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """Field errors by field name (the path's first segment); errors that name no field go to
    the top of the form; and every error by its full path, for the rows widget's rows."""
    fields: dict[str, str] = {}
    general: list[str] = []
    paths: dict[str, str] = {}
    for detail in exc.details:
        path = str(detail.get("field") or "")
        field = path.split(".")[0]
        message = str(detail.get("message") or exc.message)
        if field:
            fields.setdefault(field, message)
            paths.setdefault(path, message)
        else:
            general.append(message)
    return fields, general, paths


def form_context(form: Form | None, values: dict[str, Any], exc: Invalid | None,
                 session: Session, case_id: int | None = None, task_id: str | None = None) -> dict[str, Any]:
    """What a form template needs: the fields, the if/then rules and the errors to show.
    `case_id`/`task_id`: the page's case exists (a task page), so rich text may upload images."""
    errors, general, paths = _error_map(exc) if exc else ({}, [], {})
    if form is None:
        return {"form": None, "fields": [], "rules": [], "form_errors": general}
    fields = form_fields(form, values, errors, queries.groups(session), paths)
    with_upload(fields, case_id, task_id)
    for field in fields:  # a task page's 预览 names its case: the preview may show what this form does not hold
        if field.get("preview_url") and case_id is not None:
            field["preview_url"] = f"{field['preview_url']}?case={case_id}"
    known = {f["name"] for f in fields}
    general += [f"{name}：{msg}" for name, msg in errors.items() if name not in known]
    return {"form": form, "fields": fields, "rules": conditions(form.schema), "form_errors": general,
            "form_message": exc.message if exc else None}
