"""Deadline helpers the diagrams call: the 督办 ladder's rung times from configuration."""

from __future__ import annotations

from datetime import timedelta

from service import clock, config_store

RUNGS = ("reminder", "urge", "report", "proposal")


def ladder_at(due_at: str, rung: str) -> str:
    """When rung `rung` of the ladder fires for a deadline `due_at` (offset in days from T)."""
    if rung not in RUNGS:
        raise ValueError(f"未知的督办环节 {rung}")
    offset = int(config_store.get(f"ladder.{rung}_days"))
    return (clock.parse_datetime(due_at) + timedelta(days=offset)).isoformat()


def days_overdue(due_at: str) -> int:
    """Whole days since the deadline passed (0 on the day it passes, never negative)."""
    delta = clock.now() - clock.parse_datetime(due_at)
    return max(delta.days, 0) if delta.total_seconds() > 0 else 0
