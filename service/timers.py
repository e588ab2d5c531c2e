"""The timer service: an APScheduler job in every app process claims due timer rows and
fires them through the engine (each row once, whichever process gets it)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from service.runtime import Runtime

log = logging.getLogger(__name__)


def poll(runtime: Runtime) -> int:
    """Fire everything due now; keeps going while full batches come back."""
    total = 0
    while True:
        fired = runtime.fire_due_timers(limit=200)
        total += fired
        if fired < 200:
            return total


def start_scheduler(runtime: Runtime, interval_seconds: float = 1.0) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
    scheduler.add_job(
        poll, "interval", args=[runtime], seconds=interval_seconds, id="govflow-timers",
        max_instances=1, coalesce=True, misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
