"""Admin page for the legal calendar (/admin/calendar): see a year's working and rest days,
override single days, load a year's State Council holiday notice, undo a loaded year.

Every change reloads service.calendar.CALENDAR and asks the runtime to recompute the
open deadlines (``Runtime.recompute_deadlines()``, when the runtime has it).

Registering this blueprint also loads the calendar snapshot from the database, keeps
it fresh in every worker (reloaded at most a minute after another worker's change)
and gives every template ``deadline_is_provisional(value)`` and ``day_info(day)``.
"""

from __future__ import annotations

import calendar as pycal
import logging
from collections.abc import Callable, Sized
from datetime import date
from functools import wraps
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_login import current_user, login_required
from sqlalchemy import delete, select

from service import calendar as legal
from service import clock
from service.errors import Forbidden
from service.store.calendar_models import CalendarDay, CalendarYear
from service.web.context import services

log = logging.getLogger(__name__)

calendar_admin = Blueprint("calendar_admin", __name__, url_prefix="/admin/calendar")
bp = calendar_admin  # short alias

MIN_YEAR, MAX_YEAR = 1950, 2100
WEEKDAYS = ["一", "二", "三", "四", "五", "六", "日"]
REFRESH_SECONDS = 60.0


# ----- wiring ----------------------------------------------------------------------------------------


@calendar_admin.record_once
def _initial_load(state: BlueprintSetupState) -> None:
    svc = state.app.extensions.get("govflow")
    if svc is None:
        return
    try:
        legal.reload_from(svc.db)
    except Exception:  # noqa: BLE001 - the app must start even if the tables are not there yet
        log.warning("legal calendar not loaded at start", exc_info=True)


@calendar_admin.before_app_request
def _keep_fresh() -> None:
    try:
        legal.CALENDAR.refresh_if_stale(services().db, REFRESH_SECONDS)
    except Exception:  # noqa: BLE001 - never fail a request over the calendar
        log.warning("legal calendar refresh failed", exc_info=True)


@calendar_admin.app_template_global("deadline_is_provisional")
def _deadline_is_provisional(value: Any) -> bool:
    return legal.deadline_is_provisional(value)


@calendar_admin.app_template_global("day_info")
def _day_info(value: Any) -> legal.DayInfo | None:
    try:
        return legal.day_info(value)
    except (TypeError, ValueError):
        return None


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.actor.is_admin:
            raise Forbidden("只有系统管理员可以管理节假日日历")
        return view(*args, **kwargs)

    return login_required(wrapped)


# ----- helpers ---------------------------------------------------------------------------------------


def _default_year() -> int:
    return clock.now().year


def _year_arg(value: Any) -> int | None:
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return year if MIN_YEAR <= year <= MAX_YEAR else None


def _date_arg(value: Any) -> date | None:
    try:
        day = date.fromisoformat(str(value or "").strip()[:10])
    except ValueError:
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def _back(year: int | None) -> Any:
    return redirect(url_for("calendar_admin.index", year=year) if year else url_for("calendar_admin.index"))


def _after_change() -> None:
    """Reload the calendar, then recompute open deadlines if the runtime can."""
    svc = services()
    legal.reload_from(svc.db)
    recompute = getattr(svc.runtime, "recompute_deadlines", None)
    if recompute is None:
        return
    try:
        changed = recompute()
    except Exception:  # noqa: BLE001 - the calendar change itself is saved
        log.exception("recompute_deadlines failed after a calendar change")
        flash("日历已保存，但重新计算未办结案件的期限时出错，请稍后重试或联系技术人员", "error")
        return
    if isinstance(changed, bool) or changed is None:
        return
    if isinstance(changed, int):
        count = changed
    elif isinstance(changed, Sized):
        count = len(changed)
    else:
        return
    if count:
        flash(f"已重新计算未办结案件的期限：{count} 件案件的期限发生变化", "info")
    else:
        flash("已重新计算未办结案件的期限：没有期限发生变化", "info")


def _month_grids(year: int, info: dict[date, legal.DayInfo]) -> list[dict[str, Any]]:
    months = []
    for month in range(1, 13):
        weeks = []
        for week in pycal.Calendar(firstweekday=0).monthdatescalendar(year, month):
            weeks.append([(d, info[d]) if d.month == month else (None, None) for d in week])
        months.append({"month": month, "weeks": weeks})
    return months


def _render(year: int, status: int = 200, notice_text: str = "", notice_source: str = "",
            notice_errors: list[tuple[int, str]] | None = None, notice_message: str = "") -> Any:
    cal = legal.CALENDAR
    with services().db.read() as session:
        overrides = session.execute(
            select(CalendarDay).where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        ).scalars().all()
        loaded = session.get(CalendarYear, year)
    days = cal.year_days(year)
    rest_count = sum(1 for _, i in days if not i.working)
    return render_template(
        "calendar_admin.html",
        year=year,
        months=_month_grids(year, dict(days)),
        weekdays=WEEKDAYS,
        provisional=cal.year_provisional(year),
        official=cal.has_official_data(year),
        loaded=loaded,
        overrides=overrides,
        holidays=[(d, i) for d, i in days if i.name],
        rest_count=rest_count,
        working_count=len(days) - rest_count,
        source_labels=legal.SOURCE_LABELS,
        source_short=legal.SOURCE_SHORT,
        today=clock.now().date(),
        notice_text=notice_text,
        notice_source=notice_source,
        notice_errors=notice_errors or [],
        notice_message=notice_message,
        min_year=MIN_YEAR,
        max_year=MAX_YEAR,
    ), status


# ----- views -----------------------------------------------------------------------------------------


@calendar_admin.get("/")
@admin_required
def index() -> Any:
    raw = request.args.get("year")
    year = _year_arg(raw) if raw else _default_year()
    if year is None:
        flash(f"年份应为 {MIN_YEAR}–{MAX_YEAR} 之间的整数", "error")
        year = _default_year()
    return _render(year)


@calendar_admin.get("/days.json")
@admin_required
def days_json() -> Any:
    year = _year_arg(request.args.get("year", _default_year()))
    if year is None:
        return jsonify({"error": "invalid", "message": f"年份应为 {MIN_YEAR}–{MAX_YEAR} 之间的整数",
                        "details": []}), 422
    cal = legal.CALENDAR
    return jsonify({
        "year": year,
        "provisional": cal.year_provisional(year),
        "official_data": cal.has_official_data(year),
        "loaded": cal.is_loaded(year),
        "days": [{"day": d.isoformat(), "working": i.working, "name": i.name, "source": i.source}
                 for d, i in cal.year_days(year)],
    })


@calendar_admin.post("/day")
@admin_required
def set_day() -> Any:
    day = _date_arg(request.form.get("day"))
    working_raw = (request.form.get("working") or "").strip()
    name = (request.form.get("name") or "").strip()
    year = day.year if day else _year_arg(request.form.get("year"))
    errors = []
    if day is None:
        errors.append("请填写有效的日期")
    if working_raw not in ("1", "0"):
        errors.append("请选择「上班」或「休息」")
    if len(name) > 64:
        errors.append("名称过长（最多 64 字）")
    if errors:
        flash("未保存：" + "；".join(errors), "error")
        return _back(year)
    assert day is not None
    working = working_raw == "1"
    with services().db.write() as session:
        row = session.get(CalendarDay, day)
        if row is None:
            row = CalendarDay(day=day)
            session.add(row)
        row.working = working
        row.name = name
        row.updated_at = clock.now()
        row.updated_by = current_user.actor.username
    flash(f"已将 {day.isoformat()} 设为{'上班' if working else '休息'}{('（' + name + '）') if name else ''}", "success")
    _after_change()
    return _back(day.year)


@calendar_admin.post("/day/delete")
@admin_required
def delete_day() -> Any:
    day = _date_arg(request.form.get("day"))
    if day is None:
        flash("请填写有效的日期", "error")
        return _back(_year_arg(request.form.get("year")))
    with services().db.write() as session:
        removed = session.execute(delete(CalendarDay).where(CalendarDay.day == day)).rowcount
    if not removed:
        flash(f"{day.isoformat()} 没有管理员设置，无需删除", "warn")
        return _back(day.year)
    flash(f"已删除 {day.isoformat()} 的管理员设置", "success")
    _after_change()
    return _back(day.year)


@calendar_admin.post("/notice")
@admin_required
def load_notice() -> Any:
    """Load a year's notice: validate every line first; then the overrides and the
    CalendarYear row in one transaction (optionally replacing the year's old overrides)."""
    year = _year_arg(request.form.get("year"))
    text = request.form.get("text") or ""
    source = (request.form.get("source") or "").strip()
    replace = request.form.get("replace") in ("1", "on", "true")
    shown_year = year or _default_year()
    if year is None:
        return _render(shown_year, 422, text, source, [(0, f"年份应为 {MIN_YEAR}–{MAX_YEAR} 之间的整数")],
                       "未载入：年份无效")
    if len(source) > 256:
        return _render(year, 422, text, source, [(0, "通知名称过长（最多 256 字）")], "未载入：通知名称过长")
    try:
        entries = legal.parse_notice(text, year)
    except legal.NoticeError as exc:
        return _render(year, 422, text, source, exc.errors, exc.summary)
    now = clock.now()
    user = current_user.actor.username
    with services().db.write() as session:
        if replace:
            session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                                      CalendarDay.day <= date(year, 12, 31)))
            session.flush()
        for e in entries:
            row = session.get(CalendarDay, e.day)
            if row is None:
                row = CalendarDay(day=e.day)
                session.add(row)
            row.working = e.working
            row.name = e.name
            row.updated_at = now
            row.updated_by = user
        loaded = session.get(CalendarYear, year)
        if loaded is None:
            loaded = CalendarYear(year=year)
            session.add(loaded)
        loaded.loaded_at = now
        loaded.loaded_by = user
        loaded.source = source or f"{year} 年放假通知（{len(entries)} 天安排）"
    flash(f"已载入 {year} 年放假安排（{len(entries)} 天），该年日期不再是暂定", "success")
    _after_change()
    return _back(year)


@calendar_admin.post("/year/unload")
@admin_required
def unload_year() -> Any:
    """Undo a loaded notice: the year's overrides and its CalendarYear row go, in one transaction."""
    year = _year_arg(request.form.get("year"))
    if year is None:
        flash("年份无效", "error")
        return _back(None)
    with services().db.write() as session:
        row = session.get(CalendarYear, year)
        if row is None:
            flash(f"{year} 年尚未载入放假通知", "warn")
            return _back(year)
        session.execute(delete(CalendarDay).where(CalendarDay.day >= date(year, 1, 1),
                                                  CalendarDay.day <= date(year, 12, 31)))
        session.delete(row)
    flash(f"已撤销 {year} 年的放假通知及该年的管理员设置", "success")
    _after_change()
    return _back(year)
