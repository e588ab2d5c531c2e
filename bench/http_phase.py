"""http_per_s and the timer burst: a real `govflow serve` (gunicorn) subprocess (`Server`) driven
by concurrent keep-alive clients (`HttpClient`), one request per step, while a burst of timers
falls due at once and the server's own scheduler fires them (figures from the `timers` table)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.databases import BENCH_TIMER_KEY, demo_actors, prepare_database
from bench.measure import _percentile, _progress
from bench.workload import STEP_USERS, RawReference, _pick, petition_start, petition_steps
from service import clock


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
               "GOVFLOW_CLOCK": "real", "PYTHONUNBUFFERED": "1",
               "GOVFLOW_RATELIMIT": "0"}  # the bench measures the engine, not the API's rate limit
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
        from service import procedure

        password = procedure.registry().organisation.password  # the one load_demo gave every demo user
        tokens: dict[str, str] = {}
        client = HttpClient(server.port)
        for user in STEP_USERS:
            status, body = client.call("POST", "/api/v1/auth/token", {"username": user, "password": password})
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
