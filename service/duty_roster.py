"""值班表 (duty roster): 24-hour duty in two shifts a day — 白班 08:00–20:00 and 夜班 20:00 to 08:00
of the next day — each with its duty officer and, 领导带班, its duty leader (usernames).

This module validates, stores and reads the shifts; who may keep or read them is the business of
the procedure offering the pages (it asks service/policy.py). Every change is recorded in
`setting_changes` under `duty_roster` (who, when, what), like the important periods: the roster
decides who is called first when an emergency is reported. `on_duty_at` answers who holds the
shift covering a moment; `coverage` whether every day of a range has both shifts with officer and
leader (the important periods page). Excel in and out: service/duty_excel.py."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service import clock
from service.clock import BEIJING
from service.errors import Invalid
from service.report_periods import Period
from service.store.db import Database
from service.store.duty_models import MAX_NOTE, SHIFT_KINDS, DutyShift
from service.store.models import SettingChange, User

log = logging.getLogger(__name__)

CHANGE_KEY = "duty_roster"  # the key of its rows in setting_changes
DAY_STARTS, NIGHT_STARTS = time(8, 0), time(20, 0)  # 白班 08:00–20:00; 夜班 20:00–08:00 next day
KIND_LABELS = {"day": "白班", "night": "夜班"}
KIND_HOURS = {"day": "08:00–20:00", "night": "20:00–次日08:00"}
ROLE_LABELS = {"officer": "值班人员", "leader": "带班领导"}
_KINDS_IN = {"白班": "day", "夜班": "night", "day": "day", "night": "night", "日班": "day"}
_DAY = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")
MIN_YEAR, MAX_YEAR = 2000, 2100
WEEKDAYS = "一二三四五六日"


@dataclass(frozen=True)
class Shift:
    """A validated roster entry (officer None: the shift is to be cleared)."""

    day: date
    kind: str
    officer: str | None
    leader: str | None
    note: str


# ----- moments and months --------------------------------------------------------------------------


def shift_at(moment: datetime) -> tuple[date, str]:
    """The (day, kind) of the shift covering `moment`: 夜班 of day D covers D 20:00 to D+1 08:00."""
    local = moment.astimezone(BEIJING)
    if local.time() < DAY_STARTS:
        return local.date() - timedelta(days=1), "night"
    return local.date(), "day" if local.time() < NIGHT_STARTS else "night"


def shift_bounds(day: date, kind: str) -> tuple[datetime, datetime]:
    """When the shift begins and ends (Beijing time)."""
    if kind == "day":
        return datetime.combine(day, DAY_STARTS, BEIJING), datetime.combine(day, NIGHT_STARTS, BEIJING)
    return datetime.combine(day, NIGHT_STARTS, BEIJING), datetime.combine(day + timedelta(days=1), DAY_STARTS, BEIJING)


def parse_month(raw: str | None) -> Period:
    """`YYYY-MM` (this month when empty), else a Chinese 422 on the field `month`."""
    text = (raw or "").strip()
    if not text:
        return Period.containing("month", clock.now())
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found.group(2)) <= 12 or not MIN_YEAR <= int(found.group(1)) <= MAX_YEAR:
        raise Invalid(f"月份“{text}”格式不正确",
                      [{"field": "month", "message": f"月份格式应为 YYYY-MM（{MIN_YEAR}–{MAX_YEAR} 年），例如 2026-12"}])
    return Period.of_month(int(found.group(1)), int(found.group(2)))


def month_days(period: Period) -> list[date]:
    first, last = period.start.date(), (period.end - timedelta(days=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_label(day: date) -> str:
    return f"{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


# ----- validation -----------------------------------------------------------------------------------


def as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    return str(raw).strip()


def _day(raw: Any) -> date | str:
    """A calendar day from a date, an Excel datetime or `YYYY-MM-DD` text; else the Chinese error."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = as_text(raw)
    if not text:
        return "请填写日期"
    found = _DAY.fullmatch(text)
    if found is None:
        return f"日期“{text}”格式不正确，应为 YYYY-MM-DD（如 2026-12-01）"
    try:
        day = date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        return f"日期“{text}”不是有效的日期"
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        return f"日期“{text}”应在 {MIN_YEAR} 至 {MAX_YEAR} 年之间"
    return day


def _people(session: Session, names: set[str]) -> dict[str, tuple[str, bool]]:
    """username → (name, active) of those that exist."""
    if not names:
        return {}
    rows = session.execute(select(User.username, User.name, User.active).where(User.username.in_(sorted(names))))
    return {u: (n, bool(a)) for u, n, a in rows}


def validated(session: Session, entries: list[tuple[int, dict[str, Any]]], where: str = "第{n}行",
              within: Period | None = None, clearing: bool = False) -> list[Shift]:
    """Each (number, entry) as a Shift, or Invalid with every error, numbered (`where`): an unreal
    date, a date outside `within`, a shift kind not 白班/夜班, an unknown or deactivated user, the
    same person as officer and leader, a note too long, a (day, shift) twice. With `clearing`, an
    entry without an officer clears its shift; otherwise the officer is required."""
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, entry in entries:
        at = where.format(n=number) + "：" if where else ""

        def fail(field: str, message: str, number: int = number, at: str = at) -> None:
            errors.append({"row": number, "field": field, "message": at + message})

        if not isinstance(entry, dict):
            fail("", "应为对象（日期、班次、值班人员、带班领导、备注）")
            continue
        day = _day(entry.get("day"))
        if isinstance(day, str):
            fail("day", day)
        elif within is not None and not within.start.date() <= day < within.end.date():
            fail("day", f"日期 {day.isoformat()} 不在{within.label}内")
        kind = _KINDS_IN.get(as_text(entry.get("kind")))
        if kind is None:
            fail("kind", f"班次“{as_text(entry.get('kind'))}”不正确，应为 白班 或 夜班" if as_text(entry.get("kind"))
                 else "请填写班次（白班 或 夜班）")
        officer, leader, note = as_text(entry.get("officer")), as_text(entry.get("leader")), as_text(entry.get("note"))
        if not officer and not clearing:
            fail("officer", "请填写值班人员（用户名）")
        if not officer and leader:
            fail("officer", "填写了带班领导，也请填写值班人员（用户名）")
        if officer and officer == leader:
            fail("leader", "值班人员和带班领导不能是同一人")
        if len(note) > MAX_NOTE:
            fail("note", f"备注不能超过{MAX_NOTE}个字")
        parsed.append((number, {"day": day, "kind": kind, "officer": officer, "leader": leader, "note": note, "at": at}))
    people = _people(session, {p[k] for _, p in parsed for k in ("officer", "leader") if p[k]})
    seen: dict[tuple[date, str], int] = {}
    shifts: list[Shift] = []
    for number, p in parsed:
        for role in ("officer", "leader"):
            username = p[role]
            if not username:
                continue
            if username not in people:
                errors.append({"row": number, "field": role,
                               "message": f"{p['at']}{ROLE_LABELS[role]}的用户名“{username}”不存在"})
            elif not people[username][1]:
                errors.append({"row": number, "field": role, "message":
                               f"{p['at']}{ROLE_LABELS[role]} {username}（{people[username][0]}）已停用，不能排班"})
        if isinstance(p["day"], date) and p["kind"] is not None:
            key = (p["day"], p["kind"])
            if key in seen:
                errors.append({"row": number, "field": "day", "message":
                               f"{p['at']}{p['day'].isoformat()} {KIND_LABELS[p['kind']]}与{where.format(n=seen[key])}重复"})
            else:
                seen[key] = number
            shifts.append(Shift(p["day"], p["kind"], p["officer"] or None, p["leader"] or None, p["note"]))
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise Invalid(f"值班表有误（共 {len(errors)} 处），未保存任何班次，请修改后重试", errors)
    return shifts


# ----- storing ---------------------------------------------------------------------------------------


def _record(session: Session, username: str, what: str) -> None:
    session.add(SettingChange(key=CHANGE_KEY, at=clock.now(), username=username, before=None,
                              after=json.dumps(what, ensure_ascii=False)))
    log.info("值班表：%s %s", username, what)


def _write(session: Session, username: str, shifts: list[Shift]) -> tuple[int, int]:
    """Set each shift (insert or update; officer None deletes it): (saved, cleared)."""
    if not shifts:
        return 0, 0
    days = sorted({s.day for s in shifts})
    existing = {(r.day, r.kind): r for r in session.scalars(
        select(DutyShift).where(DutyShift.day >= days[0], DutyShift.day <= days[-1]))}
    now, saved, cleared = clock.now(), 0, 0
    for shift in shifts:
        row = existing.get((shift.day, shift.kind))
        if shift.officer is None:
            if row is not None:
                session.delete(row)
                cleared += 1
            continue
        if row is None:
            row = DutyShift(day=shift.day, kind=shift.kind)
            session.add(row)
        row.officer, row.leader, row.note = shift.officer, shift.leader, shift.note
        row.updated_by, row.updated_at = username, now
        saved += 1
    return saved, cleared


def save_shifts(db: Database, username: str, entries: list[tuple[int, dict[str, Any]]], what: str,
                where: str = "第{n}行", clearing: bool = False) -> dict[str, Any]:
    """Validate and set these shifts, all or none (an import, one shift edited on the page)."""
    with db.write() as session:
        shifts = validated(session, entries, where, clearing=clearing)
        saved, cleared = _write(session, username, shifts)
        days = sorted({s.day for s in shifts})
        span = f"{days[0].isoformat()} 至 {days[-1].isoformat()}" if days else "无"
        _record(session, username, f"{what} {saved} 个班次（{span}）" + (f"，清除 {cleared} 个" if cleared else ""))
    return {"saved": saved, "cleared": cleared, "first_day": days[0].isoformat() if days else None,
            "last_day": days[-1].isoformat() if days else None}


def replace_month(db: Database, username: str, period: Period, body: dict[str, Any]) -> dict[str, Any]:
    """PUT: the month's roster becomes `body["shifts"]` (the shape GET gives); all or nothing."""
    raw = body.get("shifts")
    if not isinstance(raw, list):
        raise Invalid("请求体应包含 shifts 列表", [{"field": "shifts", "message": "shifts 应为班次列表（可为空）"}])
    with db.write() as session:
        shifts = validated(session, list(enumerate(raw, 1)), "第{n}条", within=period)
        session.execute(delete(DutyShift).where(DutyShift.day >= period.start.date(),
                                                DutyShift.day < period.end.date()))
        session.flush()
        _write(session, username, shifts)
        _record(session, username, f"设置{period.label}值班表：{len(shifts)} 个班次")
        return month_json(session, period)


# ----- reading ---------------------------------------------------------------------------------------


def _rows(session: Session, first: date, last: date) -> list[DutyShift]:
    return list(session.scalars(select(DutyShift).where(DutyShift.day >= first, DutyShift.day <= last)
                                .order_by(DutyShift.day, DutyShift.kind)))


def shift_json(row: DutyShift, names: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    def name(username: str | None) -> str | None:
        return names.get(username, (username, False))[0] if username else None

    return {"day": row.day.isoformat(), "kind": row.kind, "kind_label": KIND_LABELS[row.kind],
            "officer": row.officer, "officer_name": name(row.officer), "leader": row.leader,
            "leader_name": name(row.leader), "note": row.note or ""}


def month_json(session: Session, period: Period) -> dict[str, Any]:
    """GET: the month's shifts by day (and shift: 白班 before 夜班), with the people's names."""
    rows = _rows(session, period.start.date(), period.end.date() - timedelta(days=1))
    names = _people(session, {u for r in rows for u in (r.officer, r.leader) if u})
    shifts = sorted((shift_json(r, names) for r in rows), key=lambda s: (s["day"], SHIFT_KINDS.index(s["kind"])))
    return {"month": period.arg, "label": period.label, "shifts": shifts}


def month_table(session: Session, period: Period) -> list[dict[str, Any]]:
    """The page's rows: every day of the month with its two shifts (None where nobody holds one)."""
    found = {(s["day"], s["kind"]): s for s in month_json(session, period)["shifts"]}
    today = clock.now().date()
    return [{"day": d.isoformat(), "label": day_label(d), "weekend": d.weekday() >= 5, "today": d == today,
             "shifts": {k: found.get((d.isoformat(), k)) for k in SHIFT_KINDS}} for d in month_days(period)]


def active_people(session: Session) -> list[tuple[str, str]]:
    """(username, name) of every active user: the choices of the page's pickers."""
    return [(u, n) for u, n in session.execute(
        select(User.username, User.name).where(User.active.is_(True)).order_by(User.username))]


def on_duty_at(session: Session, moment: datetime) -> list[dict[str, Any]]:
    """Who holds the shift covering `moment`: the duty officer first, then the duty leader
    (`[{username, name, role, role_key, shift, day, starts_at, ends_at}]`); a deactivated user is
    left out (nobody to call). Empty when the roster has no entry for that shift."""
    day, kind = shift_at(moment)
    row = session.scalars(select(DutyShift).where(DutyShift.day == day, DutyShift.kind == kind)).first()
    if row is None:
        return []
    names = _people(session, {u for u in (row.officer, row.leader) if u})
    starts, ends = shift_bounds(day, kind)
    found = []
    for role, username in (("officer", row.officer), ("leader", row.leader)):
        if username and names.get(username, ("", False))[1]:
            found.append({"username": username, "name": names[username][0], "role": ROLE_LABELS[role],
                          "role_key": role, "shift": KIND_LABELS[kind], "day": day.isoformat(),
                          "starts_at": starts.isoformat(timespec="minutes"),
                          "ends_at": ends.isoformat(timespec="minutes")})
    return found


def coverage(session: Session, first: date, last: date) -> dict[str, Any]:
    """Whether every day of [first, last] has both shifts, each with a duty officer and a duty
    leader: `{complete, days, missing: [{day, label, lacks: ["白班带班领导", …]}]}`."""
    held = {(r.day, r.kind): r for r in _rows(session, first, last)}
    missing = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        lacks = []
        for kind in SHIFT_KINDS:
            row = held.get((day, kind))
            if row is None:
                lacks.append(f"{KIND_LABELS[kind]}值班人员")
            if row is None or not row.leader:
                lacks.append(f"{KIND_LABELS[kind]}带班领导")
        if lacks:
            missing.append({"day": day.isoformat(), "label": day_label(day), "lacks": lacks})
    return {"complete": not missing, "days": (last - first).days + 1, "missing": missing}
