"""Scale-out (ARCHITECTURE.md "Timers and scale-out"): three `govflow serve` nodes on one
PostgreSQL database, driven at once by client threads that send each request to a random
node, with duplicate completions raced against two nodes and 200 timers falling due while
the load runs. Afterwards every invariant is checked in the database itself: business keys
unique and gap-free, each task completed once and every acknowledged completion recorded
once, each petition where the route leaves it, each timer fired exactly once, no errors."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION
from serverproc import (
    Response,
    ServerProcess,
    assert_timer_fired_once,
    call,
    dept_route,
    run_init,
    stop_all,
    token_for,
)
from sqlalchemy import func, select

from service import calendar, clock
from service.store.db import Database
from service.store.models import History, HumanTask, Instance, Timer

pytestmark = pytest.mark.postgresql

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
NODES = 3
THREADS = 6
PETITIONS_PER_THREAD = 8
TIMER_INSTANCES = 200
TIMER_DELAY = timedelta(seconds=3)
DUPLICATE_RATE = 0.2  # besides one forced duplicate per petition
USERS = ("xfk1", "bgs", "msz", "fgw1", "admin")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def beijing_now() -> datetime:
    return datetime.now(clock.BEIJING)


class Ledger:
    """What the clients were told (acknowledged), shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.petitions: dict[int, str] = {}                  # instance id → business key
        self.completed: dict[str, tuple[int, str, str]] = {}  # task id → (instance, bpmn_id, user)
        self.timer_instances: dict[int, str] = {}
        self.duplicates = 0

    def petition(self, iid: int, key: str) -> None:
        with self.lock:
            assert iid not in self.petitions, f"instance id {iid} acknowledged twice"
            self.petitions[iid] = key

    def complete(self, task_id: str, iid: int, bpmn_id: str, user: str) -> None:
        with self.lock:
            assert task_id not in self.completed, f"task {task_id} acknowledged as completed twice"
            self.completed[task_id] = (iid, bpmn_id, user)


def assert_json_error(r: Response, status: int, code: str) -> None:
    assert r.status == status, r
    assert r.is_json, r
    body = r.json()
    assert body["error"] == code, body
    assert CHINESE.search(body["message"]), body


class Cluster:
    def __init__(self, nodes: list[ServerProcess], tokens: dict[str, str], seed: int) -> None:
        self.ports = [n.port for n in nodes]
        self.tokens = tokens
        self.seed = seed

    def port(self, rng: random.Random) -> int:
        return rng.choice(self.ports)


def drive_petitions(cluster: Cluster, ledger: Ledger, worker: int, dup_pool: ThreadPoolExecutor) -> None:
    rng = random.Random(cluster.seed * 1000 + worker)
    for _ in range(PETITIONS_PER_THREAD):
        data = {**PETITION, "received_at": (beijing_now() - timedelta(hours=1)).isoformat(timespec="seconds"),
                "subject": f"压力测试 线程{worker}"}
        r = call(cluster.port(rng), "POST", "/api/v1/instances", {"process": "petition", "data": data},
                 cluster.tokens["xfk1"])
        assert r.status == 201, r
        started = r.json()
        iid = int(started["id"])
        ledger.petition(iid, started["business_key"])
        assert started["status"] == "running"
        open_tasks = started["open_tasks"]
        steps = dept_route(beijing_now().date().isoformat())  # replied today (never in the future)
        forced = rng.randrange(len(steps))
        for index, (user, bpmn_id, form) in enumerate(steps):
            assert [t["bpmn_id"] for t in open_tasks] == [bpmn_id], (iid, bpmn_id, open_tasks)
            task_id = open_tasks[0]["id"]
            path = f"/api/v1/tasks/{task_id}/complete"
            token = cluster.tokens[user]
            if index == forced or rng.random() < DUPLICATE_RATE:
                first, second = rng.sample(cluster.ports, 2)
                barrier = threading.Barrier(2, timeout=30)

                def send(port: int, barrier: threading.Barrier = barrier, path: str = path,
                         token: str = token, form: dict[str, Any] = form) -> Response:
                    barrier.wait()
                    return call(port, "POST", path, {"data": form}, token)

                answers = [f.result(timeout=120) for f in (dup_pool.submit(send, first),
                                                           dup_pool.submit(send, second))]
                statuses = sorted(a.status for a in answers)
                assert statuses == [200, 409], (iid, bpmn_id, answers)
                loser = next(a for a in answers if a.status == 409)
                assert_json_error(loser, 409, "conflict")
                r = next(a for a in answers if a.status == 200)
                with ledger.lock:
                    ledger.duplicates += 1
            else:
                r = call(cluster.port(rng), "POST", path, {"data": form}, token)
                assert r.status == 200, (iid, bpmn_id, r)
            ledger.complete(task_id, iid, bpmn_id, user)
            answer = r.json()["instance"]
            assert answer["id"] == iid and answer["status"] == "running", answer
            open_tasks = answer["open_tasks"]
        assert open_tasks == [], (iid, open_tasks)


def start_timers(cluster: Cluster, ledger: Ledger, worker: int, count: int) -> None:
    rng = random.Random(cluster.seed * 1000 + 500 + worker)
    for _ in range(count):
        fire_at = (beijing_now() + TIMER_DELAY).isoformat()
        r = call(cluster.port(rng), "POST", "/api/v1/instances",
                 {"process": "timer_test", "data": {"fire_at": fire_at}}, cluster.tokens["admin"])
        assert r.status == 201, r
        body = r.json()
        assert body["status"] == "running" and body["open_tasks"] == [], body
        with ledger.lock:
            ledger.timer_instances[int(body["id"])] = body["business_key"]


def assert_gap_free(keys: list[str], prefix: str) -> None:
    assert len(keys) == len(set(keys)), f"duplicate business keys: {[k for k, n in Counter(keys).items() if n > 1]}"
    assert sorted(keys) == [f"{prefix}-{i:06d}" for i in range(1, len(keys) + 1)], sorted(keys)


def test_three_nodes_on_one_postgresql_lose_and_double_nothing(pg_url: str, tmp_path: Path) -> None:
    print(run_init(pg_url, demo=True))
    nodes = [ServerProcess(pg_url, tmp_path, f"node{i}") for i in range(NODES)]
    seed = random.randrange(1 << 30)
    print(f"seed {seed}; logs in {tmp_path}")
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
            health = call(node.port, "GET", "/api/v1/health").json()
            assert {k: v for k, v in health.items() if k != "now"} == \
                {"status": "ok", "database": "postgresql", "scheduler": "running"}, health
            assert clock.parse_datetime(health["now"]).utcoffset() == timedelta(hours=8), health
        ports = [n.port for n in nodes]
        tokens = {user: token_for(ports[i % NODES], user) for i, user in enumerate(USERS)}
        r = call(ports[0], "POST", "/api/v1/definitions", token=tokens["admin"],
                 raw=(DIAGRAMS / "timer_test.bpmn").read_bytes(), content_type="application/xml")
        assert r.status == 201, r
        assert r.json()["keys"] == ["timer_test"], r

        cluster = Cluster(nodes, tokens, seed)
        ledger = Ledger()
        began = time.monotonic()
        with ThreadPoolExecutor(THREADS * 2, thread_name_prefix="dup") as dup_pool, \
                ThreadPoolExecutor(THREADS + 2, thread_name_prefix="client") as clients:
            futures = [clients.submit(drive_petitions, cluster, ledger, w, dup_pool) for w in range(THREADS)]
            futures += [clients.submit(start_timers, cluster, ledger, w, TIMER_INSTANCES // 2) for w in range(2)]
            for f in futures:
                f.result(timeout=240)
        print(f"load: {time.monotonic() - began:.1f}s, {ledger.duplicates} duplicate pairs")
        assert ledger.duplicates >= THREADS * PETITIONS_PER_THREAD

        db = Database(pg_url)
        try:
            timer_ids = set(ledger.timer_instances)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with db.read() as session:
                    done = session.scalar(select(func.count(Instance.id)).where(
                        Instance.process_key == "timer_test", Instance.status == "completed"))
                if done == TIMER_INSTANCES:
                    break
                time.sleep(0.25)
            print(f"timers done after {time.monotonic() - began:.1f}s")
            check_invariants(db, ledger, timer_ids)
            print(f"checked after {time.monotonic() - began:.1f}s")
        finally:
            db.dispose()
        for node in nodes:
            assert node.running, f"{node.name} died:\n{node.log_tail()}"
    finally:
        stop_all(nodes)
    for node in nodes:
        log = node.log_text()
        assert "Traceback" not in log and "ERROR" not in log, f"{node.name} logged errors:\n{log[-6000:]}"


def check_invariants(db: Database, ledger: Ledger, timer_ids: set[int]) -> None:
    year = beijing_now().year
    petitions = THREADS * PETITIONS_PER_THREAD
    steps = [s[1] for s in dept_route("")]
    with db.read() as session:
        instances = session.scalars(select(Instance)).all()
        by_process = Counter(i.process_key for i in instances)
        assert by_process == {"petition": petitions, "timer_test": TIMER_INSTANCES}, by_process
        assert [i.id for i in instances if i.status == "error" or i.error] == []

        # business keys: unique and gap-free, exactly the ones acknowledged
        xf = [i.business_key for i in instances if i.process_key == "petition"]
        assert_gap_free(xf, f"XF-{year}")
        assert {i.id: i.business_key for i in instances if i.process_key == "petition"} == ledger.petitions
        timer_keys = [i.business_key for i in instances if i.process_key == "timer_test"]
        prefix = timer_keys[0].rsplit("-", 1)[0]
        assert_gap_free(timer_keys, prefix)
        assert {i.id for i in instances if i.process_key == "timer_test"} == timer_ids

        # human tasks: each completed at most once; every acknowledged completion exactly once
        completes = session.execute(
            select(History.task_id, History.instance_id, History.task_bpmn_id, History.username)
            .where(History.action == "complete")).all()
        per_task = Counter(row.task_id for row in completes)
        assert [t for t, n in per_task.items() if n != 1] == []
        assert {row.task_id: (row.instance_id, row.task_bpmn_id, row.username) for row in completes} \
            == ledger.completed
        assert len(ledger.completed) == petitions * len(steps)
        done_rows = session.scalars(select(HumanTask).where(HumanTask.state == "completed")).all()
        assert {t.id: (t.instance_id, t.bpmn_id, t.completed_by) for t in done_rows} == ledger.completed
        assert session.scalar(select(func.count(HumanTask.id)).where(HumanTask.state == "open")) == 0
        assert session.scalar(select(func.count(HumanTask.id)).where(HumanTask.state != "completed")) == 0

        history: dict[int, list[tuple[str, str | None]]] = {}
        for h in session.scalars(select(History).order_by(History.id)):
            history.setdefault(h.instance_id, []).append((h.action, h.task_bpmn_id))
        timers: dict[int, list[Timer]] = {}
        for t in session.scalars(select(Timer)):
            timers.setdefault(t.instance_id, []).append(t)

        # every petition: running, waiting out the 复查 window, nothing open, one history line per step
        expected = [("start", None)] + [("complete", s) for s in steps]
        for inst in (i for i in instances if i.process_key == "petition"):
            assert inst.status == "running", (inst.id, inst.status)
            assert history[inst.id] == expected, (inst.id, history[inst.id])
            waiting = [t for t in timers.get(inst.id, []) if t.state == "waiting"]
            assert len(waiting) == 1, (inst.id, [(t.name, t.state, t.due_at) for t in timers.get(inst.id, [])])
            replied_at = ledger_reply_date(session, inst.id)
            assert waiting[0].due_at == clock.parse_datetime(calendar.add_days(replied_at, 30)), \
                (inst.id, waiting[0].due_at, replied_at)
            assert [t for t in timers.get(inst.id, []) if t.state == "fired"] == []

        # every timer_test timer fired exactly once
        inline = 0
        for inst in (i for i in instances if i.process_key == "timer_test"):
            assert inst.status == "completed", (inst.id, inst.status, timers.get(inst.id))
            rows = timers.get(inst.id, [])
            assert_timer_fired_once(session, inst, history[inst.id], [t.state for t in rows])
            if rows:
                assert rows[0].fired_at is not None and rows[0].fired_at >= rows[0].due_at
            else:
                inline += 1  # its start request took longer than TIMER_DELAY
        print(f"{inline} timers were already due when their instance started")
        assert session.scalar(select(func.count(Timer.id)).where(Timer.state == "waiting")) == petitions


def ledger_reply_date(session: Any, iid: int) -> str:
    import json

    raw = session.scalar(select(History.data_after).where(History.instance_id == iid,
                                                          History.task_bpmn_id == "reply"))
    return str(json.loads(raw)["replied_at"])
