"""The legal calendar: periods per 民法典 201/203.

The start day is not counted; a period whose last day is a rest day (weekend or
statutory holiday, with 调休 working Saturdays/Sundays respected) ends on the next
working day; a deadline is the end of its last day, Beijing time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from service.clock import BEIJING, parse_datetime

Kind = Literal["calendar", "working"]

try:  # chinesecalendar ships the State Council holiday notices year by year
    import chinese_calendar as _cc
except ImportError:  # pragma: no cover - dependency is declared, kept for robustness
    _cc = None


def is_working_day(day: date) -> bool:
    """Working day per the State Council notice; weekends only outside its data."""
    if _cc is not None:
        try:
            return bool(_cc.is_workday(day))
        except NotImplementedError:
            pass
    return day.weekday() < 5


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def last_day(start: date, n: int, kind: Kind = "calendar") -> date:
    """The last day of a period of n days starting the day after `start`."""
    if kind == "working":
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if is_working_day(day):
                counted += 1
        return day
    return next_working_day(start + timedelta(days=n))


def deadline_end(day: date) -> datetime:
    """A deadline is the end of its last day: 23:59:59 Beijing time."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=BEIJING)


def add_days(start: str | datetime | date, n: int, kind: Kind = "calendar") -> str:
    """Deadline (ISO string, +08:00) of a period of n days from `start`."""
    if isinstance(start, date) and not isinstance(start, datetime):
        start_day = start
    else:
        start_day = parse_datetime(start).date()
    return deadline_end(last_day(start_day, int(n), kind)).isoformat()
