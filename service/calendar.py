"""The legal calendar: periods per 民法典 第二百零一条/第二百零三条.

* The start day is not counted (201): a period of n days starting on day S has
  S+1 as its first day.
* A period whose last day is a rest day (a weekend or a statutory holiday, with
  调休 working Saturdays/Sundays respected) ends on the next working day (203).
* A deadline is the end of its last day, 23:59:59 Beijing time.
* Working-day periods (``kind="working"``) count working days after the start day.

Where a day's status comes from, first match wins:

1. ``override`` — a ``CalendarDay`` row an administrator set (a new year's State
   Council notice loaded on /admin/calendar, or a local arrangement);
2. ``official`` — the ``chinesecalendar`` package, which ships the State Council
   notices year by year (it raises ``NotImplementedError`` outside its data), or,
   in a year an administrator has loaded (``CalendarYear`` row), the plain rule
   "Monday–Friday working" for days the notice does not list;
3. ``provisional`` — for a year that is neither in the package's data nor loaded:
   weekends plus the statutory holidays of 《全国年节及纪念日放假办法》
   (see :func:`provisional_holidays`). Such dates are *暂定*: they are flagged
   (:func:`is_provisional`, :func:`deadline_is_provisional`,
   ``Deadline.provisional``) and the open deadlines are recomputed when the
   year's notice is loaded.

The module-level functions use :data:`CALENDAR`, whose override snapshot is
empty until :func:`reload_from` (or ``CALENDAR.load(session)``) is called, so they
work without any database (unit tests, diagram scripts).
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

from service.clock import BEIJING, parse_datetime

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session

    from service.store.db import Database

from service.holiday_notice import NoticeDay, NoticeError, parse_notice  # noqa: E402,F401 - re-exported
from service.provisional_holidays import provisional_holidays  # noqa: E402,F401 - re-exported

log = logging.getLogger(__name__)

Kind = Literal["calendar", "working"]
Source = Literal["override", "official", "provisional"]

SOURCE_LABELS: dict[str, str] = {"override": "管理员设置", "official": "法定", "provisional": "暂定"}
SOURCE_SHORT: dict[str, str] = {"override": "设置", "official": "法定", "provisional": "暂定"}

try:  # chinesecalendar ships the State Council holiday notices year by year
    import chinese_calendar as _cc
    from chinese_calendar import constants as _cc_constants
except ImportError:  # pragma: no cover - dependency is declared, kept for robustness
    _cc = None
    _cc_constants = None

# chinesecalendar's English holiday keys → the names of 《全国年节及纪念日放假办法》.
_CC_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
}

# A run of rest days longer than this is surely a data error; stop rolling there.
_MAX_ROLL = 400


def _official_years() -> range:
    """The years chinesecalendar has State Council data for (empty without the package)."""
    if _cc_constants is None:
        return range(0)
    try:
        years = [d.year for d in _cc_constants.holidays]
        return range(min(years), max(years) + 1)
    except Exception:  # noqa: BLE001 - a broken package must not break the calendar
        log.exception("chinesecalendar data unreadable")
        return range(0)


def _cc_name(key: Any) -> str:
    if not key:
        return ""
    key = str(key)
    if key in _CC_NAMES:
        return _CC_NAMES[key]
    try:
        return str(_cc_constants.Holiday(key).chinese)  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001
        return key


# ----- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayInfo:
    """One day: working or not, the holiday name ('' for an ordinary day), where it comes from."""

    working: bool
    name: str
    source: Source

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS[self.source]


@dataclass(frozen=True)
class Deadline:
    """A deadline: the end of its last day (Beijing time) and whether it is provisional (暂定)."""

    at: datetime
    provisional: bool

    @property
    def day(self) -> date:
        return self.at.date()

    def isoformat(self) -> str:
        return self.at.isoformat()

    def __str__(self) -> str:
        return self.isoformat()


@dataclass(frozen=True)
class _Snapshot:
    days: Mapping[date, tuple[bool, str]] = field(default_factory=dict)
    years: frozenset[int] = frozenset()


def _as_day(value: str | datetime | date) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_datetime(value).date()


def deadline_end(day: date) -> datetime:
    """A deadline is the end of its last day: 23:59:59 Beijing time."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=BEIJING)


# ----- the calendar ----------------------------------------------------------------------------------


class LegalCalendar:
    """Official data + an in-memory snapshot of the admin overrides (CalendarDay) and the
    years whose notice an admin loaded (CalendarYear). `load()` swaps the snapshot
    atomically, so readers in other threads never see a half-loaded calendar."""

    def __init__(self, overrides: Mapping[date, tuple[bool, str]] | None = None,
                 loaded_years: Iterable[int] = (), official_years: range | None = None) -> None:
        self.official_years = _official_years() if official_years is None else official_years
        self._snap = _Snapshot(dict(overrides or {}), frozenset(loaded_years))
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    # --- the snapshot ---

    def set_snapshot(self, overrides: Mapping[date, tuple[bool, str]] | None = None,
                     loaded_years: Iterable[int] = ()) -> None:
        """Replace the overrides and loaded years (tests, tools); `clear()` empties them."""
        self._snap = _Snapshot(dict(overrides or {}), frozenset(loaded_years))

    def clear(self) -> None:
        self.set_snapshot()
        self._loaded_at = None

    @property
    def overrides(self) -> Mapping[date, tuple[bool, str]]:
        return self._snap.days

    @property
    def loaded_years(self) -> frozenset[int]:
        return self._snap.years

    def load(self, session: Session) -> None:
        """Refresh the snapshot from the CalendarDay and CalendarYear tables."""
        from sqlalchemy import select

        from service.store.calendar_models import CalendarDay, CalendarYear

        days = {row.day: (bool(row.working), row.name or "")
                for row in session.execute(select(CalendarDay)).scalars()}
        years = frozenset(session.execute(select(CalendarYear.year)).scalars())
        self._snap = _Snapshot(days, years)
        self._loaded_at = _time.monotonic()

    def reload_from(self, db: Database) -> None:
        with db.read() as session:
            self.load(session)

    def refresh_if_stale(self, db: Database, max_age: float = 60.0) -> bool:
        """Reload when the snapshot is older than `max_age` seconds (other workers may have
        changed the calendar). A database error keeps the old snapshot. True if reloaded."""
        loaded = self._loaded_at
        if loaded is not None and _time.monotonic() - loaded < max_age:
            return False
        if not self._lock.acquire(blocking=False):
            return False  # another thread is reloading right now
        try:
            self.reload_from(db)
            return True
        except Exception:  # noqa: BLE001 - a stale calendar beats a failed request
            log.warning("legal calendar not reloaded", exc_info=True)
            self._loaded_at = _time.monotonic()  # do not retry on every request
            return False
        finally:
            self._lock.release()

    # --- days ---

    def has_official_data(self, year: int) -> bool:
        return year in self.official_years

    def is_loaded(self, year: int) -> bool:
        return year in self._snap.years

    def year_provisional(self, year: int) -> bool:
        """Neither in chinesecalendar's data nor loaded by an admin: dates there are 暂定."""
        return not (self.has_official_data(year) or self.is_loaded(year))

    def is_provisional(self, day: str | datetime | date) -> bool:
        return self.year_provisional(_as_day(day).year)

    def day_info(self, day: str | datetime | date) -> DayInfo:
        day = _as_day(day)
        override = self._snap.days.get(day)
        if override is not None:
            return DayInfo(override[0], override[1], "override")
        if self.has_official_data(day.year) and _cc is not None:
            try:
                working = bool(_cc.is_workday(day))
                if day in _cc_constants.workdays:  # type: ignore[union-attr]
                    name = _cc_name(_cc_constants.workdays[day]) + "调休"  # type: ignore[union-attr]
                elif day in _cc_constants.holidays:  # type: ignore[union-attr]
                    name = _cc_name(_cc_constants.holidays[day])  # type: ignore[union-attr]
                else:
                    name = ""
                return DayInfo(working, name, "official")
            except NotImplementedError:
                pass
        weekday = day.weekday() < 5
        if self.is_loaded(day.year):
            return DayInfo(weekday, "", "official")  # not in the loaded notice: an ordinary day
        holiday = provisional_holidays(day.year).get(day)
        if holiday:
            return DayInfo(False, holiday, "provisional")
        return DayInfo(weekday, "", "provisional")

    def is_working_day(self, day: str | datetime | date) -> bool:
        return self.day_info(day).working

    def next_working_day(self, day: str | datetime | date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        day = _as_day(day)
        for _ in range(_MAX_ROLL):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        log.error("no working day within %s days before %s: calendar data wrong?", _MAX_ROLL, day)
        return day

    def last_day(self, start: str | datetime | date, n: int, kind: Kind = "calendar") -> date:
        """The last day of a period of n days starting the day after `start`."""
        start = _as_day(start)
        n = int(n)
        if kind == "working":
            day, counted = start, 0
            while counted < n:
                day += timedelta(days=1)
                if self.is_working_day(day):
                    counted += 1
            return day
        if kind != "calendar":
            raise ValueError(f"期间种类应为 calendar 或 working，而不是 {kind!r}")
        return self.next_working_day(start + timedelta(days=n))

    def period_provisional(self, start: date, last: date) -> bool:
        """True when the last day or any day of the period (start, last] is in a provisional year."""
        first = min(start + timedelta(days=1), last)
        return any(self.year_provisional(y) for y in range(first.year, last.year + 1))

    def add_days_detail(self, start: str | datetime | date, n: int, kind: Kind = "calendar") -> Deadline:
        start_day = _as_day(start)
        last = self.last_day(start_day, n, kind)
        return Deadline(deadline_end(last), self.period_provisional(start_day, last))

    def add_days(self, start: str | datetime | date, n: int, kind: Kind = "calendar") -> str:
        return self.add_days_detail(start, n, kind).isoformat()

    def deadline_is_provisional(self, value: str | datetime | date | None) -> bool:
        """Whether a stored deadline falls in a provisional year (its date, Beijing time).
        Empty or unparseable values are not deadlines: False."""
        if value is None or value == "":
            return False
        try:
            return self.is_provisional(value)
        except (TypeError, ValueError):
            return False

    def year_days(self, year: int) -> list[tuple[date, DayInfo]]:
        day, out = date(year, 1, 1), []
        while day.year == year:
            out.append((day, self.day_info(day)))
            day += timedelta(days=1)
        return out


CALENDAR = LegalCalendar()


# ----- module functions (diagram scripts call add_days) --------------------------------------------


def day_info(day: str | datetime | date) -> DayInfo:
    return CALENDAR.day_info(day)


def is_working_day(day: str | datetime | date) -> bool:
    """Working day per the State Council notice, the admin overrides, or the provisional rule."""
    return CALENDAR.is_working_day(day)


def next_working_day(day: str | datetime | date) -> date:
    return CALENDAR.next_working_day(day)


def last_day(start: str | datetime | date, n: int, kind: Kind = "calendar") -> date:
    """The last day of a period of n days starting the day after `start`."""
    return CALENDAR.last_day(start, n, kind)


def add_days(start: str | datetime | date, n: int, kind: Kind = "calendar") -> str:
    """Deadline (ISO string, +08:00) of a period of n days from `start`."""
    return CALENDAR.add_days(start, n, kind)


def add_days_detail(start: str | datetime | date, n: int, kind: Kind = "calendar") -> Deadline:
    """Like add_days, with whether the deadline is provisional (暂定)."""
    return CALENDAR.add_days_detail(start, n, kind)


def is_provisional(day: str | datetime | date) -> bool:
    return CALENDAR.is_provisional(day)


def deadline_is_provisional(value: str | datetime | date | None) -> bool:
    return CALENDAR.deadline_is_provisional(value)


def reload_from(db: Database) -> None:
    """Refresh CALENDAR's override snapshot from the database."""
    CALENDAR.reload_from(db)
