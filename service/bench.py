"""`govflow bench`: the figures of API.md, all measured in one run on this machine.

Every "per_s" figure but the timers' counts petitions started with PETITION-like data
(received_at = now, so every deadline and ladder timer lies in the future) and driven down
the `dept` route through `reply`, every user task on that path completed:

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
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from service import clock

PETITION_BASE: dict[str, Any] = {
    "channel": "来信",
    "people_count": 1,
    "petitioner_name": "张三",
    "petitioner_id_number": "530102199001011234",
    "petitioner_phone": "13812345678",
    "petitioner_address": "云南省临沧市临翔区南塘街1号",
    "subject": "反映某公司拖欠工资",
    "content": "某公司拖欠工资三个月，请求督促解决。",
}
STEP_USERS = ("xfk1", "bgs", "msz", "fgw1")
HANDLE_STEP = "handle"

# The timer burst: start → timer catch (timeDate = the start data's `fire_at`) → end.
BENCH_TIMER_KEY = "bench_timer"
BENCH_TIMER_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="Definitions_bench_timer" targetNamespace="http://govflow.local/bpmn/bench_timer">
  <bpmn:process id="bench_timer" name="性能测试定时器" isExecutable="true">
    <bpmn:startEvent id="bt_start" name="开始">
      <bpmn:outgoing>bt_flow_1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="bt_wait" name="到点">
      <bpmn:incoming>bt_flow_1</bpmn:incoming>
      <bpmn:outgoing>bt_flow_2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="bt_timer">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">fire_at</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="bt_end" name="结束">
      <bpmn:incoming>bt_flow_2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="bt_flow_1" sourceRef="bt_start" targetRef="bt_wait"/>
    <bpmn:sequenceFlow id="bt_flow_2" sourceRef="bt_wait" targetRef="bt_end"/>
  </bpmn:process>
</bpmn:definitions>
"""

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

_T0 = time.perf_counter()
log = logging.getLogger(__name__)


def _progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ----- the workload ---------------------------------------------------------------------


def petition_start(now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    return {**PETITION_BASE, "received_at": now.isoformat(timespec="seconds")}


def petition_steps(now: datetime | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(user, bpmn_id, form data) of the `dept` route, classify → reply."""
    today = (now or clock.now()).date().isoformat()
    return [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve", "comment": "同意"}),
        ("msz", "sg_approve", {"decision": "approve", "comment": "同意"}),
        ("fgw1", "handle", {"outcome": "done", "result": "已督促企业支付工资"}),
        ("xfk1", "review_result", {"decision": "accept"}),
        ("xfk1", "reply", {"reply_text": "经查，工资已支付。", "replied_at": today, "delivery": "邮寄"}),
    ]


def _pick(open_tasks: list[dict[str, Any]], bpmn_id: str) -> str:
    for task in open_tasks:
        if task["bpmn_id"] == bpmn_id:
            return str(task["id"])
    raise RuntimeError(f"petition has no open {bpmn_id} task: {open_tasks}")


# ----- raw engine -----------------------------------------------------------------------


def load_petition_model() -> Any:
    from service.config import Settings
    from service.deploy import safe_parse
    from service.engine import parse_processes

    path = Settings(secret_key="bench").bpmn_dir / "petition.bpmn"
    return parse_processes(safe_parse(path.read_bytes()), "petition.bpmn")["petition"]


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


def _enough(done: int, count: int, began: float, budget: float, minimum: int = 5) -> bool:
    """A phase stops at `count` petitions, or when its time budget is spent (after a minimum)."""
    return done >= count or (done >= min(minimum, count) and time.perf_counter() - began > budget)


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


# ----- service --------------------------------------------------------------------------


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


@contextmanager
def _one_password_hash() -> Iterator[None]:
    """The demo users all get the one password: hash it once per run, not 12 times per database
    (a deliberately slow hash; these databases are thrown away at the end)."""
    from service import auth

    original = auth.hash_password
    auth.hash_password = _cached_hash  # type: ignore[assignment]
    try:
        yield
    finally:
        auth.hash_password = original  # type: ignore[assignment]


@functools.lru_cache(maxsize=4)
def _cached_hash(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def prepare_database(url: str, timer_diagram: bool = False) -> Any:
    """Migrate, deploy bpmn/ (build does), load the demo organisation, optionally the timer diagram."""
    from service.bootstrap import build, deploy_bytes
    from service.config import Settings
    from service.demo import load_demo

    svc = build(Settings(database_url=url, secret_key="bench"))
    with _one_password_hash(), svc.db.write() as session:
        load_demo(session)
    if timer_diagram:
        deploy_bytes(svc.runtime, BENCH_TIMER_BPMN, "bench_timer.bpmn", "bench")
    return svc


def demo_actors(svc: Any, usernames: tuple[str, ...] = STEP_USERS) -> dict[str, Any]:
    from sqlalchemy import select

    from service.auth import actor_for
    from service.store.models import User

    with svc.db.read() as session:
        users = session.scalars(select(User).where(User.username.in_(usernames)))
        return {u.username: actor_for(u) for u in users}


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


# ----- PostgreSQL -----------------------------------------------------------------------


class PostgresDatabases:
    """Fresh databases on the bench's own throwaway server, or on the server of --postgresql-url."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.server: Any = None
        self.created: list[str] = []
        self.prefix = f"govflow_bench_{uuid.uuid4().hex[:8]}"

    @staticmethod
    def available(url: str | None) -> bool:
        if url:
            return True
        from service.pgtemp import PostgresServer

        return PostgresServer.available()

    def start(self) -> PostgresDatabases:
        if self.url is None:
            from service.pgtemp import PostgresServer

            self.server = PostgresServer().start()
        return self

    def create(self, purpose: str) -> str:
        name = f"{self.prefix}_{purpose}"
        if self.server is not None:
            url = self.server.create_database(name)
        else:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            finally:
                engine.dispose()
            url = make_url(self.url).set(database=name).render_as_string(hide_password=False)
        self.created.append(name)
        return url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            return
        if self.url is None or not self.created:
            return
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for name in self.created:
                    with suppress(Exception):
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()
        self.created = []


# ----- HTTP and timers ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpClient:
    """One keep-alive connection; JSON in, (status, JSON) out."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection before reading the request.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class Server:
    """`govflow serve` in its own process group, killed as a group at the end."""

    def __init__(self, url: str, workers: int, workdir: Path) -> None:
        self.port = _free_port()
        self.workers = workers
        self.log_path = workdir / "server.log"
        env = {**os.environ, "DATABASE_URL": url, "GOVFLOW_TIMERS": "1", "SECRET_KEY": "bench",
               "GOVFLOW_CLOCK": "real", "PYTHONUNBUFFERED": "1"}
        env.pop("GOVFLOW_POLL_SECONDS", None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--workers", str(workers), "--port", str(self.port),
             "--host", "127.0.0.1"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(Path(__file__).resolve().parent.parent),
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"govflow serve exited ({self.proc.returncode}):\n{self.log_tail()}")
            client = HttpClient(self.port)
            try:
                status, body = client.call("GET", "/api/v1/health")
                if status == 200 and body.get("scheduler") == "running":
                    return
            except OSError:
                pass
            finally:
                client.close()
            time.sleep(0.2)
        raise RuntimeError(f"govflow serve did not become healthy in {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        # Workers left behind by a master that died first.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


def _http_petition(client: HttpClient, tokens: dict[str, str], start: dict[str, Any],
                   steps: list[tuple[str, str, dict[str, Any]]]) -> None:
    status, body = client.call("POST", "/api/v1/instances", {"process": "petition", "data": start},
                               tokens["xfk1"])
    if status != 201:
        raise RuntimeError(f"POST /instances: {status} {body}")
    open_tasks = body["open_tasks"]
    for user, bpmn_id, data in steps:
        status, body = client.call("POST", f"/api/v1/tasks/{_pick(open_tasks, bpmn_id)}/complete",
                                   {"data": data}, tokens[user])
        if status != 200:
            raise RuntimeError(f"complete {bpmn_id}: {status} {body}")
        open_tasks = body["instance"]["open_tasks"]


def _prepare_timer_burst(svc: Any, count: int, lead_seconds: float) -> datetime:
    """`count` bench_timer instances all due at one moment `lead_seconds` from now.

    One instance is started through the runtime; the rest are bulk copies of its rows (state,
    waiting timer projection), so the burst is in place within a fraction of a second."""
    from sqlalchemy import insert, select

    from service.store.models import Instance, InstanceState, Timer

    due = clock.now() + timedelta(seconds=lead_seconds)
    due = due.replace(microsecond=0) + timedelta(seconds=1)
    system = demo_actors(svc, ("admin",))["admin"]
    answer = svc.runtime.start(BENCH_TIMER_KEY, {"fire_at": due.isoformat()}, system)
    with svc.db.write() as session:
        template = session.get(Instance, answer["id"])
        timer = session.scalars(select(Timer).where(Timer.instance_id == answer["id"])).one()
        if clock.parse_datetime(timer.due_at) != due:
            raise RuntimeError(f"bench timer due {timer.due_at}, expected {due}")
        columns = {c.key: getattr(template, c.key) for c in Instance.__table__.columns if c.key != "id"}
        prefix = uuid.uuid4().hex[:12]
        rows = [{**columns, "business_key": f"BT-{prefix}-{i:06d}"} for i in range(count - 1)]
        # Ids come from the database: the server inserts petitions into the same table meanwhile.
        ids: list[int] = []
        for chunk in range(0, len(rows), 2000):
            ids += session.scalars(insert(Instance).returning(Instance.id, sort_by_parameter_order=True),
                                   rows[chunk:chunk + 2000]).all()
        states = [{"instance_id": iid, "state": template.state} for iid in ids]
        for chunk in range(0, len(states), 2000):
            session.execute(insert(InstanceState), states[chunk:chunk + 2000])
        timers = [{"instance_id": iid, "task_id": timer.task_id, "name": timer.name, "due_at": timer.due_at,
                   "state": "waiting"} for iid in ids]
        for chunk in range(0, len(timers), 2000):
            session.execute(insert(Timer), timers[chunk:chunk + 2000])
    if clock.now() > due - timedelta(seconds=0.5):
        _progress("warning: the timer burst was not in place well before it fell due")
    return due


def _timer_rows(svc: Any) -> list[tuple[str, Any, Any]]:
    from sqlalchemy import select

    from service.store.models import Instance, Timer

    with svc.db.read() as session:
        return [(r[0], r[1], r[2]) for r in session.execute(
            select(Timer.state, Timer.due_at, Timer.fired_at)
            .join(Instance, Instance.id == Timer.instance_id)
            .where(Instance.process_key == BENCH_TIMER_KEY)
        )]


def bench_http(url: str, count: int, clients: int, workers: int, timers: int, workdir: Path,
               budget: float = float("inf"), reference: RawReference | None = None) -> dict[str, Any]:
    svc = prepare_database(url, timer_diagram=True)
    server: Server | None = None
    try:
        svc.db.dispose()
        server = Server(url, workers, workdir)
        _progress(f"http: govflow serve --workers {workers} on port {server.port} ({svc.db.dialect})")
        server.wait_healthy()
        from service.demo import DEMO_PASSWORD

        tokens: dict[str, str] = {}
        client = HttpClient(server.port)
        for user in STEP_USERS:
            status, body = client.call("POST", "/api/v1/auth/token", {"username": user, "password": DEMO_PASSWORD})
            if status != 200:
                raise RuntimeError(f"token for {user}: {status} {body}")
            tokens[user] = body["token"]
        start, steps = petition_start(), petition_steps()
        for _ in range(max(2, workers * 2)):  # warm-up: every worker parses the model once
            _http_petition(client, tokens, start, steps)
        client.close()

        raw_seconds = max(1.0, min(3.0, budget / 4))
        if reference is not None:  # the load needs the whole machine: raw rounds before and after it
            reference.rounds_for("http", raw_seconds)
        due = _prepare_timer_burst(svc, timers, lead_seconds=1.0 + timers / 2000) if timers else None
        _progress(f"http: {clients} clients driving {count} petitions"
                  + (f"; {timers} timers fall due at {due.time()}" if due else ""))
        lock = threading.Lock()
        state = {"next": 0, "done": 0}
        errors: list[str] = []
        burst_over = threading.Event()
        if not timers:
            burst_over.set()

        def worker() -> None:
            own = HttpClient(server.port)
            try:
                while True:
                    with lock:
                        if errors or (burst_over.is_set() and (
                                state["next"] >= count or time.perf_counter() - began > budget)):
                            return
                        state["next"] += 1
                    _http_petition(own, tokens, start, steps)
                    with lock:
                        state["done"] += 1
            except Exception as exc:  # noqa: BLE001 - reported after the run
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                own.close()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
        began = time.perf_counter()
        for t in threads:
            t.start()
        # The load goes on while the burst fires; a burst that is still firing this long after it
        # fell due is cut short (its waiting timers count with their lateness so far).
        timer_deadline = time.monotonic() + max(5.0, min(budget, 120.0))
        if due is not None:
            timer_deadline += max((due - clock.now()).total_seconds(), 0.0)
        while timers and not burst_over.is_set():
            rows = _timer_rows(svc)
            if sum(1 for r in rows if r[0] == "fired") >= timers or time.monotonic() > timer_deadline or errors:
                burst_over.set()
                break
            time.sleep(0.25)
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        if reference is not None and not errors:
            reference.rounds_for("http", raw_seconds)
        if errors:
            raise RuntimeError(f"HTTP load failed: {errors[0]}\n{server.log_tail()}")
        result: dict[str, Any] = {"per_s": state["done"] / elapsed, "petitions": state["done"],
                                  "seconds": elapsed, "database": svc.db.dialect}
        if timers:
            result.update(_timer_figures(_timer_rows(svc), timers, workers, clock.now()))
        return result
    finally:
        if server is not None:
            server.stop()
        svc.db.dispose()


def _seconds(later: Any, earlier: Any) -> float:
    return (clock.parse_datetime(later) - clock.parse_datetime(earlier)).total_seconds()


def _timer_figures(rows: list[tuple[str, Any, Any]], expected: int, workers: int,
                   measured_at: datetime | None = None) -> dict[str, Any]:
    """Rate = fired timers over the span from the moment they fell due (the earliest due_at) to
    the last firing, per process — timers are written and marked fired in batches, so the span
    starts at the due moment, not at the first batch; lateness = fired_at − due_at (fired_at is
    when a timer's batch was written, just before it commits; a timer still waiting counts with
    its lateness so far)."""
    fired = [r for r in rows if r[0] == "fired" and r[2] is not None]
    if not fired:
        return {"timer_fire_per_s": None, "timer_latency_p99_s": None, "timers_fired": 0, "timers": expected}
    lateness = [_seconds(r[2], r[1]) for r in fired]
    if measured_at is not None:
        lateness += [max(_seconds(measured_at, r[1]), 0.0) for r in rows if r[0] == "waiting"]
    times = sorted(clock.parse_datetime(r[2]) for r in fired)
    began = min([times[0], *(clock.parse_datetime(r[1]) for r in fired)])
    span = max((times[-1] - began).total_seconds(), 1e-3)
    rate = len(fired) / span
    return {
        "timer_fire_per_s": rate / workers,
        "timer_fire_per_s_all_workers": rate,
        "timer_latency_p99_s": _percentile(lateness, 99),
        "timer_latency_p50_s": _percentile(lateness, 50),
        "timer_latency_max_s": max(lateness),
        "timers": expected,
        "timers_fired": len(fired),
        "timer_burst_seconds": span,
    }


# ----- inbox at scale -------------------------------------------------------------------

# Where the open task of a filled instance stands: (bpmn_id, weight). Most cases wait at `handle`.
INBOX_STEPS: list[tuple[str, int]] = [
    ("classify", 5), ("propose", 5), ("leader_sign", 5), ("sg_approve", 5),
    ("handle", 60), ("review_result", 10), ("reply", 10),
]
HANDLING_GROUPS = ["dept_fgw", "dept_cjw", "dept_jsw", "county_linxiang", "county_fengqing", "xfk"]
INBOX_USERS = ("xfk1", "bgs", "msz", "fgw1", "cjw1", "linxiang1", "zr")
LIST_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("msz", {"overdue": True}),
    ("xfk1", {"process": "petition", "status": "running"}),
    ("fgw1", {"status": "running"}),
    ("fgw1", {"overdue": True}),
    ("bgs", {"process": "petition"}),
]


def _template_tasks(svc: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    """Drive one real petition; keep its human task rows per step and its state at `handle`."""
    from sqlalchemy import select

    from service.store.models import HumanTask, Instance

    actors = demo_actors(svc)
    captured: dict[str, Any] = {}

    def at_handle(instance_id: int) -> None:
        with svc.db.read() as session:
            inst = session.get(Instance, instance_id)
            captured["state"] = inst.state
            captured["instance"] = inst

    iid = drive_service(svc.runtime, actors, petition_start(), petition_steps(), at_handle)
    with svc.db.read() as session:
        tasks = {t.bpmn_id: t for t in session.scalars(select(HumanTask).where(HumanTask.instance_id == iid))}
    inst = captured["instance"]
    columns = {c.key: getattr(inst, c.key) for c in Instance.__table__.columns}
    task_columns = {k: {c.key: getattr(t, c.key) for c in HumanTask.__table__.columns} for k, t in tasks.items()}
    return columns, task_columns, captured["state"]


def _bulk_insert(svc: Any, table: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Fast bulk load: COPY on PostgreSQL, one executemany on SQLite (values already in the form
    the dialect's bind processors give them, see `_storage_form`)."""
    if not rows:
        return
    raw = svc.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if svc.db.dialect == "postgresql":
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute("PRAGMA cache_size=-262144")  # 256 MB: random-key index inserts stay in memory
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                               f"VALUES ({', '.join('?' for _ in columns)})", rows)
        raw.commit()
    finally:
        raw.close()


@contextmanager
def _indexes_dropped(svc: Any, tables: list[str]) -> Iterator[None]:
    """Drop the secondary indexes of `tables` for the bulk load and create them again afterwards
    from their own DDL (building an index once is far cheaper than 450,000 random inserts)."""
    from sqlalchemy import text

    with svc.db.engine.begin() as conn:
        if svc.db.dialect == "postgresql":
            found = conn.execute(text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
                "AND i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)"), {"t": tables}).all()
        else:
            found = conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({', '.join(repr(t) for t in tables)})")).all()
        for name, _ddl in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        with svc.db.engine.begin() as conn:
            for _name, ddl in found:
                conn.execute(text(ddl))


def _storage_form(svc: Any, table: Any) -> Callable[[Any], Any]:
    """How a datetime is stored: SQLite keeps the ORM's text form, psycopg takes the object."""
    if svc.db.dialect == "postgresql":
        return lambda value: value
    dialect = svc.db.engine.dialect
    column = table.c["created_at"] if "created_at" in table.c else table.c["started_at"]
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor or (lambda value: value)


def _uuid_text(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def fill_inbox(svc: Any, rows: int, full_state: bool = True, seed: int = 20260301) -> dict[str, Any]:
    """Bulk-insert `rows` running petitions, each with one open task (and the completed tasks
    of the steps before it), spread over the demo groups; a tenth of the open tasks claimed.

    Every row carries a copy of a real petition's state at `handle` (`full_state`), or a short
    stub (--quick: writing 100,000 × ~20 KB takes longer than the whole quick run may)."""
    from sqlalchemy import text

    inst_tpl, task_tpl, state = _template_tasks(svc)
    if not full_state:
        state = '{"bench":"state omitted (--inbox-state stub)"}'
    rng = random.Random(seed)
    first_id = int(inst_tpl["id"]) + 1
    counts: dict[str, int] = {}
    began = time.perf_counter()
    with _indexes_dropped(svc, ["instances", "human_tasks", "task_candidates"]):
        _fill_rows(svc, rows, rng, state, first_id, inst_tpl, task_tpl, counts)
    if svc.db.dialect == "postgresql":
        with svc.db.write() as session:
            session.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), "
                                 "(SELECT max(id) FROM instances))"))
        # Autovacuum would analyze the new rows within a minute; do it now, as it would be.
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    # SQLite: no ANALYZE, as in production (GovFlow never runs it).
    return {"fill_seconds": time.perf_counter() - began, "open_tasks_by_group": counts,
            "state_bytes_per_row": len(state.encode())}


def _fill_rows(svc: Any, rows: int, rng: random.Random, state: str, first_id: int, inst_tpl: dict[str, Any],
               task_tpl: dict[str, dict[str, Any]], counts: dict[str, int]) -> None:
    from service.runtime import NO_DUE_DATE
    from service.store.models import HumanTask, Instance, InstanceState, TaskCandidate

    order = [s for s, _w in INBOX_STEPS]
    weights = [w for _s, w in INBOX_STEPS]
    route_steps = {"classify", "propose", "leader_sign", "sg_approve"}
    handle_at = order.index("handle")
    now = clock.now()
    dt = _storage_form(svc, HumanTask.__table__)
    inst_cols = [c.key for c in Instance.__table__.columns]
    task_cols = [c.key for c in HumanTask.__table__.columns]
    inst_base = [dt(inst_tpl[c]) if isinstance(inst_tpl[c], datetime) else inst_tpl[c] for c in inst_cols]
    task_base = {k: [dt(t[c]) if isinstance(t[c], datetime) else t[c] for c in task_cols]
                 for k, t in task_tpl.items()}
    ii = {c: n for n, c in enumerate(inst_cols)}
    ti = {c: n for n, c in enumerate(task_cols)}
    chunk = 10_000
    for base in range(0, rows, chunk):
        inst_rows: list[tuple[Any, ...]] = []
        task_rows: list[tuple[Any, ...]] = []
        cand_rows: list[tuple[Any, ...]] = []
        state_rows: list[tuple[Any, ...]] = []
        for i in range(base, min(base + chunk, rows)):
            iid = first_id + i
            started_dt = now - timedelta(days=rng.uniform(0, 120))
            started, due = dt(started_dt), dt(started_dt + timedelta(days=60))
            route_due, next_day = dt(started_dt + timedelta(days=15)), dt(started_dt + timedelta(days=1))
            done_at = dt(started_dt + timedelta(hours=1))
            position = order.index(rng.choices(order, weights)[0])
            step = order[position]
            group = rng.choice(HANDLING_GROUPS) if position >= handle_at else None
            business_key = f"XF-{now.year - 1 if i % 3 == 0 else now.year}-B{i:07d}"
            row = inst_base[:]
            state_rows.append((iid, state))
            for key, value in (("id", iid), ("business_key", business_key),
                               ("status", "running"), ("started_at", started), ("updated_at", started),
                               ("last_step_at", next_day), ("completed_at", None), ("due_at", due),
                               ("handling_group", group), ("version", 1 + position)):
                row[ii[key]] = value
            inst_rows.append(tuple(row))
            for done in order[:position]:
                row = task_base[done][:]
                row[ti["id"]] = _uuid_text(rng)
                row[ti["instance_id"]] = iid
                row[ti["business_key"]] = business_key
                row[ti["state"]] = "completed"
                row[ti["created_at"]] = started
                row[ti["completed_at"]] = done_at
                row[ti["assignee"]] = None
                if done == "handle" and group:
                    row[ti["candidate_groups"]] = group
                row[ti["due_at"]] = route_due if done in route_steps else due
                task_rows.append(tuple(row))
            groups = [group] if step == "handle" and group else task_tpl[step]["candidate_groups"].split(",")
            task_id = _uuid_text(rng)
            assignee = None
            if rng.random() < 0.1:
                assignee = {"xfk": "xfk2" if rng.random() < 0.5 else "xfk1", "dept_fgw": "fgw1"}.get(groups[0])
            row = task_base[step][:]
            for key, value in (("id", task_id), ("instance_id", iid), ("business_key", business_key),
                               ("state", "open"), ("created_at", next_day), ("completed_at", None),
                               ("completed_by", None), ("candidate_groups", ",".join(groups)),
                               ("assignee", assignee), ("due_at", route_due if step in route_steps else due)):
                row[ti[key]] = value
            task_rows.append(tuple(row))
            task_due = route_due if step in route_steps else due
            for g in groups:
                cand_rows.append((task_id, g, task_due or NO_DUE_DATE, next_day))
                counts[g] = counts.get(g, 0) + 1
        _bulk_insert(svc, Instance.__table__, inst_cols, inst_rows)
        _bulk_insert(svc, InstanceState.__table__, ["instance_id", "state"], state_rows)
        _bulk_insert(svc, HumanTask.__table__, task_cols, task_rows)
        _bulk_insert(svc, TaskCandidate.__table__, ["task_id", "group_key", "due_sort", "created_at"], cand_rows)


def _timed(budget_s: float, minimum: int, wanted: int, calls: list[tuple[str, Callable[[], Any]]]
           ) -> dict[str, list[float]]:
    """Round-robin over `calls` until `wanted` timed calls, or until the time budget is spent once
    every call ran `minimum` times. Milliseconds by name. No warm-up round: the bulk load has just
    filled the page cache, and a slow first call is part of what users see."""
    times: dict[str, list[float]] = {name: [] for name, _fn in calls}
    deadline = time.monotonic() + budget_s
    done = 0
    while done < wanted:
        for name, fn in calls:
            began = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - began) * 1000)
            done += 1
        if time.monotonic() > deadline and min(len(v) for v in times.values()) >= minimum:
            break
    return times


def bench_inbox(url: str, rows: int, calls: int, label: str, full_state: bool = True,
                budget_s: float = 60.0) -> dict[str, Any]:
    from service import queries

    svc = prepare_database(url)
    try:
        _progress(f"inbox ({label}): inserting {rows} instances"
                  + ("" if full_state else " (stub state)"))
        filled = fill_inbox(svc, rows, full_state)
        svc.db.optimize()  # what the running service does hourly (service.timers)
        _progress(f"inbox ({label}): filled in {filled['fill_seconds']:.1f}s; timing queries")
        actors = demo_actors(svc, INBOX_USERS)
        sizes: dict[str, int] = {}

        def inbox_call(user: str) -> Callable[[], Any]:
            def call() -> None:
                with svc.db.read() as session:
                    sizes[user] = len(queries.inbox(session, actors[user]))
            return call

        def list_call(user: str, filters: dict[str, Any]) -> Callable[[], Any]:
            def call() -> None:
                with svc.db.read() as session:
                    queries.instances(session, actors[user], **filters)
            return call

        per_user = _timed(budget_s, 3, calls, [(u, inbox_call(u)) for u in INBOX_USERS])
        inbox_all = [v for values in per_user.values() for v in values]
        _progress(f"inbox ({label}): {len(inbox_all)} inbox calls timed; instance lists next")
        list_times = _timed(budget_s / 2, 2, max(calls // 2, 10 * len(LIST_QUERIES)), [
            (f"{user}:" + ",".join(f"{k}={v}" for k, v in filters.items()), list_call(user, filters))
            for user, filters in LIST_QUERIES])
        list_all = [v for values in list_times.values() for v in values]
        return {
            "inbox_p95_ms": _percentile(inbox_all, 95),
            "inbox_p50_ms": _percentile(inbox_all, 50),
            "inbox_calls": len(inbox_all),
            "inbox_p95_ms_by_user": {u: _round(_percentile(v, 95), 2) for u, v in per_user.items()},
            "inbox_sizes": sizes,
            "instance_list_p95_ms": _percentile(list_all, 95),
            "instance_list_calls": len(list_all),
            "instance_list_p95_ms_by_query": {k: _round(_percentile(v, 95), 2) for k, v in list_times.items()},
            "fill_seconds": filled["fill_seconds"],
            "state_bytes_per_row": filled["state_bytes_per_row"],
            "open_tasks_by_group": filled["open_tasks_by_group"],
        }
    finally:
        svc.db.dispose()


# ----- the whole run --------------------------------------------------------------------


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


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 3) if abs(value) < 10 else round(value, 1)
    return value
