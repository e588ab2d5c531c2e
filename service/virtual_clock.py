"""Moving the virtual clock (GOVFLOW_CLOCK=virtual, rehearsals): one rule for the page and the
API — only there, only the administrator, an ISO 8601 duration; then everything that became due
fires (rounds, timers) before the answer."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from service import clock, config_store
from service.actors import Actor
from service.errors import Forbidden, Invalid, NotFound

_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


def parse_duration(raw: Any) -> timedelta:
    """ISO 8601 duration (PnDTnHnMnS, PnW) → timedelta; months/years are refused as ambiguous."""
    if not isinstance(raw, str):
        raise ValueError(raw)
    match = _DURATION.fullmatch(raw.strip())
    if not match or raw.strip() in ("P", "PT") or raw.strip().endswith("T"):
        raise ValueError(raw)
    weeks, days, hours, minutes, seconds = match.groups()
    return timedelta(weeks=int(weeks or 0), days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0),
                     seconds=float(seconds or 0))


def require_admin(actor: Actor) -> None:
    if not clock.is_virtual():
        raise NotFound("未启用虚拟时钟（以 GOVFLOW_CLOCK=virtual 启动服务后可用）")
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以拨动时钟")


def advance(runtime: Any, actor: Actor, raw: Any) -> dict[str, Any]:
    """Move the shared clock by `raw` and fire what became due: {now, offset_seconds, fired}."""
    from service.timers import fire_all_due

    require_admin(actor)
    try:
        delta = parse_duration(raw)
    except ValueError as exc:
        raise Invalid("时长格式不正确，应为 ISO 8601 时长，如 P1D（1天）、PT2H（2小时）、P61D（61天）",
                      [{"field": "advance", "message": "应为 ISO 8601 时长，如 P61D、PT2H"}]) from exc
    with runtime.db.write() as session:
        config_store.advance_clock(session, delta.total_seconds())
    fired = fire_all_due(runtime)
    return {"now": clock.now_iso(), "offset_seconds": clock.offset().total_seconds(), "fired": fired}
