"""The bench's workload: the sample petition (workflows.petition_sample) driven down the `dept`
route, and the raw engine — SpiffWorkflow in memory with GovFlow's parser and script engine —
measured alone (`bench_raw`) and in rounds beside each phase (`RawReference`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench.measure import _enough
from workflows import petition_sample
from workflows.petition_sample import load_petition_model

petition_start = petition_sample.start
petition_steps = petition_sample.dept_route

STEP_USERS = ("xfk1", "bgs", "msz", "fgw1")
HANDLE_STEP = "handle"


def _pick(open_tasks: list[dict[str, Any]], bpmn_id: str) -> str:
    for task in open_tasks:
        if task["bpmn_id"] == bpmn_id:
            return str(task["id"])
    raise RuntimeError(f"petition has no open {bpmn_id} task: {open_tasks}")


def raw_petition(model: Any, start: dict[str, Any], steps: list[tuple[str, str, dict[str, Any]]],
                 at_handle: Callable[[Any], None] | None = None) -> Any:
    """One petition, in memory, with GovFlow's parser and script engine (no persistence)."""
    from SpiffWorkflow.util.task import TaskState

    from service import notices
    from service.engine import new_workflow

    with notices.collecting():
        wf = new_workflow(model)
        for task in wf.get_tasks(state=TaskState.READY):
            task.data.update({**start, "business_key": "XF-BENCH-000001"})
        wf.do_engine_steps()
        for _user, bpmn_id, data in steps:
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == bpmn_id)
            if bpmn_id == HANDLE_STEP and at_handle is not None:
                at_handle(wf)
            task.data.update(data)
            task.run()
            wf.do_engine_steps()
    return wf


def bench_raw(count: int, budget: float = float("inf")) -> dict[str, Any]:
    from service.engine import dump_state

    model = load_petition_model()
    start, steps = petition_start(), petition_steps()
    sizes: list[int] = []
    wf = raw_petition(model, start, steps, lambda w: sizes.append(len(json.dumps(
        dump_state(w), ensure_ascii=False, default=str, separators=(",", ":")).encode())))
    if wf.is_completed() or not wf.get_tasks(state=_waiting()):
        raise RuntimeError("raw petition did not end waiting for the review window")
    began, cpu, done = time.perf_counter(), time.process_time(), 0
    while not _enough(done, count, began, budget):
        raw_petition(model, start, steps)
        done += 1
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"per_s": done / elapsed, "cpu_per_s": done / cpu, "petitions": done,
            "state_bytes": sizes[0] if sizes else None}


# Petitions per round when a phase alternates with the raw engine.
ROUND = 10


class RawReference:
    """The raw engine measured in short rounds beside each phase.

    This shared machine's speed drifts by a third from one minute to the next, so a ratio of two
    figures taken a minute apart says more about the neighbours than about GovFlow. Each phase
    therefore alternates with rounds of the raw engine as long as its own (or, for the HTTP load,
    which needs the whole machine, runs between two of them), and its ratio divides by the raw
    rate measured around it; `raw_engine_per_s` is the rate over every raw round of the run."""

    def __init__(self) -> None:
        self.model = load_petition_model()
        self.start, self.steps = petition_start(), petition_steps()
        self.rounds: list[tuple[str, int, float]] = []

    def rounds_for(self, label: str, seconds: float) -> None:
        """Raw petitions for about `seconds` (at least a few), as one round."""
        began, done = time.perf_counter(), 0
        while done < 3 or time.perf_counter() - began < seconds:
            raw_petition(self.model, self.start, self.steps)
            done += 1
        self.rounds.append((label, done, time.perf_counter() - began))

    def rate(self, label: str | None = None) -> float | None:
        chosen = [(n, t) for lab, n, t in self.rounds if label is None or lab == label]
        if not chosen:
            return None
        return sum(n for n, _ in chosen) / sum(t for _, t in chosen)


def _waiting() -> Any:
    from SpiffWorkflow.util.task import TaskState

    return TaskState.WAITING
