"""Scheduled starts (rounds): a procedure declares schedules, every node runs them, each period
starts exactly once.

A procedure puts `Monthly(...)` and/or `WorkingDays(...)` in `Procedure.schedules`. Each schedule
yields the periods whose moment has come (`Period`: key, moment, start data). Every app process
calls `run_due` on every timer poll (and the virtual-clock endpoints after moving the clock): it
starts, as the system user, each due period that has no case yet, with the idempotency key
`<process>:<period>`. That key is a unique column, so when several nodes start the same period at
once one wins and the others get `DuplicatePeriod`, which is swallowed here. A manual start of a
period that already ran gets the same key (`period_key`, hooked into the start command): 409.

Catch-up: after downtime the missed periods start at the next poll of any node, but only those
whose moment is at or after the procedure's first deployment (a new installation on the 15th does
not back-date this month's round) and within the last `CATCH_UP_DAYS`, at most `MAX_STARTS` per
call (the rest at the next call), oldest first.

Times of day are settings of the procedure (an administrator may change them): integers, minutes
after midnight Beijing time (`minute_setting` declares one with the right unit and bounds).
Nothing here names a procedure: all of it comes from the declarations.
"""

from __future__ import annotations

import logging
import re
import threading
import time as _time
import weakref
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import calendar, clock, config_store, procedure
from service.actors import SYSTEM
from service.clock import BEIJING
from service.errors import DuplicatePeriod, Invalid
from service.procedure import Procedure, SettingSpec
from service.store.models import Definition, Instance

if TYPE_CHECKING:  # pragma: no cover
    from service.runtime import Runtime

log = logging.getLogger(__name__)

# How far back a catch-up looks: a node down for longer does not flood the offices with a year of
# rounds nobody can still report on; such periods may be started by hand.
CATCH_UP_DAYS = 400
# Starts per call: a long catch-up is spread over a few polls instead of holding one.
MAX_STARTS = 20
# A period whose start failed (e.g. an engine error in its diagram) is retried after this long,
# not at every poll.
RETRY_SECONDS = 60.0
DEFAULT_MINUTE = 8 * 60  # 08:00
MINUTE_UNIT = "分钟（0点起）"

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# (first day, last day, name) of a date range, as a procedure's `within` returns them.
DayRange = tuple[date | str, date | str, str]


@dataclass(frozen=True)
class Period:
    """One occurrence of a schedule: its key (`YYYY-MM`, `YYYY-MM-DD`), its moment, the start data."""

    key: str
    starts_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def minute_setting(key: str, label: str, default: int = DEFAULT_MINUTE) -> SettingSpec:
    """The declaration of a time-of-day setting (settings are integers: minutes after midnight,
    e.g. 480 = 08:00), to put both in `Procedure.settings` and, by its key, in a schedule."""
    return SettingSpec(key, default, label, unit=MINUTE_UNIT, minimum=0, maximum=24 * 60 - 1)


def _minute(declared: Procedure, at_setting: str | None, at_minute: int) -> int:
    """The schedule's minute of the day: its setting's current value, else its fixed minute."""
    value: Any = at_minute
    if at_setting is not None:
        value = config_store.get(declared.setting_key(at_setting))
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 24 * 60:
        raise ValueError(f"流程 {declared.key} 的发起时间设置 {at_setting} 不正确：{value!r}")
    return value


def _moment(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=BEIJING)


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return clock.parse_datetime(value).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


def _real_day(text: str) -> bool:
    if not _DAY.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


class Schedule:
    """What every schedule offers the scheduler (Monthly, WorkingDays)."""

    # Shown in the 422 of a manual start whose period has none of the declared formats.
    period_format: ClassVar[str] = ""

    def accepts(self, period: str) -> bool:
        """Whether `period` is written as this schedule's periods are (a manual start's data)."""
        raise NotImplementedError

    def periods(self, declared: Procedure, since: datetime, until: datetime,
                session: Callable[[], Session]) -> list[Period]:
        """The periods whose moment lies in [since, until], oldest first. `session()` opens (once
        per call of run_due) a read session, for schedules whose dates live in a table."""
        raise NotImplementedError


@dataclass(frozen=True)
class Monthly(Schedule):
    """Once a month, on `day` (the month's last day where it has fewer), at the minute of the
    procedure's setting `at_setting` (or at `at_minute` if it names none)."""

    day: int = 1
    at_setting: str | None = None
    at_minute: int = DEFAULT_MINUTE
    period_format: ClassVar[str] = "YYYY-MM（月度）"

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 31:
            raise ValueError(f"每月发起日应在 1 到 31 之间：{self.day}")

    def accepts(self, period: str) -> bool:
        return _MONTH.fullmatch(period) is not None

    def periods(self, declared: Procedure, since: datetime, until: datetime,
                session: Callable[[], Session]) -> list[Period]:
        minute = _minute(declared, self.at_setting, self.at_minute)
        found = []
        year, month = since.year, since.month
        while (year, month) <= (until.year, until.month):
            last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
            moment = _moment(date(year, month, min(self.day, last)), minute)
            if since <= moment <= until:
                key = f"{year:04d}-{month:02d}"
                found.append(Period(key, moment, {"period": key}))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


@dataclass(frozen=True)
class WorkingDays(Schedule):
    """Every working day (legal calendar: 调休 weekends work, holidays do not) inside the date
    ranges `within(session)` returns — (first day, last day, name), e.g. the important periods an
    administrator keeps in a table — at the minute of the setting `at_setting` (or `at_minute`).
    A day inside two ranges starts once, named after the first."""

    within: Callable[[Session], Iterable[DayRange]]
    at_setting: str | None = None
    at_minute: int = DEFAULT_MINUTE
    period_format: ClassVar[str] = "YYYY-MM-DD（每日）"

    def accepts(self, period: str) -> bool:
        return _real_day(period)

    def periods(self, declared: Procedure, since: datetime, until: datetime,
                session: Callable[[], Session]) -> list[Period]:
        minute = _minute(declared, self.at_setting, self.at_minute)
        named: dict[date, str] = {}
        for first, last, name in self.within(session()):
            day, end = max(_as_date(first), since.date()), min(_as_date(last), until.date())
            while day <= end:
                named.setdefault(day, str(name))
                day += timedelta(days=1)
        found = []
        for day in sorted(named):
            moment = _moment(day, minute)
            if since <= moment <= until and calendar.is_working_day(day):
                key = day.isoformat()
                found.append(Period(key, moment, {"period": key, "important_period": named[day]}))
        return found


# ----- the start command's side --------------------------------------------------------------------


def period_key(declared: Procedure | None, data: Any) -> str | None:
    """The idempotency key `<process>:<period>` of a start whose procedure declares schedules and
    whose data names a period, so that a period starts once whoever starts it (a node, or a
    person by hand: 409 duplicate_period). A period written in none of the schedules' formats is
    refused (422): `2027-1` must not slip past `2027-01`."""
    if declared is None or not declared.schedules or not isinstance(data, dict) or "period" not in data:
        return None
    period = data["period"]
    if not isinstance(period, str) or not any(s.accepts(period) for s in declared.schedules):
        formats = "或".join(dict.fromkeys(s.period_format for s in declared.schedules if s.period_format))
        raise Invalid("周期 period 格式不正确", [{"field": "period", "message": f"应为 {formats}"}])
    return f"{declared.key}:{period}"


def period_number(prefix: str, period: Any) -> str | None:
    """A round's business key from its period: `2026-12` → `<prefix>-2026-12`, `2026-12-07` →
    `<prefix>-20261207`; None for anything else (the running number applies)."""
    if not isinstance(period, str):
        return None
    if _MONTH.fullmatch(period):
        return f"{prefix}-{period}"
    if _real_day(period):
        return f"{prefix}-{period.replace('-', '')}"
    return None


# ----- the scheduler ---------------------------------------------------------------------------------


class _State:
    """What one runtime remembers between calls, so a poll with nothing due reads nothing: the
    first deployment per procedure (never changes once known), the periods known to have a case
    (a case is never un-started), the periods whose start failed lately (and, by procedure key,
    when a procedure's periods last failed to compute: logged once a minute)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first_deployed: dict[str, datetime] = {}
        self.started: dict[str, set[str]] = {}
        self.failed: dict[str, float] = {}


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(runtime: Runtime) -> _State:
    with _states_lock:
        found = _states.get(runtime)
        if found is None:
            found = _states[runtime] = _State()
        return found


def _scheduled() -> list[Procedure]:
    return [p for p in procedure.registry() if p.schedules]


def run_due(runtime: Runtime, now: datetime | None = None) -> int:
    """Start every due period that has no case yet (see the module's docstring); returns how many
    this call started. A period another node started meanwhile is skipped silently; one procedure
    failing (a bad setting, its ranges unreadable) does not keep the others from starting."""
    declared_list = _scheduled()
    if not declared_list:
        return 0
    now = clock.now() if now is None else clock.parse_datetime(now)
    state = _state(runtime)
    started = 0
    with state.lock, ExitStack() as stack:
        opened: list[Session] = []

        def session() -> Session:
            if not opened:
                opened.append(stack.enter_context(runtime.db.read()))
            return opened[0]

        for declared in declared_list:
            if started >= MAX_STARTS:
                break
            try:
                due = _due(runtime, state, declared, now, session)
            except Exception:  # noqa: BLE001 - one procedure's schedule must not stop the others
                # logged in full once a minute, not at every poll while it lasts
                last = state.failed.get(declared.key, float("-inf"))
                if _time.monotonic() - last >= RETRY_SECONDS:
                    state.failed[declared.key] = _time.monotonic()
                    log.exception("计划发起：流程 %s 的周期计算失败", declared.key)
                continue
            for period in due:
                if started >= MAX_STARTS:
                    log.info("计划发起：本次已发起 %s 个，其余周期下次轮询发起", started)
                    break
                started += _start(runtime, state, declared, period)
    return started


def _due(runtime: Runtime, state: _State, declared: Procedure, now: datetime,
         session: Callable[[], Session]) -> list[Period]:
    """The procedure's periods due by `now` that have no case (one indexed query, and only when a
    period not yet known to have a case is due)."""
    first = state.first_deployed.get(declared.key)
    if first is None:
        value = session().scalar(select(func.min(Definition.deployed_at)).where(Definition.key == declared.key))
        if value is None:
            return []  # not deployed (yet): nothing to start, nothing to catch up later
        first = state.first_deployed[declared.key] = clock.parse_datetime(value)
    since = max(first, now - timedelta(days=CATCH_UP_DAYS))
    periods: dict[str, Period] = {}
    for item in declared.schedules:
        for period in item.periods(declared, since, now, session):
            periods.setdefault(f"{declared.key}:{period.key}", period)
    known = state.started.setdefault(declared.key, set())
    known.intersection_update(periods)  # forget what fell out of the window
    retry_after = _time.monotonic() - RETRY_SECONDS
    todo = [k for k in periods if k not in known and state.failed.get(k, 0.0) <= retry_after]
    if not todo:
        return []
    known.update(session().scalars(select(Instance.idempotency_key).where(Instance.idempotency_key.in_(todo))))
    return sorted((periods[k] for k in todo if k not in known), key=lambda p: (p.starts_at, p.key))


def _start(runtime: Runtime, state: _State, declared: Procedure, period: Period) -> int:
    key = f"{declared.key}:{period.key}"
    try:
        result = runtime.start(declared.key, dict(period.data), SYSTEM, idempotency_key=key)
    except DuplicatePeriod:
        state.started[declared.key].add(key)  # another node started it first
        log.debug("计划发起：%s 已由其他节点发起", key)
        return 0
    except Exception:  # noqa: BLE001 - a failing start is retried later, the other periods go on
        state.failed[key] = _time.monotonic()
        log.exception("计划发起失败：%s（%s）将于 %s 秒后重试", declared.name, key, int(RETRY_SECONDS))
        return 0
    state.started[declared.key].add(key)
    state.failed.pop(key, None)
    log.info("计划发起：%s %s 周期 %s（时点 %s）", declared.name, result["business_key"], period.key,
             period.starts_at.isoformat(timespec="minutes"))
    return 1

