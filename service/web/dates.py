"""Dates and deadlines as the pages show them: Beijing time to the minute, and whether a
deadline is overdue or close (templates get these as the `dt` filter and `due_state`, the one
function of service/due_marks.py)."""

from __future__ import annotations

from typing import Any

from service.due_marks import due_state, to_datetime

__all__ = ["due_state", "fmt_dt", "to_datetime"]


def fmt_dt(value: Any) -> str:
    """YYYY-MM-DD HH:MM in Beijing time; a bare date stays a date."""
    if value in (None, ""):
        return ""
    if isinstance(value, str) and len(value) == 10:
        return value
    parsed = to_datetime(value)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else str(value)
