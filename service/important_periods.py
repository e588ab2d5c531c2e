"""Important periods (重要时期): named date ranges (全国两会 03-01…03-15) an office declares, read
by a procedure's schedule to run something on every working day inside them (`ranges`).

Who may keep them is the declaring procedure's business (it asks service/policy.py); this module
validates, stores, lists and removes them. Every change is recorded in `setting_changes` under
the key `important_periods` (who, when, what before and after) — the periods decide which days
the offices must report, so like a setting they are accountable — and logged."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import calendar, clock
from service.errors import Invalid, NotFound
from service.store.db import Database
from service.store.models import SettingChange
from service.store.period_models import MAX_NAME, ImportantPeriod

log = logging.getLogger(__name__)

CHANGE_KEY = "important_periods"  # the key of their rows in setting_changes
MAX_DAYS = 366  # a period is an occasion (a session, a holiday, a campaign), at most about a year
MIN_YEAR, MAX_YEAR = 1950, 2100  # the legal calendar's range (service/web/calendar_admin.py)
FIELDS = ("name", "first_day", "last_day")
LABELS = {"first_day": "开始日期", "last_day": "结束日期"}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(raw: Any, field: str, errors: list[dict[str, str]]) -> date | None:
    """A real calendar day written `YYYY-MM-DD`, else a Chinese error on `field`."""
    label = LABELS[field]
    text = raw.strip() if isinstance(raw, str) else raw
    if text in (None, ""):
        errors.append({"field": field, "message": f"请填写{label}"})
        return None
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        errors.append({"field": field, "message": f"{label}格式应为 YYYY-MM-DD（如 2026-03-01）"})
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors.append({"field": field, "message": f"{label} {text} 不是有效的日期"})
        return None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        errors.append({"field": field, "message": f"{label}应在 {MIN_YEAR} 至 {MAX_YEAR} 年之间"})
        return None
    return day


def validated(body: dict[str, Any]) -> tuple[str, date, date]:
    """(name, first day, last day) of a new period, or Invalid with every field's Chinese error."""
    errors: list[dict[str, str]] = []
    raw_name = body.get("name")
    name = raw_name.strip() if isinstance(raw_name, str) else ""
    if raw_name is not None and not isinstance(raw_name, str):
        errors.append({"field": "name", "message": "名称应为文字"})
    elif not name:
        errors.append({"field": "name", "message": "请填写名称（如：全国两会）"})
    elif len(name) > MAX_NAME:
        errors.append({"field": "name", "message": f"名称不能超过{MAX_NAME}个字"})
    first = _day(body.get("first_day"), "first_day", errors)
    last = _day(body.get("last_day"), "last_day", errors)
    if first is not None and last is not None:
        if last < first:
            errors.append({"field": "last_day", "message": "结束日期不能早于开始日期"})
        elif (last - first).days + 1 > MAX_DAYS:
            errors.append({"field": "last_day", "message": f"重要时期不能超过{MAX_DAYS}天，请分段设置"})
    if errors:
        raise Invalid("重要时期设置有误，请检查标出的字段", errors)
    assert first is not None and last is not None
    return name, first, last


def as_json(row: ImportantPeriod) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "first_day": row.first_day.isoformat(),
            "last_day": row.last_day.isoformat()}


def _described(row: ImportantPeriod) -> str:
    """How a change shows in the settings' history (原值 → 新值)."""
    return f"#{row.id} {row.name}（{row.first_day.isoformat()} 至 {row.last_day.isoformat()}）"


def _record(session: Session, username: str, before: str | None, after: str) -> None:
    session.add(SettingChange(key=CHANGE_KEY, at=clock.now(), username=username,
                              before=None if before is None else json.dumps(before, ensure_ascii=False),
                              after=json.dumps(after, ensure_ascii=False)))


def create(db: Database, username: str, body: dict[str, Any]) -> dict[str, Any]:
    """Declare a period (overlapping others is allowed); 422 with field errors writes nothing."""
    name, first, last = validated(body)
    with db.write() as session:
        row = ImportantPeriod(name=name, first_day=first, last_day=last, created_by=username,
                              created_at=clock.now())
        session.add(row)
        session.flush()
        described = _described(row)
        _record(session, username, None, described)
        made = as_json(row)
    log.info("重要时期：%s 新增 %s", username, described)
    return made


def listed(session: Session) -> list[dict[str, Any]]:
    """Every period, by first day, with who declared it and when."""
    rows = session.scalars(select(ImportantPeriod).order_by(ImportantPeriod.first_day, ImportantPeriod.id))
    return [{**as_json(r), "created_by": r.created_by,
             "created_at": clock.parse_datetime(r.created_at).isoformat(timespec="seconds")} for r in rows]


def remove(db: Database, username: str, period_id: int) -> dict[str, Any]:
    """Remove a period: no further rounds start for its days (rounds already started go on)."""
    with db.write() as session:
        row = session.get(ImportantPeriod, period_id)
        if row is None:
            raise NotFound("重要时期不存在或已删除")
        gone = as_json(row)
        described = _described(row)
        session.delete(row)
        _record(session, username, described, "已删除")
    log.info("重要时期：%s 删除 %s", username, described)
    return gone


def ranges(session: Session, ending_from: date | None = None) -> list[tuple[date, date, str]]:
    """(first day, last day, name) of every period — only those ending on or after `ending_from`
    when given (the schedule's window; the last_day index serves it) — by first day."""
    query = select(ImportantPeriod.first_day, ImportantPeriod.last_day, ImportantPeriod.name)
    if ending_from is not None:
        query = query.where(ImportantPeriod.last_day >= ending_from)
    rows = session.execute(query.order_by(ImportantPeriod.first_day, ImportantPeriod.id))
    return [(first, last, name) for first, last, name in rows]


def day_counts(first: date, last: date) -> tuple[int, int]:
    """(calendar days, working days by the legal calendar) of a range, both ends included."""
    days = (last - first).days + 1
    working = sum(1 for n in range(days) if calendar.is_working_day(first + timedelta(days=n)))
    return days, working
