"""`govflow bench`: the figures of API.md, all measured in one run on this machine.

Every "per_s" figure but the timers' counts petitions started with the petition's sample data
(workflows.petition_sample: received_at = now, so every deadline and ladder timer lies in the
future) and driven down the `dept` route through `reply`, every user task on that path completed:

- raw_engine_per_s: SpiffWorkflow in memory with GovFlow's parser and script engine, measured in
  rounds beside each phase (RawReference); each ratio divides by the raw rate around its phase;
- service_sqlite_per_s / service_postgresql_per_s: `Runtime.start`/`complete` on a fresh
  database (the PostgreSQL one on a throwaway server the bench starts, or --postgresql-url);
- http_per_s: a real `govflow serve` (gunicorn) subprocess driven by concurrent keep-alive
  clients, one request per step;
- timer_fire_per_s / timer_latency_p99_s: a burst of timers falling due at once while that
  HTTP load runs, fired by the server's own scheduler (figures from the `timers` table);
- inbox_p95_ms_at_100k: `queries.inbox` on a database filled with --inbox-rows instances;
- instance_state_bytes: the stored state JSON of a petition waiting at `handle`.

Progress goes to stderr; `run_bench` returns the JSON object the CLI prints.

Modules: `measure` (progress line, percentiles, phase budget), `workload` (the sample petition's
route, the raw engine and its reference rounds), `databases` (fresh migrated databases with the
demo organisation, PostgreSQL ones included), `service_phase`, `http_phase` (`Server`,
`HttpClient`, the timer burst), `inbox` (`fill_inbox`, `bench_inbox`), `run` (options,
`run_bench`, the JSON assembly).
"""

from __future__ import annotations

from bench.http_phase import _timer_figures, bench_http
from bench.inbox import bench_inbox, fill_inbox
from bench.measure import _percentile
from bench.run import DEFAULTS, options, run_bench
from bench.service_phase import bench_service
from bench.workload import bench_raw, load_petition_model, petition_start, petition_steps

__all__ = [
    "DEFAULTS",
    "_percentile",
    "_timer_figures",
    "bench_http",
    "bench_inbox",
    "bench_raw",
    "bench_service",
    "fill_inbox",
    "load_petition_model",
    "options",
    "petition_start",
    "petition_steps",
    "run_bench",
]
