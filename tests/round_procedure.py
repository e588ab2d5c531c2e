"""Stand-in round procedures for tests/test_scheduled_starts.py (the scheduler alone, without the
screening rounds' reports): a monthly round and a daily round inside one important period.
Declared at module level so that the processes the scale-out test spawns import the very same
declarations."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from service.procedure import Numbering, Procedure, Registry, Starters
from service.schedule import Monthly, WorkingDays, minute_setting

STUB = Path(__file__).resolve().parent / "bpmn" / "round_stub.bpmn"
MONTHLY_MINUTE = "round.monthly_minute"
DAILY_MINUTE = "round.daily_minute"
# 国庆节 2026 in the legal calendar: 1–7 October off, Saturday 10 October a 调休 working day.
IMPORTANT_PERIODS: list[tuple[date, date, str]] = [(date(2026, 9, 28), date(2026, 10, 10), "2026年国庆节")]


def important_periods(_session: Any) -> list[tuple[date, date, str]]:
    """What a real procedure would read from its table of important periods."""
    return list(IMPORTANT_PERIODS)


ZZB = frozenset({"zzb"})
MONTHLY = Procedure(
    "test_round", "月度排查（测试）", Numbering("PC", by_period=True), starters=Starters(groups=ZZB), owners=ZZB,
    settings=(minute_setting(MONTHLY_MINUTE, "月度排查发起时间"),),
    schedules=(Monthly(day=1, at_setting=MONTHLY_MINUTE),),
)
DAILY = Procedure(
    "test_round_daily", "每日排查（测试）", Numbering("RB", by_period=True), starters=Starters(groups=ZZB), owners=ZZB,
    settings=(minute_setting(DAILY_MINUTE, "每日排查发起时间"),),
    schedules=(WorkingDays(within=important_periods, at_setting=DAILY_MINUTE),),
)
ROUNDS = (MONTHLY, DAILY)


def install(base: Registry | None = None) -> Registry:
    """Install the procedures of workflows/ (or `base`'s) plus the two rounds, without the real
    screening rounds (workflows/dispute_rounds.py): their schedules and their numbers (PC-, RB-)
    would run beside the stand-ins'."""
    from service.bootstrap import install_procedures

    if base is None:
        import workflows

        return install_procedures([*_unscheduled(workflows.PROCEDURES), *ROUNDS], workflows.ORGANISATION)
    return install_procedures([*_unscheduled(base), *ROUNDS], base.organisation)


def _unscheduled(procedures: Any) -> list[Procedure]:
    return [p for p in procedures if not p.schedules]


def race(url: str, moment: str, barrier: Any, results: Any, real: bool = False) -> None:
    """One node of the scale-out test (a spawned process): build the service on `url`, wait for
    the others, then run the due rounds at `moment`; report ("ok", started, error log lines) or
    ("error", …). The scheduler logs and swallows a failed start, so the log is what says "none"."""
    import logging

    errors: list[str] = []

    class Errors(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append(record.getMessage())

    logging.getLogger("service").addHandler(Errors(logging.ERROR))
    try:
        from service import clock, schedule
        from service.bootstrap import build
        from service.config import Settings

        if real:  # the procedures of workflows/ as they are, the screening rounds included
            from service.bootstrap import install_procedures

            install_procedures()
        else:
            install()
        # The parent deployed bpmn/ and the stub already; nodes deploying at once is not the race here.
        services = build(Settings(database_url=url, secret_key="x", deploy_on_start=False))
        clock.start_from(clock.parse_datetime(moment))
        barrier.wait(timeout=120)
        started = schedule.run_due(services.runtime)
        services.db.dispose()
        results.put(("ok", started, errors))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", repr(exc)))
