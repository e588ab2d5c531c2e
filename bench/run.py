"""The whole run: the options (defaults of `govflow bench`), every phase in turn, and the one
JSON object (the keys of API.md "govflow bench") that `run_bench` returns and the CLI prints."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.databases import PostgresDatabases
from bench.http_phase import bench_http
from bench.inbox import bench_inbox
from bench.measure import _progress, _round
from bench.round_phase import DEPARTMENTS as ROUND_DEPARTMENTS
from bench.round_phase import bench_rounds
from bench.service_phase import bench_service
from bench.workload import RawReference, bench_raw, petition_steps

DEFAULTS: dict[str, Any] = {
    "instances": None,
    "quick": False,
    "inbox_rows": None,
    "http_clients": 8,
    "workers": 2,
    "postgresql_url": None,
    "timers": None,
    "inbox_calls": None,
    "no_http": False,
    "no_postgresql": False,
    "inbox_postgresql": None,
    "inbox_state": None,
    "phase_seconds": None,
}
FULL_INSTANCES = 300
QUICK_INSTANCES = 60
# Each throughput phase stops at --instances petitions or after this many seconds, whichever
# comes first, so a slow build still finishes the default run in a few minutes.
FULL_PHASE_SECONDS = 20.0
QUICK_PHASE_SECONDS = 6.0
# Timer burst per server process: the target is ≥ 200 fired/s per process with p99 lateness
# ≤ 2 s, so a burst of 400 per process is what the target lets fire within those 2 s.
FULL_TIMERS_PER_WORKER = 400
QUICK_TIMERS_PER_WORKER = 200
INBOX_ROWS = 100_000
# Screening rounds (50 departments each) per measured phase, at most (the time budget stops it sooner).
ROUND_COUNT = 40


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """SpiffWorkflow logs every task state change at INFO, migrations and deploys log too:
    in this process that is noise on stderr and costs more than the engine itself."""
    names = ("alembic", "service.bootstrap", "apscheduler", "spiff")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def options(args: argparse.Namespace | None = None, **overrides: Any) -> argparse.Namespace:
    """The bench options with defaults filled in (tests pass a partial set)."""
    values = {**DEFAULTS, **{k: v for k, v in vars(args or argparse.Namespace()).items() if k in DEFAULTS}}
    values.update(overrides)
    return argparse.Namespace(**values)


def run_bench(args: argparse.Namespace | None = None) -> dict[str, Any]:
    with _quiet_logs():
        return _run_bench(options(args))


def _run_bench(opts: argparse.Namespace) -> dict[str, Any]:
    quick = bool(opts.quick)
    count = int(opts.instances or (QUICK_INSTANCES if quick else FULL_INSTANCES))
    workers = int(opts.workers)
    per_worker = QUICK_TIMERS_PER_WORKER if quick else FULL_TIMERS_PER_WORKER
    timers = int(opts.timers if opts.timers is not None else per_worker * workers)
    inbox_rows = int(opts.inbox_rows if opts.inbox_rows is not None else INBOX_ROWS)
    inbox_calls = int(opts.inbox_calls if opts.inbox_calls is not None else (210 if quick else 700))
    inbox_state = opts.inbox_state or ("stub" if quick else "full")
    budget = float(opts.phase_seconds or (QUICK_PHASE_SECONDS if quick else FULL_PHASE_SECONDS))
    pg_wanted = not opts.no_postgresql and PostgresDatabases.available(opts.postgresql_url)
    inbox_pg = pg_wanted and bool(opts.inbox_postgresql)
    began = time.perf_counter()
    out: dict[str, Any] = {"instances": count, "load_average_at_start": list(os.getloadavg())}
    workdir = Path(tempfile.mkdtemp(prefix="govflow-bench-"))
    pg = PostgresDatabases(opts.postgresql_url)
    try:
        _progress(f"raw engine: {count} petitions")
        raw = bench_raw(count, budget)
        reference = RawReference()
        reference.rounds.append(("raw", raw["petitions"], raw["petitions"] / raw["per_s"]))
        out["cpu_per_s"] = {"raw_engine": raw["cpu_per_s"]}

        _progress(f"service on SQLite: {count} petitions")
        sqlite_url = f"sqlite:///{workdir / 'service.db'}"
        service = bench_service(sqlite_url, count, "service on SQLite", budget, reference)
        out["service_sqlite_per_s"] = service["per_s"]
        out["petitions_measured"] = {"service_sqlite": service["petitions"]}
        out["cpu_per_s"]["service_sqlite"] = service["cpu_per_s"]
        out["instance_state_bytes"] = service["state_bytes"]
        out["instance_state_bytes_raw_engine"] = raw["state_bytes"]

        out["service_postgresql_per_s"] = None
        errors: dict[str, str] = {}
        if pg_wanted:
            _progress("PostgreSQL: " + ("starting a throwaway server" if opts.postgresql_url is None
                                        else "using --postgresql-url"))
            try:
                pg.start()
                pg_service = bench_service(pg.create("service"), count, "service on PostgreSQL", budget,
                                           reference)
                out["service_postgresql_per_s"] = pg_service["per_s"]
                out["petitions_measured"]["service_postgresql"] = pg_service["petitions"]
                out["cpu_per_s"]["service_postgresql_bench_process"] = pg_service["cpu_per_s"]
            except Exception as exc:  # noqa: BLE001 - reported in the JSON, the other figures still count
                errors["postgresql"] = f"{type(exc).__name__}: {exc}"
                _progress(f"PostgreSQL failed: {errors['postgresql']}")
                pg_wanted = inbox_pg = False
        else:
            _progress("PostgreSQL: not available, skipped")

        out["http_per_s"] = None
        out["timer_fire_per_s"] = None
        out["timer_latency_p99_s"] = None
        web: dict[str, Any] | None = None
        if not opts.no_http:
            http_url = pg.create("http") if pg_wanted else f"sqlite:///{workdir / 'http.db'}"
            try:
                web = bench_http(http_url, count, int(opts.http_clients), workers, timers, workdir, budget,
                                 reference)
            except Exception as exc:  # noqa: BLE001 - reported in the JSON, the other figures still count
                errors["http"] = f"{type(exc).__name__}: {exc}"
                _progress(f"HTTP phase failed: {errors['http']}")
        if web is not None:
            out["http_per_s"] = web["per_s"]
            out["petitions_measured"]["http"] = web["petitions"]
            out["http"] = {"database": web["database"], "clients": int(opts.http_clients),
                           "workers": int(opts.workers), "petitions": web["petitions"],
                           "requests_per_petition": 1 + len(petition_steps()),
                           "seconds": round(web["seconds"], 2)}
            if timers:
                out["timer_fire_per_s"] = web["timer_fire_per_s"]
                out["timer_latency_p99_s"] = web["timer_latency_p99_s"]
                out["timers"] = {k: (_round(v, 3) if isinstance(v, float) else v) for k, v in web.items()
                                 if k.startswith("timer") and k not in ("timer_fire_per_s", "timer_latency_p99_s")}
                out["timers"]["basis"] = (f"fired per second per server process: burst rate across "
                                          f"{workers} worker processes ÷ {workers}; lateness = "
                                          "fired_at − due_at of the timers table")

        out.update(_round_figures(workdir, pg if pg_wanted else None, budget, errors, min(ROUND_COUNT, max(2, count))))

        inbox = bench_inbox(f"sqlite:///{workdir / 'inbox.db'}", inbox_rows, inbox_calls, "SQLite",
                            inbox_state == "full", 1.5 * budget)
        out["inbox_rows"] = inbox_rows
        out["inbox_p95_ms_at_100k"] = inbox["inbox_p95_ms"]
        out["inbox_database"] = "sqlite"  # the embedded default (make run); PostgreSQL: --inbox-postgresql
        out["inbox_state"] = inbox_state
        out["instance_list_p95_ms"] = inbox["instance_list_p95_ms"]
        out["inbox_detail"] = {k: inbox[k] for k in ("inbox_p50_ms", "inbox_calls", "inbox_p95_ms_by_user",
                                                     "inbox_sizes", "instance_list_calls",
                                                     "instance_list_p95_ms_by_query", "fill_seconds",
                                                     "state_bytes_per_row")}
        if inbox_pg:
            pg_inbox = bench_inbox(pg.create("inbox"), inbox_rows, inbox_calls, "PostgreSQL",
                                   inbox_state == "full", 1.5 * budget)
            out["inbox_p95_ms_at_100k_postgresql"] = pg_inbox["inbox_p95_ms"]
            out["instance_list_p95_ms_postgresql"] = pg_inbox["instance_list_p95_ms"]
            out["inbox_detail_postgresql"] = {k: pg_inbox[k] for k in (
                "inbox_p50_ms", "inbox_calls", "inbox_p95_ms_by_user", "instance_list_calls",
                "instance_list_p95_ms_by_query", "fill_seconds")}
        else:
            out["inbox_p95_ms_at_100k_postgresql"] = None  # --inbox-postgresql: the fill alone takes minutes
        if errors:
            out["errors"] = errors
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    out["raw_engine_per_s"] = reference.rate()
    out["petitions_measured"]["raw_engine"] = sum(n for _l, n, _t in reference.rounds)
    beside = {"service_sqlite": reference.rate("service on SQLite"),
              "service_postgresql": reference.rate("service on PostgreSQL"), "http": reference.rate("http")}
    out["raw_engine_per_s_beside"] = beside

    def ratio(figure: float | None, raw_rate: float | None) -> float | None:
        return figure / raw_rate if figure and raw_rate else None

    out["ratios"] = {
        "service_sqlite/raw": ratio(out["service_sqlite_per_s"], beside["service_sqlite"]),
        "service_postgresql/raw": ratio(out["service_postgresql_per_s"], beside["service_postgresql"]),
        "http/raw": ratio(out["http_per_s"], beside["http"]),
        "basis": "each phase over the raw engine measured in rounds beside it (raw_engine_per_s_beside)",
    }
    out["load_average_at_end"] = list(os.getloadavg())
    out["seconds"] = time.perf_counter() - began
    return _rounded(out)


def _round_figures(workdir: Path, pg: PostgresDatabases | None, budget: float,
                   errors: dict[str, str], rounds: int) -> dict[str, Any]:
    """The screening round's figures (bench/round_phase.py): rounds of 50 departments per second
    on SQLite and PostgreSQL, each beside the raw engine on the same round, the state size, and
    what SQLite alone costs a round (its SQL replayed with nothing around it: the ratio's ceiling)."""
    out: dict[str, Any] = {"round_departments": ROUND_DEPARTMENTS, "round_postgresql_per_s": None}
    _progress("screening rounds on SQLite")
    sqlite_rounds = bench_rounds(f"sqlite:///{workdir / 'rounds.db'}", rounds, "rounds on SQLite", budget)
    out["round_sqlite_per_s"] = sqlite_rounds["per_s"]
    out["round_raw_engine_per_s"] = sqlite_rounds["raw_per_s"]
    ratios = {"round_sqlite/raw": sqlite_rounds["ratio"]}
    out["round_state_bytes"] = {"first_round": sqlite_rounds["state_bytes_first"],
                                "last_round": sqlite_rounds["state_bytes_last"],
                                "rounds": sqlite_rounds["rounds"]}
    if "sql_only" in sqlite_rounds:  # bench/round_floor.py: the SQL of one round, replayed alone
        out["round_sqlite_sql_only"] = sqlite_rounds["sql_only"]
    if pg is not None:
        try:
            pg_rounds = bench_rounds(pg.create("rounds"), rounds, "rounds on PostgreSQL", budget)
            out["round_postgresql_per_s"] = pg_rounds["per_s"]
            ratios["round_postgresql/raw"] = pg_rounds["ratio"]
        except Exception as exc:  # noqa: BLE001 - reported in the JSON, the other figures still count
            errors["rounds_postgresql"] = f"{type(exc).__name__}: {exc}"
    out["round_ratios"] = {**ratios, "basis": "each beside the raw engine driving the same round in memory"}
    return out


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 3) if abs(value) < 10 else round(value, 1)
    return value
