"""Whether a form (JSON Schema) changed in the browser is one the task pages can draw: an object
with fields, each with a name, a 标题 and a type the pages know, choices that are not empty, the
required fields among the fields. Checked before a draft stores it (service/drafts.py) and before
the editor's preview renders it, so a deployment never meets a form a page could not draw.

Two fields with one name are lost in a parsed dict: `load_json` remembers them."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from service.errors import BadRequest, Invalid
from service.forms import is_rows

FORM_INVALID = "表单有误，未保存"
FORM_NOT_OBJECT = "表单应为 JSON 对象"
NO_FIELDS = "表单至少需要一个字段"
MAX_FORM_BYTES = 256 * 1024
# the types a task page can draw (service/web/formview.py)
FIELD_TYPES = ("string", "integer", "number", "boolean", "array", "object")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Problems = list[dict[str, str]]


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the names it held twice (a dict keeps only one)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    found = _Object(pairs)
    names = [name for name, _value in pairs]
    found.duplicates = tuple(dict.fromkeys(n for n in names if names.count(n) > 1))
    return found


def load_json(raw: bytes | str) -> dict[str, Any]:
    """A request body as a JSON object, remembering duplicated names (two fields named alike)."""
    try:
        data = json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("请求体必须是 JSON 对象（Content-Type: application/json）") from exc
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象")
    return data


def _enum_problems(label: str, values: Any, titles: Any) -> list[str]:
    if not isinstance(values, list) or not values:
        return [f"{label}的选项不能为空"]
    problems = []
    if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
        problems.append(f"{label}的选项有重复")
    if titles is not None and (not isinstance(titles, list) or len(titles) != len(values)):
        problems.append(f"{label}的选项名称与选项个数不一致")
    return problems


def _one_field(path: str, name: str, prop: Any) -> list[str]:
    """The problems of one field (its sub-fields apart)."""
    found = []
    if not FIELD_NAME.fullmatch(name):
        found.append(f"字段名 {path} 只能由英文字母、数字和下划线组成，且不能以数字开头")
    if not isinstance(prop, dict):
        return [*found, f"字段 {path} 应为 JSON 对象"]
    title = prop.get("title")
    if not isinstance(title, str) or not title.strip():
        found.append(f"字段 {path} 缺少标题")
    kind = prop.get("type")
    if kind is None:
        found.append(f"字段 {path} 缺少类型")
    elif not isinstance(kind, str) or kind not in FIELD_TYPES:
        shown = kind if isinstance(kind, str) else json.dumps(kind, ensure_ascii=False)
        found.append(f"字段 {path} 的类型 {shown} 不支持")
    if "enum" in prop:
        found += _enum_problems(f"字段 {path} ", prop["enum"], prop.get("x-enum-titles"))
    items = prop.get("items")
    if kind == "array" and isinstance(items, dict) and "enum" in items:
        found += _enum_problems(f"字段 {path} ", items["enum"], items.get("x-enum-titles"))
    return found


def _field_problems(props: dict[str, Any], prefix: str = "") -> Problems:
    problems = [{"field": prefix + name, "message": f"字段名 {prefix + name} 重复"}
                for name in getattr(props, "duplicates", ())]
    for name, prop in props.items():
        path = prefix + name
        problems.extend({"field": path, "message": m} for m in _one_field(path, name, prop))
        if isinstance(prop, dict) and is_rows(prop):  # a table: its columns are fields too
            columns = prop["items"].get("properties")
            if not isinstance(columns, dict) or not columns:
                problems.append({"field": path, "message": f"字段 {path} 的表格至少需要一列"})
            else:
                problems.extend(_field_problems(columns, path + "."))
    return problems


def _schema_error(exc: SchemaError) -> dict[str, str]:
    """A keyword JSON Schema does not allow as written, named in Chinese (the library's own text
    is English): the field it belongs to and the keyword."""
    path = [str(p) for p in exc.absolute_path]
    keyword = path[-1] if path else str(exc.validator)
    names = [path[i + 1] for i, part in enumerate(path[:-1]) if part == "properties" and i + 1 < len(path) - 1]
    if names:
        field = ".".join(names)
        return {"field": field, "message": f"字段 {field} 的设置 {keyword} 取值不正确"}
    return {"field": "", "message": f"表单的设置 {keyword} 取值不正确"}


def form_problems(schema: Any) -> Problems:
    """What keeps `schema` from being a form a task page can draw: [{"field", "message"}] in
    Chinese (field: the field's name, '' for the whole form); [] when it is usable."""
    if not isinstance(schema, dict):
        return [{"field": "", "message": FORM_NOT_OBJECT}]
    problems: Problems = []
    if schema.get("type", "object") != "object":
        problems.append({"field": "", "message": "表单的类型应为 object"})
    if len(json.dumps(schema, ensure_ascii=False).encode("utf-8")) > MAX_FORM_BYTES:
        problems.append({"field": "", "message": f"表单超过 {MAX_FORM_BYTES // 1024} KB 上限"})
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        problems.append({"field": "", "message": NO_FIELDS})
        props = {}
    else:
        problems.extend(_field_problems(props))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        problems.append({"field": "", "message": "必填字段（required）应为字段名的列表"})
    elif props:
        problems.extend({"field": name, "message": f"必填字段 {name} 不在表单中"}
                        for name in dict.fromkeys(required) if name not in props)
    if not problems:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(_schema_error(exc))
    return problems


def check_form(schema: Any) -> None:
    """Invalid (422) with every problem of the form, or nothing."""
    problems = form_problems(schema)
    if problems:
        raise Invalid(FORM_INVALID, problems)
