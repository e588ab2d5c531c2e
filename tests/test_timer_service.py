"""The durable timer service: exactly once across processes, catch-up, latency, cycles."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import make_app
from sqlalchemy import func, select

from service import clock, config_store
from service.actors import SYSTEM
from service.bootstrap import deploy_bytes
from service.store.models import History, Instance, Notice, Timer

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
ROOT = Path(__file__).resolve().parent.parent


def _deploy(app: Any, name: str) -> None:
    runtime = app.extensions["govflow"].runtime
    deploy_bytes(runtime, (DIAGRAMS / name).read_bytes(), name, "test")


def _start_timers(app: Any, count: int, fire_at: list[str]) -> list[int]:
    runtime = app.extensions["govflow"].runtime
    return [runtime.start("timer_test", {"fire_at": fire_at[i % len(fire_at)]}, SYSTEM)["id"]
            for i in range(count)]


POLLER = textwrap.dedent("""
    import sys, time
    from service import config_store
    from service.runtime import Runtime
    from service.store.db import Database
    from service.store.models import Timer
    from service.timers import poll
    from sqlalchemy import func, select
    runtime = Runtime(Database(sys.argv[1]))
    fired, idle = 0, 0
    while idle < 3:
        n = poll(runtime)
        fired += n
        with runtime.db.read() as s:
            left = s.scalar(select(func.count(Timer.id)).where(Timer.state == "waiting"))
        idle = idle + 1 if (n == 0 and left == 0) else 0
        time.sleep(0.05)
    print(fired)
""")


def test_timers_fire_exactly_once_across_three_processes_on_postgresql(pg_url: str) -> None:
    app = make_app(pg_url)
    _deploy(app, "timer_test.bpmn")
    due = (clock.now() + timedelta(days=1)).isoformat()
    ids = _start_timers(app, 1000, [due])
    svc = app.extensions["govflow"]
    with svc.db.write() as session:  # the shared virtual clock: every process is a day later
        config_store.advance_clock(session, timedelta(days=1, seconds=5).total_seconds())
    env = {**os.environ, "GOVFLOW_CLOCK": "virtual"}
    procs = [subprocess.Popen([sys.executable, "-c", POLLER, pg_url], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT) for _ in range(3)]
    counts = [int(p.communicate(timeout=600)[0].strip() or 0) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(counts) == 1000
    with svc.db.read() as session:
        fired_rows = session.execute(
            select(History.instance_id, func.count()).where(History.action == "timer").group_by(History.instance_id)
        ).all()
        assert len(fired_rows) == 1000 and {n for _, n in fired_rows} == {1}
        assert session.scalar(select(func.count(Instance.id)).where(Instance.id.in_(ids),
                                                                     Instance.status == "completed")) == 1000
        assert session.scalar(select(func.count(Timer.id)).where(Timer.state == "fired")) == 1000
        assert session.scalar(select(func.count(Timer.id)).where(Timer.state == "waiting")) == 0


def test_timers_due_during_downtime_fire_at_next_start_in_due_order(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    _deploy(app, "timer_test.bpmn")
    base = clock.now() + timedelta(hours=1)
    # started in an order different from their due order
    due = [(base + timedelta(minutes=m)).isoformat() for m in (30, 10, 50, 20, 40)]
    ids = _start_timers(app, 5, due)
    clock.advance(timedelta(hours=3))  # everything fell due while no process was polling
    app2 = make_app(sqlite_url)  # "next start": a new app on the same database
    from service.timers import fire_all_due

    assert fire_all_due(app2.extensions["govflow"].runtime) == 5
    with app2.extensions["govflow"].db.read() as session:
        order = list(session.scalars(select(History.instance_id).where(History.action == "timer")
                                     .order_by(History.id)))
    by_due = [i for _, i in sorted(zip(due, ids, strict=True))]
    assert order == by_due


def test_due_timer_fires_within_the_poll_interval_on_an_idle_system(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    _deploy(app, "timer_test.bpmn")
    svc = app.extensions["govflow"]
    from service.timers import start_scheduler

    due_at = clock.now() + timedelta(seconds=2)
    (iid,) = _start_timers(app, 1, [due_at.isoformat()])
    scheduler = start_scheduler(svc.runtime, interval_seconds=1.0)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with svc.db.read() as session:
                if session.get(Instance, iid).status == "completed":
                    break
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    with svc.db.read() as session:
        timer = session.scalars(select(Timer).where(Timer.instance_id == iid)).one()
        assert timer.state == "fired"
        lateness = (clock.parse_datetime(timer.fired_at) - due_at).total_seconds()
    # the poll interval is 1 s; a little slack for the transaction itself
    assert 0 <= lateness <= 1.5


def test_cycle_timer_repeats_hourly_and_stops_when_its_task_completes(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    _deploy(app, "cycle_test.bpmn")
    svc = app.extensions["govflow"]
    runtime = svc.runtime
    iid = runtime.start("cycle_test", {}, SYSTEM)["id"]

    def progress_notices() -> int:
        with svc.db.read() as session:
            return session.scalar(select(func.count(Notice.id)).where(  # not the 新待办 of 办理 itself
                Notice.instance_id == iid, Notice.kind != "task_assigned")) or 0

    for hour in (1, 2, 3):
        clock.advance(timedelta(hours=1, minutes=1))
        runtime.fire_due_timers()
        runtime.fire_due_timers()  # a second poll in the same hour fires nothing more
        assert progress_notices() == hour
    with svc.db.read() as session:
        waiting = session.scalars(select(Timer).where(Timer.instance_id == iid, Timer.state == "waiting")).all()
        assert len(waiting) == 1
        from service.store.models import HumanTask

        task = session.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                       HumanTask.state == "open")).one()
    from service.actors import Actor

    runtime.complete(task.id, {"proposal": "办结"}, Actor("xfk1", "信访科", frozenset({"xfk"})))
    with svc.db.read() as session:
        assert session.get(Instance, iid).status == "completed"
        assert session.scalars(select(Timer).where(Timer.instance_id == iid, Timer.state == "waiting")).all() == []
    clock.advance(timedelta(hours=2))
    runtime.fire_due_timers()
    assert progress_notices() == 3


def test_a_timer_batch_that_conflicts_is_rolled_back_and_each_timer_fires_once_on_its_own(
        sqlite_url: str, monkeypatch: Any) -> None:
    """A case moved on between claim and write fails its guard: the whole batch rolls back, then
    every timer of it fires in a transaction of its own — none lost, none twice."""
    from service.runtime import Runtime

    app = make_app(sqlite_url)
    _deploy(app, "timer_test.bpmn")
    ids = _start_timers(app, 4, [(clock.now() + timedelta(minutes=5)).isoformat()])
    clock.advance(timedelta(minutes=10))
    original, calls = Runtime._guard, {"n": 0}

    def guard_losing_first(self: Runtime, session: Any, step: Any, guards: Any = ()) -> Any:
        calls["n"] += 1
        checks = original(self, session, step, guards)
        return [(lambda: 0, "模拟并发")] + checks if calls["n"] == 1 else checks

    monkeypatch.setattr(Runtime, "_guard", guard_losing_first)
    runtime = app.extensions["govflow"].runtime
    assert runtime.fire_due_timers() == 4
    assert calls["n"] == 4 + 4  # the batch's four guards (rolled back), then one transaction each
    with app.extensions["govflow"].db.read() as session:
        fired = sorted(session.scalars(select(History.instance_id).where(History.action == "timer")))
        states = dict(session.execute(select(Timer.instance_id, Timer.state).where(Timer.instance_id.in_(ids))).all())
    assert fired == sorted(ids)
    assert states == {iid: "fired" for iid in ids}
    assert runtime.fire_due_timers() == 0
