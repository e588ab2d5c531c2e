"""The timer service: an APScheduler job in every app process claims due timer rows and
fires them through the engine (each row once, whichever process gets it), then sends
pending notice deliveries. Every poll also refreshes shared settings and the virtual clock."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from apscheduler.schedulers.background import BackgroundScheduler

from service import backup_schedule, calendar, clock, config_store, schedule, senders
from service.runtime import Runtime

log = logging.getLogger(__name__)
# Timers fired per transaction: small enough that a batch commits within a fraction of a
# second (its rows become visible, SQLite's write lock is released), large enough to share
# the transaction's cost.
BATCH = 50
CALENDAR_REFRESH_SECONDS = 30.0


def refresh_shared(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        config_store.load_clock(session)
        config_store.load(session)
    calendar.CALENDAR.refresh_if_stale(runtime.db, CALENDAR_REFRESH_SECONDS)


# A backlog (a burst falling due together, catch-up after downtime) is fired by this many
# threads claiming batches side by side on PostgreSQL (SKIP LOCKED hands each its own rows; the
# database works on several batches at once). SQLite has one writer at a time: one thread.
POSTGRESQL_THREADS = 3


def start_rounds(runtime: Runtime) -> int:
    """Start the rounds whose moment has come (service/schedule.py); a failure is logged and the
    timers fire all the same."""
    try:
        return schedule.run_due(runtime)
    except Exception:  # noqa: BLE001 - a schedule must not stop the timer poll
        log.exception("计划发起失败，下次轮询重试")
        return 0


def fire_all_due(runtime: Runtime) -> int:
    """Start the due rounds, then fire every due timer, oldest first (keeps going while full
    batches come back); returns the number of timers fired (rounds not counted). The virtual
    clock's endpoints call this after moving the clock, so the rounds whose moment passed start."""
    start_rounds(runtime)
    total = runtime.fire_due_timers(limit=BATCH)
    if total < BATCH:
        return total
    threads = POSTGRESQL_THREADS if runtime.db.dialect == "postgresql" else 1
    if threads == 1:
        return total + _drain(runtime)
    with ThreadPoolExecutor(threads, thread_name_prefix="govflow-timers") as pool:
        return total + sum(pool.map(lambda _n: _drain(runtime), range(threads)))


def _drain(runtime: Runtime) -> int:
    """Fire batches until none is due (or only timers whose step fails, which stay waiting)."""
    total = 0
    while True:
        fired = runtime.fire_due_timers(limit=BATCH)
        total += fired
        if fired == 0:
            return total


_last_optimize = 0.0
OPTIMIZE_SECONDS = 3600.0


def _optimize_hourly(runtime: Runtime) -> None:
    global _last_optimize
    now = time.monotonic()
    if now - _last_optimize >= OPTIMIZE_SECONDS:
        _last_optimize = now
        runtime.db.optimize()


def fire_until(runtime: Runtime, horizon: float) -> int:
    """Fire what is due, then what falls due before `horizon` (time.monotonic()) at its moment,
    so a timer is late by the firing time, not by up to one poll interval."""
    fired = fire_all_due(runtime)
    while True:
        upcoming = runtime.next_timer_due()
        if upcoming is None:
            return fired
        wait = (upcoming - clock.now()).total_seconds()
        if wait > horizon - time.monotonic():
            return fired
        if wait > 0:
            time.sleep(wait)
        batch = fire_all_due(runtime)
        if batch == 0 and wait <= 0:
            return fired  # due but not firing (a failing step): the next poll retries it
        fired += batch


def poll(runtime: Runtime, interval_seconds: float = 1.0) -> int:
    try:
        refresh_shared(runtime)
        _optimize_hourly(runtime)
        # fire_until begins with fire_all_due, which starts the due rounds first (start_rounds)
        fired = fire_until(runtime, time.monotonic() + interval_seconds * 0.9)
        senders.deliver_pending(runtime.db)
        return fired
    except Exception:  # noqa: BLE001 - the scheduler must survive a database outage
        log.exception("timer poll failed; retrying at the next interval")
        return 0


def start_scheduler(runtime: Runtime, interval_seconds: float = 1.0) -> BackgroundScheduler:
    senders.configure_from_env()
    scheduler = BackgroundScheduler(timezone="Asia/Shanghai")
    scheduler.add_job(
        poll, "interval", args=[runtime, interval_seconds], seconds=interval_seconds, id="govflow-timers",
        max_instances=1, coalesce=True, misfire_grace_time=None,
    )
    # 每日备份: its own job (a long backup never delays the timers), once a day across the nodes
    scheduler.add_job(
        backup_schedule.poll, "interval", args=[runtime.db], seconds=backup_schedule.POLL_SECONDS,
        id="govflow-backup", max_instances=1, coalesce=True, misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
