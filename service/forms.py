"""Task forms: one JSON Schema per formKey in forms/, validated on the server with jsonschema."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from service.errors import Invalid, NotFound
from service.form_kinds import CHOICES, choices_keyword, clean_rich_text, coerce_checklist

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
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


# ---- 公民身份号码 (GB 11643-1999): `"format": "cn-id-number"` on a string field.

class IdNumberError(ValueError):
    """Which part of a 公民身份号码 is wrong, in Chinese (e.g. 校验位不正确，应为X)."""


# 省级行政区划代码 (GB/T 2260): the first two digits of every 公民身份号码.
ID_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
})
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11
_ID_CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2: (sum of weighted digits) mod 11 → check character
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")
EARLIEST_BIRTH = date(1900, 1, 1)


def id_check_digit(first17: str) -> str:
    """The check character (0-9 or X) of the first 17 digits (GB 11643-1999 §5.4, ISO 7064 MOD 11-2)."""
    return _ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """What is wrong with a 公民身份号码 (GB 11643-1999), or None if it is valid: 18 characters
    (17 digits and a digit or X, lower-case x accepted), a province code as the address code's
    first two digits, a real birth date (YYYYMMDD, from 1900, not in the future), the check digit."""
    if len(value) != 18:
        return "长度应为18位"
    if not _ID_SHAPE.fullmatch(value):
        return "应为17位数字加1位数字或X"
    if value[:2] not in ID_PROVINCES or value[:6] == "000000":
        return "地区码不正确"
    try:
        born = datetime.strptime(value[6:14], "%Y%m%d").date()
    except ValueError:
        return "出生日期不正确"
    from service import clock

    if born < EARLIEST_BIRTH or born > clock.now().date():
        return "出生日期不正确"
    expected = id_check_digit(value[:17])
    if value[17].upper() != expected:
        return f"校验位不正确，应为{expected}"
    return None


@_format_checker.checks("cn-id-number", raises=IdNumberError)
def _is_id_number(value: object) -> bool:
    if not isinstance(value, str):
        return True
    problem = id_number_problem(value)
    if problem:
        raise IdNumberError(problem)
    return True


def normalise_id_number(value: str) -> str:
    """The stored form of a 公民身份号码: the check character X upper-case."""
    return value.strip().upper()


# ---- `"x-past": true`: the date of an event that already happened may not lie in the future.

TOLERANCE_SETTING = "forms.future_tolerance_minutes"


def _future_tolerance() -> timedelta:
    from service import config_store

    try:
        return timedelta(minutes=int(config_store.get(TOLERANCE_SETTING)))
    except KeyError:  # a registry without the platform's settings (bare unit tests)
        return timedelta(0)


def _past(validator: Any, enabled: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """`format: date`: not after today (Beijing); `format: date-time`: not after now plus the
    platform's tolerance (`forms.future_tolerance_minutes`). Malformed values are left to `format`."""
    if enabled is not True or not isinstance(instance, str):
        return
    from service import clock

    title = str(schema.get("title") or "日期")
    fmt = schema.get("format")
    try:
        if fmt == "date":
            if date.fromisoformat(instance) > clock.now().date():
                yield ValidationError(f"{title}不能晚于今天")
        elif fmt == "date-time":
            if clock.parse_datetime(instance) > clock.now() + _future_tolerance():
                yield ValidationError(f"{title}不能晚于当前时间")
    except (ValueError, OverflowError):
        return


_FormValidator = validators.extend(Draft202012Validator, {"x-past": _past, CHOICES: choices_keyword})


def _message(error: ValidationError) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "format" and isinstance(error.cause, IdNumberError):
        return f"{error.schema.get('title') or '身份证号码'}{error.cause}"
    if kind in ("x-past", CHOICES):
        return error.message
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
        "minItems": f"至少填写 {value} 条",
        "maxItems": f"最多填写 {value} 条",
    }
    return messages.get(str(kind), error.message)


_TYPE_NAMES = {"integer": "整数", "number": "数字", "string": "文本", "boolean": "是/否", "array": "列表", "object": "对象"}


_REQUIRED_MESSAGE = re.compile(r"^(?P<name>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") is a required property$")


def _field(error: ValidationError) -> str:
    if error.validator == "required":
        # jsonschema yields one error per missing property, its name only in the message.
        found = _REQUIRED_MESSAGE.match(error.message)
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        name = found.group("name") if found else None
        named = next((p for p in missing if repr(p) == name), missing[0] if missing else "")
        base = ".".join(str(p) for p in error.absolute_path)
        return f"{base}.{named}" if base else named
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        base = ".".join(str(p) for p in error.absolute_path)
        named = extra[0] if extra else ""
        return f"{base}.{named}" if base and named else (named or base)
    return ".".join(str(p) for p in error.absolute_path)


def _row_index(path: str) -> int:
    """The row of an error inside an array (`disputes.2.parties` → 2), so rows read in order."""
    parts = path.split(".")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


# Which error of a field is shown when it has several (lower first): a missing or mistyped
# value before its format, its format before lengths and ranges.
_KEYWORD_RANK = {"required": 0, "type": 1, "enum": 2, "const": 2, CHOICES: 2, "format": 3, "x-past": 4, "minLength": 5,
                 "maxLength": 5, "pattern": 6, "minimum": 7, "maximum": 7, "minItems": 7, "maxItems": 7,
                 "additionalProperties": 8}

FieldErrors = list[dict[str, str]]


class Form:
    """One form: its schema and a validator built once."""

    def __init__(self, key: str, schema: dict[str, Any]) -> None:
        self.key = key
        self.schema = schema

    @cached_property
    def validator(self) -> Draft202012Validator:
        return _FormValidator(self.schema, format_checker=_format_checker)

    @property
    def title(self) -> str:
        return str(self.schema.get("title", self.key))

    def errors(self, data: Any) -> FieldErrors:
        """Every field's error at once (one per field, the most telling), in the form's order."""
        if not isinstance(data, dict):
            return [{"field": "", "message": "表单数据必须是 JSON 对象"}]
        ranked = sorted(((_KEYWORD_RANK.get(str(e.validator), 9), i, e)
                         for i, e in enumerate(self.validator.iter_errors(data))), key=lambda t: (t[0], t[1]))
        found: dict[str, str] = {}
        for _rank, _i, error in ranked:
            found.setdefault(_field(error), _message(error))
        order = {name: i for i, name in enumerate(self.schema.get("properties", {}))}
        fields = sorted(found, key=lambda f: (order.get(f.split(".")[0], len(order)), _row_index(f)))
        return [{"field": f, "message": found[f]} for f in fields]

    def normalise(self, data: dict[str, Any]) -> None:
        """Values stored in one spelling, changed in place: 公民身份号码 with an upper-case X, rich
        text as the sanitiser leaves it (validate cleans it before checking, too)."""
        clean_rich_text(self.schema, data)
        for name, prop in self.schema.get("properties", {}).items():
            value = data.get(name)
            if isinstance(prop, dict) and prop.get("format") == "cn-id-number" and isinstance(value, str):
                data[name] = normalise_id_number(value)

    def validate(self, data: Any, extra: Callable[[dict[str, Any]], FieldErrors] | None = None) -> dict[str, Any]:
        """The data if the form accepts it, else Invalid with every field's error.

        `extra` (a procedure's rule beyond the schema) runs too, on the fields that passed the
        schema, so that its errors come in the same answer; a field keeps its schema error.
        The caller's dict is normalised in place (see `normalise`)."""
        if isinstance(data, dict):
            clean_rich_text(self.schema, data)  # what is checked and stored is the sanitised HTML
        errors = self.errors(data)
        if not isinstance(data, dict):
            raise Invalid("表单填写有误，请检查标出的字段", errors)
        self.normalise(data)
        if extra is not None:
            bad = {e["field"].split(".")[0] for e in errors}
            more = extra({k: v for k, v in data.items() if k not in bad})
            errors += [e for e in more if str(e.get("field", "")).split(".")[0] not in bad]
        if errors:
            raise Invalid("表单填写有误，请检查标出的字段", errors)
        return dict(data)


# A version's snapshotted forms, {form_key: schema}, read with the caller's session (or None):
# bound by the Runtime (service/form_versions.py reads them), so this module needs no database.
SnapshotLoader = Callable[[Any, int], Mapping[str, dict[str, Any]]]


class FormRegistry:
    """Loads forms/*.json on demand and keeps them (reloaded when the file changes). Given a
    deployed version's id, a form is that version's snapshot when it has one (kept in memory:
    a snapshot never changes), so running cases keep the form they started with."""

    def __init__(self, directory: Path = FORMS_DIR) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, tuple[float, Form]] = {}
        self._loader: SnapshotLoader | None = None
        self._versions: dict[int, dict[str, Form]] = {}

    def bind(self, loader: SnapshotLoader) -> None:
        """Give the registry the versions' snapshots (without a loader only files are read)."""
        self._loader = loader
        self._versions = {}

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def snapshot(self, key: str, definition_id: int | None, session: Any = None) -> Form | None:
        """The version's snapshot of `key`, or None (no version given, none bound, not snapshotted)."""
        if definition_id is None or self._loader is None:
            return None
        forms = self._versions.get(definition_id)
        if forms is None:
            forms = {k: Form(k, schema) for k, schema in self._loader(session, definition_id).items()}
            self._versions[definition_id] = forms
        return forms.get(key)

    def file_exists(self, key: str) -> bool:
        return is_form_key(key) and self.path(key).is_file()

    def exists(self, key: str, definition_id: int | None = None, session: Any = None) -> bool:
        return self.snapshot(key, definition_id, session) is not None or self.file_exists(key)

    def get(self, key: str, definition_id: int | None = None, session: Any = None) -> Form:
        """The version's form (its snapshot), else forms/<key>.json; NotFound if neither exists."""
        snapshot = self.snapshot(key, definition_id, session)
        if snapshot is not None:
            return snapshot
        if not self.file_exists(key):
            raise NotFound(f"找不到表单 {key}")
        path = self.path(key)
        mtime = path.stat().st_mtime
        cached = self._cache.get(key)
        if cached and cached[0] == mtime:
            return cached[1]
        form = Form(key, json.loads(path.read_text(encoding="utf-8")))
        self._cache[key] = (mtime, form)
        return form

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Every form of the folder, key → schema (a file that is not JSON is left out and logged)."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.directory.glob("*.json")):
            try:
                found[path.stem] = self.get(path.stem).schema
            except (NotFound, ValueError):
                log.warning("form file %s is not readable JSON", path.name)
        return found


def is_form_key(key: str) -> bool:
    """A form key names a file of the folder: letters, digits, `_` and `-` only."""
    return bool(key) and all(c.isalnum() or c in "_-" for c in key)


ROW_FIELD = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)-(?P<index>[0-9]{1,4})-(?P<sub>[A-Za-z_][A-Za-z0-9_]*)$")
_TRUE = ("1", "true", "on", "yes")


def is_rows(prop: Any) -> bool:
    """An `array` of `object` items: filled in as rows (`<name>-<i>-<sub>` fields)."""
    return isinstance(prop, dict) and prop.get("type") == "array" and isinstance(prop.get("items"), dict) \
        and prop["items"].get("type") == "object"


def is_row_field(name: str, key: str) -> bool:
    """Whether a posted field is a cell of `name`'s rows (`name-<i>-<sub>`)."""
    match = ROW_FIELD.match(key)
    return bool(match) and match["name"] == name


def posted_rows(name: str, items: dict[str, Any], raw: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The rows of `name` as posted, in index order, gaps closed and all-empty rows dropped (an
    unticked checkbox or a blank select is empty): the same order as `coerce`'s list, so that an
    error at `<name>.<i>.<sub>` names the i-th row shown again. Values stay raw strings."""
    props = items.get("properties", {})
    found: dict[int, dict[str, list[str]]] = {}
    for key, value in raw.items():
        match = ROW_FIELD.match(key)
        if not match or match["name"] != name or match["sub"] not in props:
            continue
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        found.setdefault(int(match["index"]), {})[match["sub"]] = values
    rows = []
    for _index, row in sorted(found.items()):
        if any(v.strip() and (props[sub].get("type") != "boolean" or v in _TRUE)
               for sub, values in row.items() for v in values):
            rows.append(row)
    return rows


def _scalar(prop: dict[str, Any], name: str, raw: dict[str, list[str]], out: dict[str, Any]) -> None:
    """One posted field into `out[name]` as its type says; empty fields are left out."""
    kind = prop.get("type")
    values = [v for v in raw.get(name, []) if v != ""]
    if kind == "boolean":
        if name in raw:
            out[name] = any(v in _TRUE for v in raw[name])
        return
    if not values:
        return
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
    elif prop.get("format") == "cn-id-number" and isinstance(value, str):
        out[name] = normalise_id_number(value)
    else:
        out[name] = value


def coerce(schema: dict[str, Any], raw: dict[str, list[str]]) -> dict[str, Any]:
    """Turn HTML form fields (strings) into the schema's types; empty fields are left out.

    An array of objects comes as rows (`disputes-0-parties`, …): a list of objects in row
    order, each sub-field coerced by its own type. The rows widget posts its field's name as a
    marker, so a page whose rows are all empty (or all removed) gives `[]`; a post without the
    marker or any row leaves the field out, like any other empty field."""
    out: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if coerce_checklist(schema, name, raw, out):  # `<name>-<key>` radios and their comments
            continue
        if is_rows(prop):
            rows = [coerce(prop["items"], row) for row in posted_rows(name, prop["items"], raw)]
            if rows or name in raw or any(is_row_field(name, key) for key in raw):
                out[name] = rows
            continue
        _scalar(prop, name, raw, out)
    return out
