"""The rows widget: an `array` of `object` items filled in as rows, one row per item, each
sub-field with its own widget, named `<field>-<i>-<sub>` (service/forms.py `coerce` turns them
back into a list of objects). Without JavaScript a fixed number of empty rows is shown, so a
form can still be filed; form_rows.js adds, removes and renumbers rows in the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.forms import is_row_field, posted_rows

# Empty rows drawn below the filled ones (without JavaScript the only way to add items):
# `x-blank-rows` on the array, else this many while nothing is filled, one after filled rows.
BLANK_ROWS = 3
TEMPLATE_INDEX = "__i__"

Describe = Callable[[dict[str, Any], dict[str, Any], dict[str, str], list[dict[str, str]], dict[str, str]],
                    list[dict[str, Any]]]


def _shown(value: list[str]) -> Any:
    return value[0] if len(value) == 1 else value


def _row_values(name: str, items: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows to draw again: as posted (a refused submission, raw `<name>-<i>-<sub>` fields,
    in the order `coerce` gave them, so error indexes match), else the stored list of objects."""
    if any(is_row_field(name, k) for k in values):
        return [{sub: _shown(v) for sub, v in row.items()} for row in posted_rows(name, items, values)]
    stored = values.get(name)
    if isinstance(stored, list):
        return [row for row in stored if isinstance(row, dict)]
    return []


def _row(name: str, index: int | str, items: dict[str, Any], values: dict[str, Any], paths: dict[str, str],
         group_rows: list[dict[str, str]], describe: Describe, blank: bool = False) -> dict[str, Any]:
    props = items.get("properties", {})
    prefix = f"{name}.{index}."
    errors = {path[len(prefix):]: msg for path, msg in paths.items() if path.startswith(prefix)}
    fields = describe(items, values, {k: v for k, v in errors.items() if k in props}, group_rows, {})
    for sub in fields:
        sub["sub"] = sub["name"]
        sub["name"] = f"{name}-{index}-{sub['sub']}"
        sub["hideable"] = sub["conditional"] = False  # the form's if/then rules are top-level only
    # an error on the row itself (`disputes.0`) or on a key the items do not declare
    row_errors = [msg for key, msg in errors.items() if key.split(".")[0] not in props]
    if f"{name}.{index}" in paths:
        row_errors.insert(0, paths[f"{name}.{index}"])
    return {"index": index, "fields": fields, "errors": row_errors, "blank": blank}


def _orphan(path: str, name: str, count: int) -> bool:
    parts = path.split(".")
    return parts[0] == name and len(parts) > 1 and (not parts[1].isdigit() or int(parts[1]) >= count)


def describe(name: str, prop: dict[str, Any], values: dict[str, Any], paths: dict[str, str],
             group_rows: list[dict[str, str]], describe_fields: Describe) -> dict[str, Any]:
    """What the rows widget draws: the filled rows, the empty ones, the template JavaScript
    copies for 添加一行, and the errors of the array itself (shown above the rows)."""
    items = prop["items"]
    filled = _row_values(name, items, values)
    rows = [_row(name, i, items, row, paths, group_rows, describe_fields) for i, row in enumerate(filled)]
    blanks = int(prop.get("x-blank-rows", BLANK_ROWS)) if not filled else 1
    rows += [_row(name, len(filled) + j, items, {}, {}, group_rows, describe_fields, blank=True)
             for j in range(blanks)]
    # errors of rows not drawn (a validator naming a row past the end) go with the array's own
    orphans = [msg for path, msg in paths.items() if _orphan(path, name, len(filled))]
    own = paths.get(name)
    return {
        "rows": rows,
        "template": _row(name, TEMPLATE_INDEX, items, {}, {}, group_rows, describe_fields, blank=True),
        "error": own or (orphans[0] if orphans else None),
        "columns": [str(p.get("title", k)) for k, p in items.get("properties", {}).items()],
    }


# ---- read-only display: a list of objects as a small table ----------------------------------

def table(items: list[Any], titles: dict[str, str], order: list[str],
          show: Callable[[str, Any], str]) -> dict[str, Any] | None:
    """{columns, rows} of a list of objects: the keys some item has and a title names, in
    `order`; each cell shown by `show(key, value)`. None if it is not a list of objects."""
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    present = {k for item in items for k, v in item.items() if v not in (None, "")}
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted((k for k in present if k in titles), key=lambda k: (rank.get(k, len(rank)), k))
    if not keys:
        return None
    rows = [[show(k, item.get(k)) if item.get(k) not in (None, "") else "—" for k in keys] for item in items]
    return {"columns": [titles[k] for k in keys], "rows": rows}


def summary(shown: dict[str, Any]) -> str:
    """The table as one line of text (history entries, lists): 「1. 当事人：张三，…；2. …」."""
    lines = []
    for i, row in enumerate(shown["rows"], 1):
        cells = "，".join(f"{c}：{v}" for c, v in zip(shown["columns"], row, strict=True) if v != "—")
        lines.append(f"{i}. {cells}")
    return "；".join(lines)
