"""Settings an administrator changes without editing code (ladder offsets, stalled days),
stored in the `settings` table and kept in memory; defaults here."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.models import Setting

DEFAULTS: dict[str, Any] = {
    # 督办 ladder on a handling deadline T, in calendar days (PROCEDURES.md §1 step 8).
    "ladder.reminder_days": -10,
    "ladder.urge_days": 0,
    "ladder.report_days": 7,
    "ladder.proposal_days": 15,
    # A running case with no step completed for this many days is 停滞 (stalled).
    "supervision.stalled_days": 15,
    # Tasks due within this many days are shown as 即将到期.
    "inbox.due_soon_days": 3,
}

_lock = threading.Lock()
_values: dict[str, Any] = dict(DEFAULTS)


def get(key: str) -> Any:
    return _values.get(key, DEFAULTS.get(key))


def load(session: Session) -> None:
    """Refresh the in-memory snapshot from the table (called at start and by the timer poll)."""
    rows = {r.key: r.value for r in session.scalars(select(Setting).where(Setting.key.not_like("clock.%")))}
    with _lock:
        _values.clear()
        _values.update(DEFAULTS)
        for key, raw in rows.items():
            try:
                _values[key] = json.loads(raw)
            except ValueError:
                continue


def put(session: Session, key: str, value: Any) -> None:
    if key not in DEFAULTS:
        raise KeyError(key)
    row = session.get(Setting, key)
    raw = json.dumps(value, ensure_ascii=False)
    if row is None:
        session.add(Setting(key=key, value=raw))
    else:
        row.value = raw
    with _lock:
        _values[key] = value


def all_values() -> dict[str, Any]:
    return dict(_values)


CLOCK_KEY = "clock.offset_seconds"


def load_clock(session: Session) -> None:
    """Every process follows the virtual clock offset stored in the database."""
    from datetime import timedelta

    from service import clock

    if not clock.is_virtual():
        return
    row = session.get(Setting, CLOCK_KEY)
    if row is not None:
        clock.set_offset(timedelta(seconds=float(row.value)))


def advance_clock(session: Session, delta_seconds: float) -> float:
    """Move the shared virtual clock forward; returns the new offset in seconds."""
    from datetime import timedelta

    from service import clock

    if delta_seconds < 0:
        raise ValueError("时钟只能向前拨动")
    row = session.get(Setting, CLOCK_KEY)
    current = float(row.value) if row is not None else clock.offset().total_seconds()
    value = current + delta_seconds
    if row is None:
        session.add(Setting(key=CLOCK_KEY, value=str(value)))
    else:
        row.value = str(value)
    clock.set_offset(timedelta(seconds=value))
    return value
