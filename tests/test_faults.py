"""Faults on PostgreSQL (ARCHITECTURE.md "Data flow": nothing is half written).

(a) A `govflow serve` node is killed with SIGKILL (the whole process group) at random
    moments while a client completes petition tasks and timers fall due, five rounds, with
    one more kill during a start-up. After the last restart nothing is lost, corrupted,
    doubled or stuck, and every acknowledged completion is in the history exactly once.
(b) PostgreSQL itself is restarted under load: the API answers 503 with a JSON Chinese
    message (or succeeds) while it is down — never 500, never an HTML page — and works
    again right after, without restarting the app (pool pre-ping)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, make_app, missing_dependency
from serverproc import (
    Refused,
    Response,
    ServerProcess,
    Unacknowledged,
    assert_timer_fired_once,
    call,
    dept_route,
    token_for,
)
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select

from service import clock
from service.bootstrap import deploy_bytes
from service.runtime import Runtime, waiting_timers
from service.store.db import Database
from service.store.models import History, HumanTask, Instance, Timer
from testing.pgtemp import PostgresServer

pytestmark = pytest.mark.postgresql

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
USERS = ("xfk1", "bgs", "msz", "fgw1", "admin")
STEPS = [s[1] for s in dept_route("")]
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def beijing_now() -> datetime:
    return datetime.now(clock.BEIJING)


def petition_data(tag: str) -> dict[str, Any]:
    return {**PETITION, "received_at": (beijing_now() - timedelta(hours=1)).isoformat(timespec="seconds"),
            "subject": f"故障测试 {tag}"}


def form_for(bpmn_id: str) -> tuple[str, dict[str, Any]]:
    replied_at = beijing_now().date().isoformat()  # a reply is dated today (never in the future)
    user, _bpmn, form = next(s for s in dept_route(replied_at) if s[1] == bpmn_id)
    return user, form


def init_database(url: str) -> None:
    """Demo organisation, bpmn/ and the timer_test diagram, written in-process."""
    app = make_app(url)
    runtime = app.extensions["govflow"].runtime
    deploy_bytes(runtime, (DIAGRAMS / "timer_test.bpmn").read_bytes(), "timer_test.bpmn", "test")
    app.extensions["govflow"].db.dispose()


# ---- (a) kill -9 ------------------------------------------------------------------------------


@dataclass
class KillLedger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    petitions: set[int] = field(default_factory=set)           # acknowledged starts
    timer_instances: set[int] = field(default_factory=set)
    ambiguous_starts: int = 0                                   # sent, no answer (server killed)
    acknowledged: dict[str, tuple[int, str]] = field(default_factory=dict)  # task id → (instance, bpmn_id)
    ambiguous: set[str] = field(default_factory=set)           # completions sent, no answer
    repeated_after_ambiguity: int = 0
    bad: list[str] = field(default_factory=list)               # unexpected answers
    requests: int = 0


class PetitionClient:
    """Starts petitions and completes their tasks down the dept route, whatever happens to
    the server. An unanswered request is recorded as ambiguous and the petition's open task
    is read again before the next step."""

    def __init__(self, port: int, tokens: dict[str, str], ledger: KillLedger, rng: random.Random,
                 stop: threading.Event, active_target: int = 4) -> None:
        self.port, self.tokens, self.ledger, self.rng, self.stop = port, tokens, ledger, rng, stop
        self.active: dict[int, list[dict[str, Any]] | None] = {}  # instance → open tasks (None: unknown)
        self.active_target = active_target
        self.started = 0

    def request(self, method: str, path: str, body: Any, user: str) -> Response:
        with self.ledger.lock:
            self.ledger.requests += 1
        r = call(self.port, method, path, body, self.tokens[user], retry_refused_for=45)
        if r.status >= 500:
            with self.ledger.lock:
                self.ledger.bad.append(f"{method} {path}: {r!r}")
        return r

    def run(self) -> None:
        for _ in range(2000):  # bounded; the test stops it long before
            if self.stop.is_set():
                return
            try:
                if len(self.active) < self.active_target:
                    self.start_one()
                else:
                    self.step(self.rng.choice(list(self.active)))
            except Refused:
                continue

    def start_one(self) -> None:
        self.started += 1
        try:
            r = self.request("POST", "/api/v1/instances",
                             {"process": "petition", "data": petition_data(str(self.started))}, "xfk1")
        except Unacknowledged:
            with self.ledger.lock:
                self.ledger.ambiguous_starts += 1
            return
        if r.status != 201:
            with self.ledger.lock:
                self.ledger.bad.append(f"start: {r!r}")
            return
        iid = int(r.json()["id"])
        with self.ledger.lock:
            self.ledger.petitions.add(iid)
        self.active[iid] = r.json()["open_tasks"]

    def step(self, iid: int) -> None:
        open_tasks = self.active[iid]
        if open_tasks is None:
            try:
                r = self.request("GET", f"/api/v1/instances/{iid}", None, "admin")
            except Unacknowledged:
                return
            if r.status != 200:
                with self.ledger.lock:
                    self.ledger.bad.append(f"GET {iid}: {r!r}")
                return
            open_tasks = [{"id": t["id"], "bpmn_id": t["bpmn_id"]} for t in r.json()["open_tasks"]]
            self.active[iid] = open_tasks
        if not open_tasks:
            del self.active[iid]  # replied: waiting out the 复查 window
            return
        if len(open_tasks) != 1:
            with self.ledger.lock:
                self.ledger.bad.append(f"instance {iid} has open tasks {open_tasks}")
            del self.active[iid]
            return
        task = open_tasks[0]
        user, form = form_for(task["bpmn_id"])
        try:
            r = self.request("POST", f"/api/v1/tasks/{task['id']}/complete", {"data": form}, user)
        except Unacknowledged:
            with self.ledger.lock:
                self.ledger.ambiguous.add(task["id"])
            self.active[iid] = None
            return
        if r.status == 200:
            with self.ledger.lock:
                self.ledger.acknowledged[task["id"]] = (iid, task["bpmn_id"])
            self.active[iid] = r.json()["instance"]["open_tasks"]
        elif r.status == 409 and task["id"] in self.ledger.ambiguous:
            # the unanswered completion had committed after all; the projection says so
            with self.ledger.lock:
                self.ledger.repeated_after_ambiguity += 1
            self.active[iid] = None
        else:
            with self.ledger.lock:
                self.ledger.bad.append(f"complete {task['bpmn_id']} of {iid}: {r!r}")
            self.active[iid] = None


class TimerClient:
    """Starts timer_test instances in bursts due 0.5–3 s later, so timers keep falling due."""

    def __init__(self, port: int, token: str, ledger: KillLedger, rng: random.Random,
                 stop: threading.Event) -> None:
        self.port, self.token, self.ledger, self.rng, self.stop = port, token, ledger, rng, stop

    def run(self) -> None:
        for _ in range(400):  # bounded
            if self.stop.is_set():
                return
            fire_at = (beijing_now() + timedelta(seconds=self.rng.uniform(0.5, 3.0))).isoformat()
            for _ in range(self.rng.randint(5, 15)):
                try:
                    r = call(self.port, "POST", "/api/v1/instances",
                             {"process": "timer_test", "data": {"fire_at": fire_at}}, self.token,
                             retry_refused_for=45)
                except Unacknowledged:
                    with self.ledger.lock:
                        self.ledger.ambiguous_starts += 1
                    continue
                except Refused:
                    break
                with self.ledger.lock:
                    self.ledger.requests += 1
                    if r.status == 201:
                        self.ledger.timer_instances.add(int(r.json()["id"]))
                    else:
                        self.ledger.bad.append(f"timer start: {r!r}")
            self.stop.wait(self.rng.uniform(0.1, 0.6))


def test_kill_9_at_random_points_loses_corrupts_doubles_and_sticks_nothing(pg_url: str, tmp_path: Path) -> None:
    init_database(pg_url)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}; logs in {tmp_path}")
    node = ServerProcess(pg_url, tmp_path, "node")
    node.start()
    stop = threading.Event()
    ledger = KillLedger()
    threads: list[threading.Thread] = []
    kills = 0
    try:
        node.wait_ready()
        tokens = {user: token_for(node.port, user) for user in USERS}
        clients: list[Any] = [PetitionClient(node.port, tokens, ledger, random.Random(seed + i), stop)
                              for i in range(2)]
        clients.append(TimerClient(node.port, tokens["admin"], ledger, random.Random(seed + 7), stop))
        threads = [threading.Thread(target=c.run, name=f"client{i}", daemon=True) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        early_round = rng.randrange(1, 5)
        for round_ in range(5):
            time.sleep(rng.uniform(0.8, 3.0))
            node.kill9()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.5))
            if round_ == early_round:  # a crash while starting up and catching up on due timers
                node.start()
                time.sleep(rng.uniform(0.5, 3.0))
                node.kill9()
                kills += 1
            node.restart()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads), "a client did not stop"
        print(f"{kills} kills, {ledger.requests} requests, {len(ledger.acknowledged)} completions acknowledged, "
              f"{len(ledger.ambiguous)} unanswered, {ledger.ambiguous_starts} unanswered starts, "
              f"{len(ledger.timer_instances)} timers")
        assert ledger.bad == []
        assert len(ledger.acknowledged) >= 20 and len(ledger.timer_instances) >= 50, "too little load"

        time.sleep(3.5)  # every timer_test timer started has fallen due by now
        wait_for_no_due_timers(pg_url, timeout=60)
        check_after_kills(pg_url, node.port, tokens["admin"], ledger)
        assert node.running
    finally:
        stop.set()
        node.stop()


def wait_for_no_due_timers(url: str, timeout: float) -> None:
    db = Database(url)
    try:
        deadline = time.monotonic() + timeout
        due = None
        while time.monotonic() < deadline:
            with db.read() as session:
                due = session.scalar(select(func.count(Timer.id)).where(
                    Timer.state == "waiting", Timer.due_at <= beijing_now()))
            if due == 0:  # a timer being fired stays `waiting` until its transaction commits
                return
            time.sleep(0.25)
        raise AssertionError(f"{due} due timers still waiting after {timeout}s: stuck")
    finally:
        db.dispose()


def check_after_kills(url: str, port: int, admin_token: str, ledger: KillLedger) -> None:
    year = beijing_now().year
    db = Database(url)
    runtime = Runtime(db)
    try:
        with db.read() as session:
            instances = {i.id: i for i in session.scalars(select(Instance))}
            petitions = {i for i, inst in instances.items() if inst.process_key == "petition"}
            timer_tests = {i for i, inst in instances.items() if inst.process_key == "timer_test"}

            # lost: every acknowledged start exists; at most the unanswered ones more
            assert ledger.petitions <= petitions, sorted(ledger.petitions - petitions)
            assert ledger.timer_instances <= timer_tests, sorted(ledger.timer_instances - timer_tests)
            extra = len(petitions - ledger.petitions) + len(timer_tests - ledger.timer_instances)
            assert extra <= ledger.ambiguous_starts, (extra, ledger.ambiguous_starts)
            assert [i for i, inst in instances.items() if inst.status == "error" or inst.error] == []

            # doubled: business keys unique and gap-free (a killed transaction takes its number back)
            keys = [inst.business_key for inst in instances.values()]
            assert [k for k, n in Counter(keys).items() if n > 1] == []
            xf = sorted(instances[i].business_key for i in petitions)
            assert xf == [f"XF-{year}-{n:06d}" for n in range(1, len(xf) + 1)], xf
            tk = sorted(instances[i].business_key for i in timer_tests)
            prefix = tk[0].rsplit("-", 1)[0]
            assert tk == [f"{prefix}-{n:06d}" for n in range(1, len(tk) + 1)], tk

            # doubled: no task completed twice; history and projection agree
            completes = session.execute(select(History.task_id, History.instance_id, History.task_bpmn_id)
                                        .where(History.action == "complete")).all()
            per_task = Counter(c.task_id for c in completes)
            assert [t for t, n in per_task.items() if n != 1] == []
            done = {t.id for t in session.scalars(select(HumanTask).where(HumanTask.state == "completed"))}
            assert done == set(per_task)
            # every acknowledged completion is there exactly once, as acknowledged
            by_task = {c.task_id: (c.instance_id, c.task_bpmn_id) for c in completes}
            assert {t: by_task.get(t) for t in ledger.acknowledged} == ledger.acknowledged
            # completions nobody asked for cannot appear
            assert set(per_task) <= set(ledger.acknowledged) | ledger.ambiguous

            history: dict[int, list[tuple[str, str | None]]] = {}
            for h in session.scalars(select(History).order_by(History.id)):
                history.setdefault(h.instance_id, []).append((h.action, h.task_bpmn_id))

            # corrupted: every state loads, and the projections equal what the engine says
            for iid in sorted(instances):
                inst = instances[iid]
                wf, _model = runtime._load(session, inst)
                ready = {str(t.id) for t in wf.get_tasks(state=TaskState.READY) if t.task_spec.manual}
                open_rows = set(session.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                                           HumanTask.state == "open")))
                assert ready == open_rows, (iid, ready, open_rows)
                waiting = set(waiting_timers(wf))
                timer_rows = set(session.scalars(select(Timer.task_id).where(Timer.instance_id == iid,
                                                                             Timer.state == "waiting")))
                assert waiting == timer_rows, (iid, waiting, timer_rows)
                assert inst.status == ("completed" if wf.is_completed() else "running"), (iid, inst.status)
                if iid in petitions:
                    done_steps = [b for a, b in history[iid] if a == "complete"]
                    k = len(done_steps)
                    assert history[iid][0] == ("start", None) and done_steps == STEPS[:k], (iid, history[iid])
                    open_steps = sorted(session.scalars(select(HumanTask.bpmn_id).where(
                        HumanTask.instance_id == iid, HumanTask.state == "open")))
                    assert open_steps == ([STEPS[k]] if k < len(STEPS) else []), (iid, k, open_steps)
                    assert inst.status == "running"
                    if k == len(STEPS):  # replied: only the 复查 window is left
                        assert len(timer_rows) == 1, (iid, timer_rows)
                else:
                    # stuck / doubled timers: each fired exactly once, and the instance ended
                    assert inst.status == "completed", (iid, inst.status)
                    states = list(session.scalars(select(Timer.state).where(Timer.instance_id == iid)))
                    assert_timer_fired_once(session, inst, history[iid], states)
    finally:
        db.dispose()

    # every instance answers over the API
    for iid in sorted(instances):
        r = call(port, "GET", f"/api/v1/instances/{iid}", token=admin_token)
        assert r.status == 200, (iid, r)
        assert r.json()["id"] == iid


# ---- (b) PostgreSQL restarted under load ---------------------------------------------------------


@dataclass
class Seen:
    started: float
    op: str
    status: int
    content_type: str
    body: bytes


class RestartClient:
    """Mixed reads and writes; after any 503 the petition's open task is read again."""

    def __init__(self, port: int, tokens: dict[str, str], rng: random.Random, stop: threading.Event,
                 seen: list[Seen], lock: threading.Lock, tag: str) -> None:
        self.port, self.tokens, self.rng, self.stop, self.seen, self.lock = port, tokens, rng, stop, seen, lock
        self.tag = tag
        self.iid: int | None = None
        self.open_tasks: list[dict[str, Any]] | None = None

    def send(self, op: str, method: str, path: str, body: Any, user: str | None) -> Response | None:
        began = time.monotonic()
        try:
            r = call(self.port, method, path, body, self.tokens[user] if user else None, timeout=60,
                     retry_refused_for=0)
        except (Unacknowledged, Refused) as exc:
            r = Response(-1, repr(exc).encode(), {})
        with self.lock:
            self.seen.append(Seen(began, op, r.status, r.content_type, r.body))
        return r if r.status in (200, 201) else None

    def run(self) -> None:
        for n in range(5000):  # bounded; the test stops it
            if self.stop.is_set():
                return
            choice = self.rng.random()
            if choice < 0.15:
                self.send("health", "GET", "/api/v1/health", None, None)
            elif choice < 0.3:
                self.send("inbox", "GET", "/api/v1/tasks", None, self.rng.choice(["xfk1", "fgw1", "bgs"]))
            elif self.iid is None or self.open_tasks == []:
                r = self.send("start", "POST", "/api/v1/instances",
                              {"process": "petition", "data": petition_data(f"{self.tag}-{n}")}, "xfk1")
                if r is not None:
                    self.iid, self.open_tasks = int(r.json()["id"]), r.json()["open_tasks"]
            elif self.open_tasks is None:
                r = self.send("get", "GET", f"/api/v1/instances/{self.iid}", None, "admin")
                if r is not None:
                    self.open_tasks = r.json()["open_tasks"]
            else:
                task = self.open_tasks[0]
                user, form = form_for(task["bpmn_id"])
                r = self.send("complete", "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": form}, user)
                self.open_tasks = r.json()["instance"]["open_tasks"] if r is not None else None
            self.stop.wait(0.01)


def test_postgresql_restart_under_load_answers_503_json_then_recovers(tmp_path: Path) -> None:
    if not PostgresServer.available():
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}; logs in {tmp_path}")
    with PostgresServer() as pg:
        url = pg.create_database("restart_under_load")
        init_database(url)
        node = ServerProcess(url, tmp_path, "node", env={"GOVFLOW_POLL_SECONDS": "0.5"})
        node.start()
        stop = threading.Event()
        seen: list[Seen] = []
        lock = threading.Lock()
        threads: list[threading.Thread] = []
        try:
            node.wait_ready()
            pid = node.proc.pid if node.proc else None
            tokens = {user: token_for(node.port, user) for user in USERS}
            clients = [RestartClient(node.port, tokens, random.Random(seed + i), stop, seen, lock, f"c{i}")
                       for i in range(4)]
            threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
            for t in threads:
                t.start()
            outages: list[tuple[float, float]] = []
            for mode in ("immediate", "fast"):
                time.sleep(rng.uniform(1.0, 2.0))
                down = time.monotonic()
                pg.restart(mode)
                outages.append((down, time.monotonic()))
            recovered = outages[-1][1]
            time.sleep(2.0)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            assert not any(t.is_alive() for t in threads)

            statuses = Counter(s.status for s in seen)
            print(f"answers: {dict(statuses)}; outages {[round(b - a, 2) for a, b in outages]}s")
            wrong = [s for s in seen if s.status not in (200, 201, 503)]
            assert wrong == [], [(s.op, s.status, s.content_type, s.body[:200]) for s in wrong[:10]]
            for s in seen:
                if s.status == 503:
                    assert s.content_type.startswith("application/json"), (s.op, s.content_type, s.body[:200])
                    body = json.loads(s.body)
                    assert body["error"] == "unavailable" and CHINESE.search(body["message"]), body
            assert statuses[503] > 0, "the restarts were not noticed by any request"
            after = [s for s in seen if s.started >= recovered]
            assert len(after) >= 20, len(after)
            assert [s for s in after if s.status not in (200, 201)] == [], \
                [(s.op, s.status, s.body[:200]) for s in after if s.status not in (200, 201)]
            assert {s.op for s in after} >= {"health", "inbox"}

            # the same app (no restart of gunicorn or its worker) keeps working, timers included
            assert node.running and node.proc is not None and node.proc.pid == pid
            assert node.log_text().count("Booting worker") == 1, node.log_tail()
            fire_at = (beijing_now() + timedelta(seconds=1)).isoformat()
            r = call(node.port, "POST", "/api/v1/instances",
                     {"process": "timer_test", "data": {"fire_at": fire_at}}, tokens["admin"])
            assert r.status == 201, r
            tid = int(r.json()["id"])
            deadline = time.monotonic() + 20
            status = None
            while time.monotonic() < deadline:
                status = call(node.port, "GET", f"/api/v1/instances/{tid}", token=tokens["admin"]).json()["status"]
                if status == "completed":
                    break
                time.sleep(0.2)
            assert status == "completed", "the timer service did not survive the database restart"

            db = Database(url)
            try:
                with db.read() as session:
                    rows = session.execute(select(Instance.business_key, Instance.status)
                                           .where(Instance.process_key == "petition")).all()
            finally:
                db.dispose()
            year = beijing_now().year
            assert sorted(k for k, _ in rows) == [f"XF-{year}-{n:06d}" for n in range(1, len(rows) + 1)]
            assert {s for _, s in rows} <= {"running"}
        finally:
            stop.set()
            node.stop()
