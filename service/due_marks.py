"""The deadline mark every list shows (issue 9 item 15): red 已超期 once a deadline has passed,
yellow 即将到期 from `tasks.warn_days` calendar days before it. One function for the pages
(through the `due_cell` macro) and the API (`due_state` of every task and case JSON).

Days are calendar days (自然日), as the legal periods are unless their text says 工作日
(PROCEDURES.md; service/calendar.py): a deadline is the end of its last day, so a task due on
the 8th is yellow from the 5th with 3 days, whatever weekends lie between."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service import clock, config_store

WARN_DAYS_KEY = "tasks.warn_days"
OVERDUE, SOON = "overdue", "soon"


def to_datetime(value: Any) -> datetime | None:
    """A stored or posted moment as a datetime; empty or unreadable is None (no mark)."""
    if value in (None, ""):
        return None
    try:
        return clock.parse_datetime(value)
    except (TypeError, ValueError):
        return None


def due_state(value: Any, status: str = "running", completed_at: Any = None) -> str:
    """'overdue', 'soon' or '' for a deadline `value`. Something still open (status 'running' or
    'open') is overdue once the deadline passed and soon when the deadline's day is at most
    `tasks.warn_days` days after today (Beijing dates). Something finished is 'overdue' only if
    it was finished after its deadline (`completed_at`; the lists say 超期办结), else ''."""
    due = to_datetime(value)
    if due is None:
        return ""
    if status not in ("running", "open"):
        done = to_datetime(completed_at)
        return OVERDUE if done is not None and done > due else ""
    now = clock.now()
    if due < now:
        return OVERDUE
    days_left = (due.astimezone(clock.BEIJING).date() - now.astimezone(clock.BEIJING).date()).days
    return SOON if days_left <= int(config_store.get(WARN_DAYS_KEY)) else ""
