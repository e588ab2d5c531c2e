"""台账 (ledgers): statistical tables a procedure declares (`Procedure.ledgers`) and the platform
serves as JSON, as a page and as an Excel file.

A ledger says what its table is (columns), who may read it, which periods it is counted over
(季度/年度/月份) and how to build its rows from the stored tables; everything else — the period
arguments and their Chinese errors, who may read, masking, the Excel file with the office and
the period in its header — is the same for every ledger and lives here, naming no procedure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import procedure
from service.actors import Actor
from service.clock import BEIJING, parse_datetime
from service.errors import Forbidden, NotFound
from service.procedure import Procedure
from service.report_periods import (  # noqa: F401 - the ledgers' periods, re-exported
    PERIOD_KINDS,
    PERIOD_NAMES,
    Period,
    parse_period,
    recent_periods,
)
from service.store.models import Group

# The unit making the reports (the Excel header's first line). No platform setting holds text,
# so it is this constant, or GOVFLOW_OFFICE_NAME where an installation names itself.
DEFAULT_OFFICE = "本机关"


def office_name() -> str:
    return os.environ.get("GOVFLOW_OFFICE_NAME", "").strip() or DEFAULT_OFFICE


COLUMN_KINDS = ("text", "int", "float", "date", "datetime")


# ----- the declaration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column: its key in the row objects, its Chinese title, its kind and its Excel width
    (in characters; a CJK character counts about two)."""

    key: str
    title: str
    kind: str = "text"  # "text" | "int" | "float" | "date" | "datetime"
    width: float = 12


# (session, period, group key → group name) → the rows, one dict per row, keyed by column keys
# (keys beyond the columns may carry what `total` needs; they are never served).
Builder = Callable[[Session, Period, dict[str, str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Ledger:
    """A 台账 a procedure declares in `Procedure.ledgers`."""

    key: str  # the URL's name: /api/v1/reports/<key>, /reports/<key>
    name: str  # the report's Chinese title, e.g. 信访件办理情况统计表
    readers: frozenset[str]  # group keys that may read it (the administrator always may)
    columns: tuple[Column, ...]
    build: Builder
    periods: tuple[str, ...] = ("quarter", "year")  # the first one is the page's default
    masked: tuple[str, ...] = ()  # columns holding personal data: masked in every output
    # The 合计 row shown under the table on the page and in the Excel file (never in the JSON).
    total: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None
    description: str = ""  # a line under the title on the page (counting rules, source)

    def __post_init__(self) -> None:
        keys = [c.key for c in self.columns]
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", self.key):
            raise ValueError(f"台账标识 {self.key!r} 不合法")
        if len(set(keys)) != len(keys):
            raise ValueError(f"台账 {self.key} 的列重复")
        bad = [c.key for c in self.columns if c.kind not in COLUMN_KINDS]
        if bad:
            raise ValueError(f"台账 {self.key} 的列类型不合法：{bad}")
        if not self.periods or any(p not in PERIOD_KINDS for p in self.periods):
            raise ValueError(f"台账 {self.key} 的统计期间不合法：{self.periods}")
        if not set(self.masked) <= set(keys):
            raise ValueError(f"台账 {self.key} 的脱敏字段不在列中：{sorted(set(self.masked) - set(keys))}")

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


# ----- registry and who may read --------------------------------------------------------------------


def installed() -> list[tuple[Procedure, Ledger]]:
    """Every ledger of the installed procedures, with the procedure that declares it."""
    return [(p, ledger) for p in procedure.registry() for ledger in p.ledgers]


def find(key: str) -> tuple[Procedure, Ledger]:
    """The ledger of this key and its procedure: 404 when none declares it."""
    found = [(declared, ledger) for declared, ledger in installed() if ledger.key == key]
    if len(found) > 1:
        raise ValueError(f"台账 {key} 被多个流程重复声明：{[d.key for d, _l in found]}")
    if not found:
        raise NotFound(f"报表 {key} 不存在")
    return found[0]


def may_read(actor: Actor, ledger: Ledger) -> bool:
    return actor.is_admin or bool(actor.groups & ledger.readers)


def require_read(actor: Actor, ledger: Ledger) -> None:
    if not may_read(actor, ledger):
        raise Forbidden(f"您无权查看“{ledger.name}”")


def readable(actor: Actor) -> list[Ledger]:
    """The ledgers this user may read, in declaration order (the navigation's entries)."""
    return [ledger for _p, ledger in installed() if may_read(actor, ledger)]


# ----- rows ------------------------------------------------------------------------------------------


def group_names(session: Session) -> dict[str, str]:
    return {g.key: g.name for g in session.scalars(select(Group))}


def mask_row(declared: Procedure, ledger: Ledger, row: dict[str, Any]) -> dict[str, Any]:
    """The ledger's personal-data columns masked with the procedure's own maskers (张*,
    5301**********1234); a column without a masker is starred out whole."""
    if not ledger.masked:
        return row
    maskers = declared.personal.maskers if declared.personal else {}
    out = dict(row)
    for key in ledger.masked:
        value = out.get(key)
        if isinstance(value, str) and value:
            masker = maskers.get(key)
            out[key] = masker(value) if masker else "*" * len(value)
    return out


def build_rows(session: Session, declared: Procedure, ledger: Ledger, period: Period) -> list[dict[str, Any]]:
    """The ledger's rows for the period, masked (a ledger is a list: nobody sees personal data
    in clear there), keeping the builder's extra keys for `total`."""
    return [mask_row(declared, ledger, row) for row in ledger.build(session, period, group_names(session))]


def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return parse_datetime(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=BEIJING)
    return parse_datetime(str(value))


def stored_data(raw: str | None) -> dict[str, Any]:
    """A history row's stored JSON (data_after) as a dict; anything else (empty, not an object,
    unreadable) as {} — a builder counts what is there and never fails on an odd row."""
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def stored_moment(value: Any) -> datetime | None:
    """A stored date-time as an aware Beijing one (SQLite gives it back without its offset);
    None when empty or unreadable."""
    if value is None or value == "":
        return None
    try:
        return parse_datetime(value)
    except (TypeError, ValueError):
        return None


def as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return parse_datetime(value).date()
    if isinstance(value, date):
        return value
    return parse_datetime(str(value)).date()


def json_value(column: Column, value: Any) -> Any:
    """A cell as the JSON API gives it: dates `YYYY-MM-DD`, date-times ISO with +08:00."""
    if column.kind == "date":
        day = as_date(value)
        return day.isoformat() if day else None
    if column.kind == "datetime":
        moment = as_datetime(value)
        return moment.isoformat(timespec="seconds") if moment else None
    return value


def json_rows(ledger: Ledger, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as served: the columns' keys only, in their order."""
    return [{c.key: json_value(c, row.get(c.key)) for c in ledger.columns} for row in rows]


def total_row(ledger: Ledger, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return ledger.total(rows) if ledger.total is not None and rows else None


def display(column: Column, value: Any) -> str:
    """A cell as the page shows it (— for nothing)."""
    if value is None or value == "":
        return "—"
    if column.kind == "date":
        day = as_date(value)
        return day.isoformat() if day else "—"
    if column.kind == "datetime":
        moment = as_datetime(value)
        return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"
    if column.kind == "float" and isinstance(value, int | float):
        return f"{value:.1f}"
    return str(value)


def days_between(start: datetime, end: datetime) -> float:
    """Elapsed days, fractional (the average-days columns)."""
    return (end - start) / timedelta(days=1)
