"""Scheduled starts (rounds, API.md "Recurring rounds"): the system starts each period of a
procedure's schedules at its moment, exactly once across every node; a period whose moment passed
while every node was down starts at the next poll, back to the procedure's first deployment only;
a second start of a period, by hand or by a node, is 409 duplicate_period. The rounds here are
stand-ins declared in tests/round_procedure.py (the real screening rounds are left out there)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import round_procedure
from conftest import ApiClient, make_app, pin_clock
from round_procedure import DAILY, DAILY_MINUTE, MONTHLY, STUB

DIAGRAMS = STUB.parent.parent / "diagrams"


def at(text: str) -> datetime:
    from service import clock

    return clock.parse_datetime(text)


@pytest.fixture
def rounds() -> Iterator[None]:
    """The two stand-in rounds installed beside the procedures of workflows/, then removed."""
    from service import procedure
    from service.bootstrap import install_procedures

    before = procedure.registry()
    round_procedure.install(before)
    yield
    install_procedures(list(before), before.organisation)


def deploy(app: Any, moment: str) -> None:
    """Deploy the stub diagram (both rounds) at `moment`: their first deployment."""
    from service.bootstrap import deploy_bytes

    pin_clock(at(moment))
    deploy_bytes(app.extensions["govflow"].runtime, STUB.read_bytes(), "round_stub.bpmn", "admin")


def run_due(app: Any, moment: str) -> int:
    from service import schedule

    pin_clock(at(moment))
    return schedule.run_due(app.extensions["govflow"].runtime)


def cases(app: Any, process: str) -> list[tuple[str, str | None, str | None]]:
    """(business key, idempotency key, started by) of the process's cases, in start order."""
    from sqlalchemy import select

    from service.store.models import Instance

    with app.extensions["govflow"].db.read() as session:
        rows = session.execute(select(Instance.business_key, Instance.idempotency_key, Instance.started_by)
                               .where(Instance.process_key == process).order_by(Instance.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def case_data(api: ApiClient, business_key: str) -> dict[str, Any]:
    rows = api.get("zzb1", f"/api/v1/instances?q={business_key}").get_json()
    found = [r for r in rows if r["business_key"] == business_key]
    assert len(found) == 1, rows
    return api.instance("zzb1", found[0]["id"])


def test_monthly_round_starts_once_at_its_moment(app: Any, rounds: None) -> None:
    from service.timers import fire_all_due

    runtime = app.extensions["govflow"].runtime
    deploy(app, "2026-12-31T20:00:00+08:00")
    assert run_due(app, "2027-01-01T07:59:00+08:00") == 0
    assert cases(app, "test_round") == []
    pin_clock(at("2027-01-01T08:00:05+08:00"))
    assert fire_all_due(runtime) == 0  # no timer fired; the round started before the timers
    assert cases(app, "test_round") == [("PC-2027-01", "test_round:2027-01", "system")]
    case = case_data(ApiClient(app), "PC-2027-01")
    assert case["data"]["period"] == "2027-01" and case["data"]["business_key"] == "PC-2027-01"
    assert case["status"] == "running" and case["started_at"].startswith("2027-01-01T08:00:05")
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["month_report"]
    assert run_due(app, "2027-01-01T08:00:06+08:00") == 0
    assert fire_all_due(runtime) == 0
    assert run_due(app, "2027-01-31T23:59:59+08:00") == 0
    assert cases(app, "test_round") == [("PC-2027-01", "test_round:2027-01", "system")]
    assert cases(app, "test_round_daily") == []  # its important period lies before the deployment


def test_manual_start_of_a_period_that_ran_is_duplicate_period(app: Any, rounds: None) -> None:
    api = ApiClient(app)
    deploy(app, "2026-12-31T20:00:00+08:00")
    assert run_due(app, "2027-01-01T08:00:05+08:00") == 1
    r = api.post("zzb1", "/api/v1/instances", json={"process": "test_round", "data": {"period": "2027-01"}})
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["error"] == "duplicate_period"
    # a period not run yet may be started by hand; the scheduler then leaves it alone
    r = api.post("zzb1", "/api/v1/instances", json={"process": "test_round", "data": {"period": "2027-02"}})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["business_key"] == "PC-2027-02"
    assert run_due(app, "2027-02-01T08:00:05+08:00") == 0
    r = api.post("zzb1", "/api/v1/instances", json={"process": "test_round", "data": {"period": "2027-2"}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "period", "message": "应为 YYYY-MM（月度）"}]
    assert cases(app, "test_round") == [("PC-2027-01", "test_round:2027-01", "system"),
                                        ("PC-2027-02", "test_round:2027-02", "zzb1")]


def test_catch_up_after_downtime_starts_missed_periods_since_first_deployment(app: Any, rounds: None) -> None:
    """Deployed on 20 October, every node down until 3 December: November's and December's
    rounds start at the first poll; October's moment (1 October) was before the deployment."""
    deploy(app, "2026-10-20T10:00:00+08:00")
    assert run_due(app, "2026-12-03T09:00:00+08:00") == 2
    assert cases(app, "test_round") == [("PC-2026-11", "test_round:2026-11", "system"),
                                        ("PC-2026-12", "test_round:2026-12", "system")]
    api = ApiClient(app)
    assert case_data(api, "PC-2026-11")["data"]["period"] == "2026-11"
    assert case_data(api, "PC-2026-12")["data"]["period"] == "2026-12"
    assert run_due(app, "2026-12-03T09:00:01+08:00") == 0
    assert cases(app, "test_round_daily") == []


def test_daily_rounds_start_on_working_days_of_the_important_period(app: Any, rounds: None) -> None:
    """2026-09-28 … 2026-10-10 (国庆节 1–7 October off, Saturday 10 October a 调休 working day),
    at the configured 08:30."""
    from service import config_store

    with app.extensions["govflow"].db.write() as session:
        config_store.put(session, DAILY.setting_key(DAILY_MINUTE), 510)
    deploy(app, "2026-09-15T10:00:00+08:00")
    assert run_due(app, "2026-09-28T08:29:59+08:00") == 0
    assert run_due(app, "2026-09-28T08:30:01+08:00") == 1
    assert [c[0] for c in cases(app, "test_round_daily")] == ["RB-20260928"]
    # through the holidays: 29 and 30 September, and October's monthly round at 08:00 on the 1st
    assert run_due(app, "2026-10-07T23:00:00+08:00") == 3
    assert cases(app, "test_round") == [("PC-2026-10", "test_round:2026-10", "system")]
    assert run_due(app, "2026-10-10T08:29:00+08:00") == 2  # 8 and 9 October
    assert run_due(app, "2026-10-12T09:00:00+08:00") == 1  # the 调休 Saturday; the 12th is outside
    assert cases(app, "test_round_daily") == [
        (f"RB-{day.replace('-', '')}", f"test_round_daily:{day}", "system")
        for day in ("2026-09-28", "2026-09-29", "2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10")
    ]
    case = case_data(ApiClient(app), "RB-20261010")
    assert {k: case["data"][k] for k in ("period", "important_period", "business_key")} == {
        "period": "2026-10-10", "important_period": "2026年国庆节", "business_key": "RB-20261010"}
    assert case["started_at"].startswith("2026-10-12T09:00:00")  # caught up at the next poll


def test_schedule_periods_and_numbers() -> None:
    """A month's day clamps to its last day; a period's number; the idempotency key."""
    from service.procedure import Numbering, Procedure
    from service.schedule import Monthly, period_key, period_number

    end_of_month = Procedure("p", "p", Numbering("X"), schedules=(Monthly(day=31, at_minute=17 * 60 + 30),))
    found = end_of_month.schedules[0].periods(end_of_month, at("2027-01-15T00:00:00"), at("2027-04-30T23:59:59"),
                                              lambda: None)
    assert [(p.key, p.starts_at.isoformat(), p.data) for p in found] == [
        ("2027-01", "2027-01-31T17:30:00+08:00", {"period": "2027-01"}),
        ("2027-02", "2027-02-28T17:30:00+08:00", {"period": "2027-02"}),
        ("2027-03", "2027-03-31T17:30:00+08:00", {"period": "2027-03"}),
        ("2027-04", "2027-04-30T17:30:00+08:00", {"period": "2027-04"}),
    ]
    assert period_number("PC", "2026-12") == "PC-2026-12"
    assert period_number("RB", "2026-12-07") == "RB-20261207"
    assert period_number("RB", "2026-02-30") is None and period_number("PC", 202612) is None
    assert period_key(MONTHLY, {"period": "2026-12"}) == "test_round:2026-12"
    assert period_key(DAILY, {"period": "2026-12-07"}) == "test_round_daily:2026-12-07"
    assert period_key(MONTHLY, {"subject": "x"}) is None
    assert period_key(Procedure("q", "q", Numbering("Q")), {"period": "2026-12"}) is None


def test_a_failing_schedule_stops_neither_the_other_rounds_nor_the_timers(app: Any, rounds: None,
                                                                           monkeypatch: Any) -> None:
    from service import procedure, schedule, timers
    from service.actors import SYSTEM
    from service.bootstrap import deploy_bytes, install_procedures

    runtime = app.extensions["govflow"].runtime
    registry = procedure.registry()
    install_procedures([p for p in registry if p.key not in {DAILY.key, MONTHLY.key}] + [DAILY, MONTHLY],
                       registry.organisation)  # the failing schedule comes first
    monkeypatch.setattr(round_procedure, "IMPORTANT_PERIODS", None)  # its table unreadable: list(None)
    deploy(app, "2026-12-31T20:00:00+08:00")
    deploy_bytes(runtime, (DIAGRAMS / "timer_test.bpmn").read_bytes(), "timer_test.bpmn", "admin")
    runtime.start("timer_test", {"fire_at": "2027-01-01T08:00:00+08:00"}, SYSTEM)
    pin_clock(at("2027-01-01T08:00:05+08:00"))
    assert timers.fire_all_due(runtime) == 1
    assert cases(app, "test_round") == [("PC-2027-01", "test_round:2027-01", "system")]

    def broken(_runtime: Any, now: Any = None) -> int:
        raise RuntimeError("数据库暂时不可用")

    monkeypatch.setattr(schedule, "run_due", broken)
    runtime.start("timer_test", {"fire_at": "2027-01-01T09:00:00+08:00"}, SYSTEM)
    pin_clock(at("2027-01-01T09:00:05+08:00"))
    assert timers.fire_all_due(runtime) == 1  # the timer fired all the same


@pytest.mark.postgresql
def test_three_nodes_on_one_database_start_each_period_once(pg_url: str, rounds: None) -> None:
    """Three OS processes share one PostgreSQL and run the due rounds at the same moment: each of
    the nine due periods (October–December monthly, six daily) is started by exactly one."""
    app = make_app(pg_url)
    try:
        deploy(app, "2026-09-15T10:00:00+08:00")
    finally:
        app.extensions["govflow"].db.dispose()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    nodes = [ctx.Process(target=round_procedure.race, args=(pg_url, "2026-12-03T09:00:00+08:00", barrier, results))
             for _ in range(3)]
    for node in nodes:
        node.start()
    reports = [results.get(timeout=240) for _ in nodes]
    for node in nodes:
        node.join(timeout=60)
    assert [r[0] for r in reports] == ["ok", "ok", "ok"], reports
    assert [r[2] for r in reports] == [[], [], []]  # no start failed (the losers saw duplicate_period)
    assert sum(r[1] for r in reports) == 9, reports
    assert [node.exitcode for node in nodes] == [0, 0, 0]
    app = make_app(pg_url)
    try:
        assert cases(app, "test_round") == [
            (f"PC-{m}", f"test_round:{m}", "system") for m in ("2026-10", "2026-11", "2026-12")]
        daily = sorted(cases(app, "test_round_daily"))
        assert daily == [
            (f"RB-{day.replace('-', '')}", f"test_round_daily:{day}", "system")
            for day in ("2026-09-28", "2026-09-29", "2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10")
        ]
    finally:
        app.extensions["govflow"].db.dispose()
    assert date(2026, 10, 10).weekday() == 5  # the 调休 Saturday is among them


@pytest.mark.postgresql
def test_three_nodes_catching_up_start_each_month_of_the_real_screening_round_once(pg_url: str) -> None:
    """The real 月度矛盾纠纷排查, deployed on 15 September, with every node down until 3 December:
    three nodes coming back at once start October, November and December once each (PC-2026-10…12,
    by the system), each with one report task per department."""
    from sqlalchemy import func, select

    from service.store.models import HumanTask, Instance

    pin_clock(at("2026-09-15T10:00:00+08:00"))
    app = make_app(pg_url)  # deploys bpmn/ now: the round's first deployment
    app.extensions["govflow"].db.dispose()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    nodes = [ctx.Process(target=round_procedure.race, args=(pg_url, "2026-12-03T09:00:00+08:00", barrier, results, True))
             for _ in range(3)]
    for node in nodes:
        node.start()
    reports = [results.get(timeout=240) for _ in nodes]
    for node in nodes:
        node.join(timeout=60)
    assert [r[0] for r in reports] == ["ok", "ok", "ok"], reports
    assert [r[2] for r in reports] == [[], [], []]
    # three months of the screening round and of 网站稿件月度统计 (the other monthly round of workflows/)
    assert sum(r[1] for r in reports) == 6, reports
    app = make_app(pg_url)
    try:
        assert cases(app, "dispute_screening_monthly") == [
            (f"PC-{m}", f"dispute_screening_monthly:{m}", "system") for m in ("2026-10", "2026-11", "2026-12")]
        assert sorted(cases(app, "article_stats_monthly")) == [
            (f"TJ-{m}", f"article_stats_monthly:{m}", "system") for m in ("2026-10", "2026-11", "2026-12")]
        with app.extensions["govflow"].db.read() as session:
            per_round = dict(session.execute(
                select(Instance.business_key, func.count(HumanTask.id)).join(HumanTask, HumanTask.instance_id == Instance.id)
                .where(Instance.process_key == "dispute_screening_monthly", HumanTask.bpmn_id == "report")
                .group_by(Instance.business_key)).all())
        assert per_round == {"PC-2026-10": 3, "PC-2026-11": 3, "PC-2026-12": 3}
    finally:
        app.extensions["govflow"].db.dispose()
