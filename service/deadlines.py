"""Deadline helpers the diagrams call: the 督办 ladder's rung times and a procedure's numbers,
both read from that procedure's settings (so an administrator changes them without code)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from service import clock, config_store
from service.procedure import Procedure, SettingSpec

# Rung → (setting, sign): the reminder comes *before* the deadline T, the others after it;
# settings hold positive day counts either way.
RUNGS: dict[str, tuple[str, int]] = {
    "reminder": ("ladder.reminder_days_before", -1),
    "urge": ("ladder.urge_days", 1),
    "report": ("ladder.report_days", 1),
    "proposal": ("ladder.proposal_days", 1),
}


def ladder_settings(reminder_days_before: int = 10, urge_days: int = 0, report_days: int = 7,
                    proposal_days: int = 15) -> tuple[SettingSpec, ...]:
    """The ladder's four offsets as settings of a procedure with `ladder=True` (the keys RUNGS
    reads): one mechanism for every procedure, only the defaults differ."""
    return (
        SettingSpec("ladder.reminder_days_before", reminder_days_before, "督办：办理期限前多少天发提醒",
                    minimum=1, maximum=60),
        SettingSpec("ladder.urge_days", urge_days, "督办：期满后多少天发催办通知（0 = 期满当时）", minimum=0, maximum=60),
        SettingSpec("ladder.report_days", report_days, "督办：期满后多少天要求办案单位书面汇报", minimum=1, maximum=90),
        SettingSpec("ladder.proposal_days", proposal_days, "督办：期满后多少天建议组成联合调查组", minimum=1, maximum=120),
    )


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
