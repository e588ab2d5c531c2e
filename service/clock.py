"""The clock every deadline and timer uses (real, or virtual for rehearsals and tests)."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_lock = threading.Lock()
_offset = timedelta(0)
# Where the real clock is taken to stand (see `start_from`); the virtual offset adds to it.
_shift = timedelta(0)


def is_virtual() -> bool:
    return os.environ.get("GOVFLOW_CLOCK", "real").lower() == "virtual"


def now() -> datetime:
    """Current time in Beijing (+08:00), shifted by the virtual offset if any."""
    return (datetime.now(UTC) + _shift + _offset).astimezone(BEIJING)


def advance(delta: timedelta) -> datetime:
    """Move the virtual clock forward (only meaningful with GOVFLOW_CLOCK=virtual)."""
    global _offset
    if delta < timedelta(0):
        raise ValueError("时钟只能向前拨动")
    with _lock:
        _offset += delta
    return now()


def set_offset(delta: timedelta) -> None:
    global _offset
    with _lock:
        _offset = delta


def offset() -> timedelta:
    return _offset


def start_from(moment: datetime | None) -> None:
    """Let the clock run on from `moment` instead of the real date (None: the real date again).

    The test suite starts every test at one fixed moment, so that no result depends on the day
    it runs; the virtual offset (`set_offset`, rehearsals) is counted on top of it."""
    global _shift
    with _lock:
        _shift = timedelta(0) if moment is None else moment - datetime.now(UTC)


def now_iso() -> str:
    return now().isoformat(timespec="seconds")


def parse_datetime(value: str | datetime) -> datetime:
    """Parse an ISO date or datetime; naive values are taken as Beijing time."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if len(text) == 10:
            text += "T00:00:00"
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=BEIJING)
    return dt.astimezone(BEIJING)


def iso(value: datetime | None) -> str | None:
    """A stored date-time as API.md writes it: ISO 8601 in Beijing time, whole seconds."""
    return parse_datetime(value).isoformat(timespec="seconds") if value is not None else None
