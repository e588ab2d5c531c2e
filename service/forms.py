"""Task forms: one JSON Schema per formKey in forms/, validated on the server with jsonschema."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, relevance

from service.errors import Invalid, NotFound

ROOT = Path(__file__).resolve().parent.parent
FORMS_DIR = Path(os.environ.get("GOVFLOW_FORMS_DIR", ROOT / "forms"))

_format_checker = FormatChecker()


@_format_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    """Accept ISO 8601 with or without seconds; a time zone is added by the service if missing."""
    if not isinstance(value, str):
        return True
    from datetime import datetime

    datetime.fromisoformat(value)
    return True


def _message(error: ValidationError) -> str:
    kind, value = error.validator, error.validator_value
    messages = {
        "required": "此项为必填项",
        "enum": "请选择有效的选项",
        "const": "取值不正确",
        "maximum": f"不能大于 {value}",
        "minimum": f"不能小于 {value}",
        "maxLength": f"不能超过 {value} 个字符",
        "minLength": "此项为必填项" if value == 1 else f"至少 {value} 个字符",
        "pattern": "格式不正确",
        "format": "日期时间格式不正确" if value in ("date", "date-time") else "格式不正确",
        "type": f"类型不正确（应为{_TYPE_NAMES.get(str(value), value)}）",
        "additionalProperties": "包含表单中没有的字段",
    }
    return messages.get(str(kind), error.message)


_TYPE_NAMES = {"integer": "整数", "number": "数字", "string": "文本", "boolean": "是/否", "array": "列表", "object": "对象"}


def _field(error: ValidationError) -> str:
    if error.validator == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        base = ".".join(str(p) for p in error.absolute_path)
        name = missing[0] if missing else ""
        return f"{base}.{name}" if base else name
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return extra[0] if extra else ""
    return ".".join(str(p) for p in error.absolute_path)


class Form:
    """One form: its schema and a validator built once."""

    def __init__(self, key: str, schema: dict[str, Any]) -> None:
        self.key = key
        self.schema = schema

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema, format_checker=_format_checker)

    @property
    def title(self) -> str:
        return str(self.schema.get("title", self.key))

    def errors(self, data: Any) -> list[dict[str, str]]:
        if not isinstance(data, dict):
            return [{"field": "", "message": "表单数据必须是 JSON 对象"}]
        found: dict[str, str] = {}
        for error in sorted(self.validator.iter_errors(data), key=relevance):
            found.setdefault(_field(error), _message(error))
        return [{"field": f, "message": m} for f, m in found.items()]

    def validate(self, data: Any) -> dict[str, Any]:
        errors = self.errors(data)
        if errors:
            raise Invalid("表单填写有误，请检查标出的字段", errors)
        return dict(data)


class FormRegistry:
    """Loads forms/*.json on demand and keeps them (reloaded when the file changes)."""

    def __init__(self, directory: Path = FORMS_DIR) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, tuple[float, Form]] = {}

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def exists(self, key: str) -> bool:
        return _safe_key(key) and self.path(key).is_file()

    def get(self, key: str) -> Form:
        if not self.exists(key):
            raise NotFound(f"找不到表单 {key}")
        path = self.path(key)
        mtime = path.stat().st_mtime
        cached = self._cache.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        form = Form(key, json.loads(path.read_text(encoding="utf-8")))
        self._cache[key] = (mtime, form)
        return form


def _safe_key(key: str) -> bool:
    return bool(key) and all(c.isalnum() or c in "_-" for c in key)


def coerce(schema: dict[str, Any], raw: dict[str, list[str]]) -> dict[str, Any]:
    """Turn HTML form fields (strings) into the schema's types; empty fields are left out."""
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type")
        values = [v for v in raw.get(name, []) if v != ""]
        if kind == "boolean":
            if name in raw:
                out[name] = any(v in ("1", "true", "on", "yes") for v in raw[name])
            continue
        if not values:
            continue
        value = values[0].strip() if isinstance(values[0], str) else values[0]
        if kind == "array":
            out[name] = values
        elif kind == "integer":
            try:
                out[name] = int(value)
            except ValueError:
                out[name] = value
        elif kind == "number":
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = value
        elif prop.get("format") == "date-time" and isinstance(value, str) and len(value) == 16:
            out[name] = value + ":00+08:00"  # <input type=datetime-local> gives YYYY-MM-DDTHH:MM
        else:
            out[name] = value
    return out
