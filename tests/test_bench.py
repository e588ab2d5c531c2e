"""`govflow bench`: one JSON object with every figure of API.md, measured in one (tiny) run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from conftest import missing_dependency, require_all

API_MD_KEYS = (
    "raw_engine_per_s", "service_sqlite_per_s", "service_postgresql_per_s", "http_per_s",
    "timer_fire_per_s", "timer_latency_p99_s", "inbox_p95_ms_at_100k", "instance_state_bytes",
)


def test_bench_prints_one_json_object_with_every_figure(capsys) -> None:
    from service import clock
    from service.cli import main
    from testing.pgtemp import PostgresServer

    # The bench's servers run on the real clock, as `govflow bench` does: the suite's pinned
    # moment would put every timer it schedules hours away from the servers' clock.
    clock.start_from(None)

    pg = PostgresServer.available()
    if not pg and require_all():
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    code = main(["bench", "--quick", "--instances", "3", "--inbox-rows", "2000", "--inbox-calls", "20",
                 "--timers", "20", "--http-clients", "2", "--workers", "1"])
    assert code == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # stdout holds the JSON object and nothing else
    assert isinstance(result, dict)
    assert "errors" not in result, result.get("errors")
    for key in API_MD_KEYS:
        assert key in result, key
    for key in API_MD_KEYS:
        if key == "service_postgresql_per_s" and not pg:
            assert result[key] is None
            continue
        assert isinstance(result[key], int | float) and result[key] > 0, (key, result[key])
    assert result["http"]["database"] == ("postgresql" if pg else "sqlite")
    assert result["timers"]["timers_fired"] == 20
    assert result["inbox_rows"] == 2000
    assert result["ratios"]["service_sqlite/raw"] > 0
    # the screening round: 50 departments, beside the raw engine; each round is its own instance,
    # so the state of the last round measured is the size of the first one (same period length)
    assert result["round_departments"] == 50
    assert result["round_sqlite_per_s"] > 0 and result["round_raw_engine_per_s"] > 0
    assert result["round_ratios"]["round_sqlite/raw"] > 0
    assert (result["round_postgresql_per_s"] or 0) > 0 if pg else result["round_postgresql_per_s"] is None
    sizes = result["round_state_bytes"]
    assert sizes["rounds"] >= 2 and abs(sizes["last_round"] - sizes["first_round"]) < 64
    # SQLite alone: a round is 53 write transactions (the start, 50 reports, 研判, 会议)
    floor = result["round_sqlite_sql_only"]
    assert floor["write_transactions"] == 53 and floor["seconds_per_round"] > 0
    assert 0 < floor["ceiling_ratio"] < 1


def test_timer_figures_are_per_process_rate_and_lateness_percentile() -> None:
    from bench import _percentile, _timer_figures

    due = datetime(2026, 11, 20, 9, 0, 0)
    # 11 timers due at once, fired one every 0.1 s, the first 0.5 s late: 11 fired in the 1.5 s
    # since they fell due, over 2 processes.
    rows = [("fired", due, due + timedelta(seconds=0.5 + i / 10)) for i in range(11)]
    figures = _timer_figures(rows + [("waiting", due, None)], expected=12, workers=2)
    assert figures["timers_fired"] == 11
    assert abs(figures["timer_fire_per_s"] - 11 / 1.5 / 2) < 1e-6
    assert abs(figures["timer_latency_p99_s"] - 1.5) < 1e-6
    assert _percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert _percentile(list(range(1, 201)), 95) == 190
