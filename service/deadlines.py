"""Deadline helpers the diagrams call: the 督办 ladder's rung times and a procedure's numbers,
both read from that procedure's settings (so an administrator changes them without code)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from service import clock, config_store
from service.procedure import Procedure

# Rung → (setting, sign): the reminder comes *before* the deadline T, the others after it;
# settings hold positive day counts either way.
RUNGS: dict[str, tuple[str, int]] = {
    "reminder": ("ladder.reminder_days_before", -1),
    "urge": ("ladder.urge_days", 1),
    "report": ("ladder.report_days", 1),
    "proposal": ("ladder.proposal_days", 1),
}


def ladder_at(procedure: Procedure, due_at: str, rung: str) -> str:
    """When rung `rung` of the ladder fires for a deadline `due_at` (offset in days from T)."""
    if rung not in RUNGS:
        raise ValueError(f"未知的督办环节 {rung}")
    local, sign = RUNGS[rung]
    offset = sign * int(config_store.get(procedure.setting_key(local)))
    return (clock.parse_datetime(due_at) + timedelta(days=offset)).isoformat()


def days_overdue(due_at: str) -> int:
    """Whole days since the deadline passed (0 on the day it passes, never negative)."""
    delta = clock.now() - clock.parse_datetime(due_at)
    return max(delta.days, 0) if delta.total_seconds() > 0 else 0


def bound_helpers(procedure: Procedure) -> dict[str, Callable[..., Any]]:
    """Helpers every procedure's namespace gets, bound to that procedure's settings:
    `<key>.setting(name)` and, if it has the 督办 ladder, `<key>.ladder_at(due_at, rung)`."""
    known = {spec.key for spec in procedure.settings}

    def setting(name: str) -> Any:
        if name not in known:
            raise ValueError(f"流程 {procedure.key} 没有设置项 {name}")
        return config_store.get(procedure.setting_key(name))

    helpers: dict[str, Callable[..., Any]] = {"setting": setting}
    if procedure.ladder:
        helpers["ladder_at"] = lambda due_at, rung: ladder_at(procedure, due_at, rung)
    return helpers
