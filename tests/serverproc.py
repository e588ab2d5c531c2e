"""Run `govflow serve` as a real subprocess for scale-out and fault tests, and talk to it.

``ServerProcess`` starts ``.venv/bin/govflow serve`` on a free loopback port in its own
process group (so ``kill9()`` takes the gunicorn master *and* its workers down at once,
like a machine losing power), waits for ``GET /api/v1/health`` and keeps the output in a
log file. ``call()`` is a small JSON client on ``http.client``: one connection per
request, bounded retries while the server refuses connections (not yet up, being
restarted), and an ``Unacknowledged`` error when a request may have reached the server
but no answer came back — the caller then does not know whether it took effect.

Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOVFLOW = ROOT / ".venv" / "bin" / "govflow"
HOST = "127.0.0.1"
PASSWORD = "govflow-demo"


def dept_route(replied_at: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(user, bpmn_id, form) of every user task of a petition on the `dept` route through `reply`,
    as the drivers of the scale-out and fault tests complete them."""
    return [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve"}),
        ("msz", "sg_approve", {"decision": "approve"}),
        ("fgw1", "handle", {"outcome": "done", "result": "已督促企业支付工资"}),
        ("xfk1", "review_result", {"decision": "accept"}),
        ("xfk1", "reply", {"reply_text": "经查，工资已支付。", "replied_at": replied_at, "delivery": "邮寄"}),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def govflow_command() -> list[str]:
    """The installed `govflow` console script (the venv's), else the module."""
    if GOVFLOW.exists():
        return [str(GOVFLOW)]
    import sys

    return [sys.executable, "-m", "service.cli"]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    # the suite's keyring (tests/conftest.py) stays: the tests open what the server sealed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVFLOW_", "PG")) or k == "GOVFLOW_KEYS"}
    env.update({
        "DATABASE_URL": database_url,
        "SECRET_KEY": "scale-out-test-secret",
        "GOVFLOW_TIMERS": "1",
        "GOVFLOW_POLL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def run_init(database_url: str, demo: bool = True, timeout: float = 120) -> str:
    """`govflow init [--demo]` as a subprocess; returns its output (raises on failure)."""
    cmd = [*govflow_command(), "init", *(["--demo"] if demo else [])]
    proc = subprocess.run(cmd, cwd=ROOT, env=server_env(database_url), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"govflow init failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# --- HTTP ------------------------------------------------------------------------------


class Unacknowledged(Exception):
    """The request may have reached the server, but no (complete) answer came back."""


class Refused(Exception):
    """The server refused connections for the whole retry window."""


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        text = self.body[:300].decode("utf-8", "replace")
        return f"<Response {self.status} {self.content_type} {text!r}>"


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None, *,
         raw: bytes | None = None, content_type: str | None = None, timeout: float = 30,
         retry_refused_for: float = 20.0) -> Response:
    """One HTTP request to 127.0.0.1:`port`. JSON `body` (or `raw` bytes).

    Connection refused / reset before anything was sent is retried for up to
    `retry_refused_for` seconds (bounded count too); a failure after the request was
    sent raises `Unacknowledged` (the caller must find out what happened)."""
    headers = {"Accept": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload: bytes | None = raw
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if content_type is not None:
        headers["Content-Type"] = content_type
    deadline = time.monotonic() + retry_refused_for
    for attempt in range(1000):
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            try:
                conn.connect()
            except (TimeoutError, ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError) as exc:
                if time.monotonic() >= deadline or attempt == 999:
                    raise Refused(f"{HOST}:{port} refused connections for {retry_refused_for}s") from exc
                time.sleep(0.1)
                continue
            try:
                conn.request(method, path, body=payload, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
            except (OSError, http.client.HTTPException) as exc:
                raise Unacknowledged(f"{method} {path}: {exc!r}") from exc
            return Response(reply.status, data, {k.lower(): v for k, v in reply.getheaders()})
        finally:
            conn.close()
    raise Refused(f"{HOST}:{port} refused connections")  # pragma: no cover - loop bound


def token_for(port: int, username: str, password: str = PASSWORD) -> str:
    r = call(port, "POST", "/api/v1/auth/token", {"username": username, "password": password})
    assert r.status == 200, r
    return str(r.json()["token"])


# --- the server process ---------------------------------------------------------------------


class ServerProcess:
    """`govflow serve --workers N --port P` in its own process group."""

    def __init__(self, database_url: str, log_dir: Path, name: str = "node", workers: int = 1,
                 port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.name = name
        self.workers = workers
        self.port = port or free_port()
        self.extra_env = env or {}
        self.log_path = Path(log_dir) / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ServerProcess:
        assert not self.running, f"{self.name} already running"
        self.starts += 1
        cmd = [*govflow_command(), "serve", "--workers", str(self.workers), "--port", str(self.port),
               "--host", HOST]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            log.write(f"\n===== start #{self.starts}: {' '.join(cmd)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(self.database_url, **self.extra_env),
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        """Wait until GET /api/v1/health answers 200."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                r = call(self.port, "GET", "/api/v1/health", timeout=5, retry_refused_for=0)
                if r.status == 200:
                    return
                last = r
            except (Refused, Unacknowledged) as exc:
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s (last: {last!r}):\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL the whole process group (master and workers), then reap."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self._wait_port_closed()

    def terminate(self) -> None:
        """Send SIGTERM to the group (gunicorn's graceful stop) without waiting."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group (gunicorn's graceful stop); SIGKILL what is left after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # workers may outlive a killed master; the group takes them all
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self._wait_port_closed()

    def restart(self, timeout: float = 90) -> None:
        self.start()
        self.wait_ready(timeout)

    def _wait_port_closed(self, timeout: float = 10) -> None:
        """The group is gone once nobody listens on the port any more."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                if s.connect_ex((HOST, self.port)) != 0:
                    return
            time.sleep(0.05)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(nodes: list[ServerProcess]) -> None:
    """Stop several servers at once (SIGTERM to all first, then wait for each)."""
    for node in nodes:
        node.terminate()
    for node in nodes:
        node.stop()


# --- invariants shared by the server-process tests -----------------------------------------------


def assert_timer_fired_once(session: Any, inst: Any, history: list[tuple[str, str | None]],
                            timer_states: list[str]) -> None:
    """A timer_test instance fired its timer exactly once: through the timer table, or — when
    its start request reached the server only after `fire_at` (it waited out a restart) —
    right in the start transaction, with no timer row at all. `history` is the instance's
    [(action, task_bpmn_id)], `timer_states` the states of its timer rows."""
    from datetime import timedelta

    from sqlalchemy import select

    from service import clock
    from service.store.models import History

    if history == [("start", None), ("end", None)]:
        raw = session.scalar(select(History.data_after).where(History.instance_id == inst.id,
                                                              History.action == "start"))
        fire_at = clock.parse_datetime(json.loads(raw)["fire_at"])
        assert timer_states == [] and inst.started_at >= fire_at - timedelta(seconds=2), \
            (inst.id, "ended without its timer firing", inst.started_at, fire_at, timer_states)
        return
    assert history == [("start", None), ("timer", None), ("end", None)], (inst.id, history)
    assert timer_states == ["fired"], (inst.id, timer_states)
