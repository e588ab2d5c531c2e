"""Form fields beyond plain JSON Schema that any procedure's form may declare (service/forms.py
applies them; service/web/formview.py draws them):

- rich text: a string with `"contentMediaType": "text/html"`, stored only as service/html_clean.py
  leaves it (an editor's empty `<p><br></p>` counts as not filled in, so `required` catches it);
- a checklist: an object of booleans with `"x-widget": "checklist"` and `"x-comments"` naming
  the sibling object of strings that holds each point's comment, posted as `<name>-<key>` radios
  ("true"/"false") and `<comments>-<key>` inputs;
- choices from a setting: a string with `"x-choices-setting": "<procedure>.<key>"`, whose value
  must be one of the items of that text setting (an administrator edits the list, no code does).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from jsonschema.exceptions import ValidationError

from service.html_clean import clean, is_blank

RICH_TEXT = "text/html"
CHOICES = "x-choices-setting"
CHECK_VALUES = {"true": True, "false": False}
_SEPARATORS = re.compile(r"[,，、\n\r]+")


# ---- rich text -----------------------------------------------------------------------------------


def is_rich_text(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("type") == "string" and prop.get("contentMediaType") == RICH_TEXT


def clean_rich_text(schema: dict[str, Any], data: dict[str, Any]) -> None:
    """Every rich-text value of `data` cleaned in place (rows of an array of objects too); one
    that says nothing once cleaned is removed, as an empty field is."""
    for name, prop in schema.get("properties", {}).items():
        value = data.get(name)
        if is_rich_text(prop) and isinstance(value, str):
            cleaned = clean(value)
            if is_blank(cleaned):
                del data[name]
            else:
                data[name] = cleaned
        elif isinstance(prop, dict) and isinstance(prop.get("items"), dict) and isinstance(value, list):
            for row in value:
                if isinstance(row, dict):
                    clean_rich_text(prop["items"], row)


# ---- choices from a text setting -----------------------------------------------------------------


def choice_items(text: Any) -> list[str]:
    """The items of a list setting: split on , ， 、 and line breaks, trimmed, empty ones dropped,
    each once, in the setting's order."""
    if not isinstance(text, str):
        return []
    return list(dict.fromkeys(part.strip() for part in _SEPARATORS.split(text) if part.strip()))


def setting_choices(key: str) -> list[str]:
    """The choices a form offers now (an unknown setting offers none)."""
    from service import config_store  # read at call time: the administrator may have changed it

    try:
        return choice_items(config_store.get(key))
    except KeyError:
        return []


def choices_keyword(_validator: Any, key: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """The `x-choices-setting` keyword: the value is one of the setting's items."""
    if not isinstance(instance, str) or not isinstance(key, str):
        return
    if instance not in setting_choices(key):
        yield ValidationError(f"请从“{schema.get('title') or '此项'}”的可选项中选择")


# ---- the checklist -------------------------------------------------------------------------------


def is_checklist(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("type") == "object" and prop.get("x-widget") == "checklist" \
        and isinstance(prop.get("properties"), dict)


def comment_targets(schema: dict[str, Any]) -> dict[str, str]:
    """The comments object of each checklist: comments property → its checklist's name."""
    return {str(prop["x-comments"]): name for name, prop in schema.get("properties", {}).items()
            if is_checklist(prop) and isinstance(prop.get("x-comments"), str)}


def _first(raw: dict[str, list[str]], key: str) -> str | None:
    values = raw.get(key)
    if not values:
        return None
    return str(values[0]) if isinstance(values, list) else str(values)


def coerce_checklist(schema: dict[str, Any], name: str, raw: dict[str, list[str]], out: dict[str, Any]) -> bool:
    """`out[name]` from the posted fields if `name` is a checklist or a checklist's comments
    (True: handled). A checklist gives its chosen points as booleans (an unchosen one is left
    out, so `required` names it); its comments object the non-empty comments. The checklist's
    marker field (posted by the widget) makes both present even when nothing was chosen, so
    that a step's empty comments replace the earlier ones."""
    props = schema.get("properties", {})
    prop = props.get(name)
    targets = comment_targets(schema)
    if is_checklist(prop):
        posted = any(f"{name}-{key}" in raw for key in prop["properties"])
        if not posted and name not in raw:
            return True
        chosen: dict[str, Any] = {}
        for key in prop["properties"]:
            value = _first(raw, f"{name}-{key}")
            if value in CHECK_VALUES:
                chosen[key] = CHECK_VALUES[value]
            elif value:
                chosen[key] = value  # neither: the schema's type error names the point
        out[name] = chosen
        return True
    if name in targets:
        checklist = targets[name]
        own = prop.get("properties") if isinstance(prop, dict) else None
        keys = list(own) if isinstance(own, dict) and own else list(props[checklist]["properties"])
        comments = {key: text.strip() for key in keys if (text := _first(raw, f"{name}-{key}")) and text.strip()}
        if comments or checklist in raw or any(f"{checklist}-{key}" in raw for key in props[checklist]["properties"]):
            out[name] = comments
        return True
    return False
