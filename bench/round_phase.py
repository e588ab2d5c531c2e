"""round_sqlite_per_s / round_postgresql_per_s: a monthly screening round for 50 departments —
started, all 50 reports filed (零报告), 研判 and 会议 done — per second through the runtime, in
rounds alternating with the same round on the raw engine (SpiffWorkflow in memory, GovFlow's
parser and script engine, no persistence). Each round is its own instance (its own period), so
the stored state of a round must not grow with the number of rounds: the first and the last
round's state at the moment every report is filed are both reported."""

from __future__ import annotations

import time
from typing import Any

from bench.databases import prepare_database
from bench.measure import _enough, _progress

PROCESS = "dispute_screening_monthly"
DEPARTMENTS = 50
# Rounds per batch when the service alternates with the raw engine.
BATCH = 2
ZERO_REPORT = {"zero_report": True}
ANALYSE = {"summary": "本月各单位均报零报告，未发现矛盾纠纷。"}


def _meeting() -> dict[str, Any]:
    from service import clock

    return {"held_at": clock.iso(clock.now()), "minutes": "听取各单位排查情况，部署下月排查工作。"}


def _period(n: int) -> str:
    """A distinct month per round (a period starts once), far from the demo's own months."""
    return f"{2100 + n // 12:04d}-{n % 12 + 1:02d}"


def department_keys(existing: list[str]) -> list[str]:
    """The 50 reporting departments: the demo's `dept_*` groups plus bench ones up to 50."""
    keys = sorted(k for k in existing if k.startswith("dept_"))
    n = 1
    while len(keys) < DEPARTMENTS:
        key = f"dept_bench{n:02d}"
        if key not in keys:
            keys.append(key)
        n += 1
    return sorted(keys[:DEPARTMENTS])


def _add_departments(svc: Any) -> list[str]:
    from sqlalchemy import select

    from service import config_store
    from service.store.models import Group

    with svc.db.write() as session:
        existing = list(session.scalars(select(Group.key)))
        keys = department_keys(existing)
        for key in keys:
            if key not in existing:
                session.add(Group(key=key, name=f"测试委室{key[-2:]}"))
        # exactly these 50 report (the setting's "*" would also count any other dept_ group)
        config_store.put(session, f"{PROCESS}.reporting_groups", ",".join(keys))
    svc.runtime.group_keys(fresh=True)
    return keys


def _actors(keys: list[str]) -> dict[str, Any]:
    from service.actors import Actor

    return {key: Actor(username=f"bench_{key}", name=key, groups=frozenset({key})) for key in keys}


def drive_round(runtime: Any, zzb: Any, actors: dict[str, Any], n: int,
                at_reports_done: Any = None) -> int:
    """One round through Runtime.start/complete: 50 zero reports, 研判, 会议; it completes."""
    answer = runtime.start(PROCESS, {"period": _period(n)}, zzb)
    instance_id = int(answer["id"])
    open_tasks = answer["open_tasks"]
    reports = [t for t in open_tasks if t["bpmn_id"] == "report"]
    if len(reports) != DEPARTMENTS:
        raise RuntimeError(f"round {instance_id} opened {len(reports)} report tasks, not {DEPARTMENTS}")
    for task in reports:
        answer = runtime.complete(str(task["id"]), ZERO_REPORT, actors[task["candidate_groups"][0]])
    if at_reports_done is not None:
        at_reports_done(instance_id)
    for bpmn_id, data in (("analyse", ANALYSE), ("meeting", _meeting())):
        task_id = next(str(t["id"]) for t in answer["instance"]["open_tasks"] if t["bpmn_id"] == bpmn_id)
        answer = runtime.complete(task_id, data, zzb)
    if answer["instance"]["status"] != "completed":
        raise RuntimeError(f"round {instance_id} did not complete: {answer}")
    return instance_id


def load_round_model() -> Any:
    from service.config import Settings
    from service.deploy import safe_parse
    from service.engine import parse_processes

    path = Settings(secret_key="bench").bpmn_dir / f"{PROCESS}.bpmn"
    return parse_processes(safe_parse(path.read_bytes()), path.name)[PROCESS]


def raw_round(model: Any, keys: list[str], n: int) -> Any:
    """The same round in memory: GovFlow's parser, script engine and helpers, no database."""
    from SpiffWorkflow.util.task import TaskState

    from service import notices, script_context
    from service.engine import new_workflow
    from service.engine.taskdata import collect_output

    with notices.collecting(), script_context.providing(lambda: keys):
        wf = new_workflow(model)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update({"period": _period(n), "business_key": f"PC-{_period(n)}"})
        wf.do_engine_steps()
        for task in [t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == "report"]:
            task.data.update(ZERO_REPORT)
            # the engine wrapper's part of a completion: each report kept past the join (`collect`)
            collect_output(task, ZERO_REPORT, {"completed_at": "2100-01-01T10:00:00+08:00", "completed_by": "bench"})
            task.run()
            wf.do_engine_steps()
        for bpmn_id, data in (("analyse", ANALYSE), ("meeting", _meeting())):
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == bpmn_id)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
    if not wf.is_completed():
        raise RuntimeError("raw round did not complete")
    return wf


class RawRounds:
    """The raw engine's rounds beside the service's (the machine's speed drifts minute to minute)."""

    def __init__(self, keys: list[str]) -> None:
        self.model = load_round_model()
        self.keys = keys
        self.done = 0
        self.seconds = 0.0

    def run_for(self, seconds: float) -> None:
        began, done = time.perf_counter(), 0
        while done < 1 or time.perf_counter() - began < seconds:
            raw_round(self.model, self.keys, done)
            done += 1
        self.done += done
        self.seconds += time.perf_counter() - began

    def rate(self) -> float | None:
        return self.done / self.seconds if self.seconds else None


def bench_rounds(url: str, count: int, label: str, budget: float = float("inf")) -> dict[str, Any]:
    """Drive up to `count` rounds (within `budget` seconds) through the runtime, each batch
    followed by as long on the raw engine; returns both rates and the state sizes."""
    from bench.service_phase import stored_state_bytes

    svc = prepare_database(url)
    try:
        keys = _add_departments(svc)
        actors = _actors(keys)
        zzb = next(iter(_zzb(svc)))
        raw = RawRounds(keys)
        sizes: list[int] = []
        drive_round(svc.runtime, zzb, actors, 0, lambda iid: sizes.append(stored_state_bytes(svc, iid)))  # warm-up
        raw.run_for(0.0)
        _progress(f"{label}: driving up to {count} rounds of {DEPARTMENTS} departments, alternating with the raw engine")
        began, done, elapsed = time.perf_counter(), 0, 0.0
        last: list[int] = []  # the state of every measured round once its reports are in
        while not _enough(done, count, began, budget, minimum=2):
            batch_began = time.perf_counter()
            for _ in range(min(BATCH, count - done)):
                done += 1
                drive_round(svc.runtime, zzb, actors, done, lambda iid: last.append(stored_state_bytes(svc, iid)))
            took = time.perf_counter() - batch_began
            elapsed += took
            raw.run_for(took)
        service_rate = done / elapsed if elapsed else None
        raw_rate = raw.rate()
        figures = {"per_s": service_rate, "raw_per_s": raw_rate, "rounds": done,
                   "ratio": service_rate / raw_rate if service_rate and raw_rate else None,
                   "state_bytes_first": sizes[0], "state_bytes_last": last[-1] if last else sizes[0]}
        if url.startswith("sqlite:///") and raw_rate:
            figures["sql_only"] = _sql_only(svc, url, zzb, actors, done + 1, raw_rate)
        return figures
    finally:
        svc.db.dispose()


def _sql_only(svc: Any, url: str, zzb: Any, actors: dict[str, Any], n: int, raw_rate: float) -> dict[str, Any]:
    """One more round, its SQL replayed alone (bench/round_floor.py), and the ratio the service
    could reach at most: the raw engine's round over the raw round plus that SQL."""
    from pathlib import Path

    from bench.round_floor import sql_only

    found = sql_only(svc, Path(url.removeprefix("sqlite:///")), lambda: drive_round(svc.runtime, zzb, actors, n))
    raw_seconds = 1 / raw_rate
    return {"seconds_per_round": found["seconds"], "statements": found["statements"],
            "write_transactions": found["transactions"],
            "ceiling_ratio": raw_seconds / (raw_seconds + found["seconds"])}


def _zzb(svc: Any) -> list[Any]:
    from bench.databases import demo_actors

    return list(demo_actors(svc, ("zzb1",)).values())
