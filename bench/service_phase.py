"""service_sqlite_per_s / service_postgresql_per_s: `Runtime.start`/`complete` on a fresh
database, in rounds alternating with rounds of the raw engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.databases import demo_actors, prepare_database
from bench.measure import _enough, _progress
from bench.workload import HANDLE_STEP, ROUND, RawReference, _pick, petition_start, petition_steps


def drive_service(runtime: Any, actors: dict[str, Any], start: dict[str, Any],
                  steps: list[tuple[str, str, dict[str, Any]]],
                  at_handle: Callable[[int], None] | None = None) -> int:
    """One petition through Runtime.start/complete, following each answer's open_tasks."""
    answer = runtime.start("petition", start, actors["xfk1"])
    instance_id = answer["id"]
    open_tasks = answer["open_tasks"]
    for user, bpmn_id, data in steps:
        if bpmn_id == HANDLE_STEP and at_handle is not None:
            at_handle(instance_id)
        answer = runtime.complete(_pick(open_tasks, bpmn_id), data, actors[user])
        open_tasks = answer["instance"]["open_tasks"]
    if answer["instance"]["status"] != "running" or open_tasks:
        raise RuntimeError(f"petition {instance_id} did not end waiting for the review window: {answer}")
    return int(instance_id)


def stored_state_bytes(svc: Any, instance_id: int) -> int:
    from service.store.models import Instance

    with svc.db.read() as session:
        inst = session.get(Instance, instance_id)
        assert inst is not None
        return len(inst.state.encode("utf-8"))


def bench_service(url: str, count: int, label: str, budget: float = float("inf"),
                  reference: RawReference | None = None) -> dict[str, Any]:
    """Drive `count` petitions through the runtime; with a reference, in rounds alternating
    with rounds of the raw engine (labelled `label`)."""
    svc = prepare_database(url)
    try:
        actors = demo_actors(svc)
        start, steps = petition_start(), petition_steps()
        sizes: list[int] = []
        for _ in range(2):  # warm-up: parses the model, fills caches and connection pools
            drive_service(svc.runtime, actors, start, steps,
                          lambda iid: sizes.append(stored_state_bytes(svc, iid)))
        _progress(f"{label}: driving {count} petitions" + (", alternating with the raw engine" if reference else ""))
        began, done, elapsed, cpu = time.perf_counter(), 0, 0.0, 0.0
        while not _enough(done, count, began, budget):
            batch = min(ROUND, count - done) if reference is not None else 1
            round_began, round_cpu = time.perf_counter(), time.process_time()
            for _ in range(batch):
                drive_service(svc.runtime, actors, start, steps)
            took = time.perf_counter() - round_began
            elapsed += took
            cpu += time.process_time() - round_cpu
            done += batch
            if reference is not None:  # as long again on the raw engine, right after
                reference.rounds_for(label, took)
        return {"per_s": done / elapsed, "cpu_per_s": done / cpu, "petitions": done, "state_bytes": sizes[0]}
    finally:
        svc.db.dispose()
