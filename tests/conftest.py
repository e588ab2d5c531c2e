"""Shared pytest fixtures.

Generic fixtures first (databases, browser, artifacts); the application's own
fixtures go in the marked section at the bottom.

A missing PostgreSQL server or Chromium skips the tests that need them, except
when ``GOVFLOW_REQUIRE_ALL=1`` (set by ``make test`` and CI): then they fail,
so a green run always means the whole suite ran.

This module must not import ``service`` at module level.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Demo passwords hashed with a cheap method in tests (scrypt costs ~0.4 s per hash and login).
os.environ.setdefault("GOVFLOW_PASSWORD_HASH", "pbkdf2:sha256:1000")
# The suite makes many calls a second from one address: the rate limits (service/web/rate_limits.py)
# are off unless a test turns them on (Settings(ratelimit=True)); subprocess servers inherit this.
os.environ.setdefault("GOVFLOW_RATELIMIT", "0")
# A fixed keyring (service/keyring.py) in the environment, so subprocess servers inherit it.
os.environ.setdefault(
    "GOVFLOW_KEYS",
    '{"version": 1, "chain_key": "' + "c4" * 32 + '", "keys": [{"id": "ktest1", "algorithm": "sm4-gcm",'
    ' "key": "' + "5a" * 16 + '", "created": "2024-01-01T00:00:00+00:00"}]}',
)

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from testing.pgtemp import PostgresServer  # noqa: E402

ARTIFACTS_DIR = TESTS_DIR / "artifacts"
CHROMIUM_PATH = Path("/usr/bin/chromium")
# Launch arguments for Playwright's chromium.launch(executable_path=..., args=CHROMIUM_ARGS).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def require_all() -> bool:
    """True when missing system dependencies must fail the run instead of skipping."""
    return os.environ.get("GOVFLOW_REQUIRE_ALL", "") == "1"


def missing_dependency(message: str) -> None:
    """Skip (developer machine) or fail (``GOVFLOW_REQUIRE_ALL=1``) for a missing dependency."""
    if require_all():
        pytest.fail(
            f"{message} — GOVFLOW_REQUIRE_ALL=1 forbids skipping; run scripts/install-system-deps.sh",
            pytrace=False,
        )
    pytest.skip(message)


# --- databases -------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole test session."""
    if not PostgresServer.available():
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh, empty PostgreSQL database for this test."""
    return pg_server.create_database(f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """SQLAlchemy URL of a fresh SQLite file for this test."""
    return f"sqlite:///{tmp_path}/govflow.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL (the server starts
    only if a PostgreSQL case is actually collected)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


# --- browser ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of the system Chromium that Playwright drives (never downloaded)."""
    if not (CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        missing_dependency(f"Chromium is not installed at {CHROMIUM_PATH}")
    return str(CHROMIUM_PATH)


@contextmanager
def browser_page(chromium_path: str, **context: Any) -> Iterator[Any]:
    """A page of the system Chromium in a fresh context (`context`: viewport, is_mobile, …);
    page.js_errors collects the page's uncaught errors."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    ctx = browser.new_context(**{"viewport": {"width": 1360, "height": 900}, "locale": "zh-CN", **context})
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        ctx.close()
        browser.close()
        playwright.stop()


@pytest.fixture
def page(chromium_path: str) -> Iterator[Any]:
    with browser_page(chromium_path) as opened:
        yield opened


def browser_app(tmp_path: Path, name: str = "browser") -> Any:
    """The demo app on its own SQLite file, timers off, for a browser test to serve."""
    from service.config import Settings
    from service.demo import load_demo
    from service.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/{name}.db", secret_key=f"{name}-test"),
                     start_timers=False)
    with app.extensions["govflow"].db.write() as session:
        load_demo(session)
    return app


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a Flask app on a free loopback port in a thread, for the browser."""
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


# --- artifacts -------------------------------------------------------------------


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """tests/artifacts/ (gitignored): screenshots, logs and reports tests leave behind."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


# --- application fixtures ---------------------------------------------------------
# Fixtures that need the service package (app, client, users, ...) go below.
# Import `service` inside the fixtures, not at module level.


class ApiClient:
    """A Flask test client that logs in demo users by token and drives the JSON API."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self._tokens: dict[str, str] = {}

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            r = self.client.post("/api/v1/auth/token", json={"username": username, "password": "govflow-demo"})
            assert r.status_code == 200, r.get_json()
            self._tokens[username] = r.get_json()["token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}

    def get(self, username: str, path: str) -> Any:
        return self.client.get(path, headers=self.headers(username))

    def post(self, username: str, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self.headers(username), json=json, **kwargs)

    def tasks(self, username: str, instance_id: int | None = None, bpmn_id: str | None = None) -> list[dict]:
        r = self.get(username, "/api/v1/tasks")
        assert r.status_code == 200, r.get_json()
        return [t for t in r.get_json()
                if (instance_id is None or t["instance_id"] == instance_id)
                and (bpmn_id is None or t["bpmn_id"] == bpmn_id)]

    def task(self, username: str, instance_id: int, bpmn_id: str) -> dict:
        found = self.tasks(username, instance_id, bpmn_id)
        assert len(found) == 1, f"{username} should have exactly one {bpmn_id} task, has {found}"
        return found[0]

    def complete(self, username: str, instance_id: int, bpmn_id: str, data: dict) -> Any:
        task = self.task(username, instance_id, bpmn_id)
        return self.post(username, f"/api/v1/tasks/{task['id']}/complete", json={"data": data})

    def instance(self, username: str, instance_id: int) -> dict:
        r = self.get(username, f"/api/v1/instances/{instance_id}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()


def make_app(database_url: str) -> Any:
    """A GovFlow app on `database_url` with the demo organisation and bpmn/ deployed, timers off."""
    from service.config import Settings
    from service.demo import load_demo
    from service.web import create_app

    app = create_app(Settings(database_url=database_url, secret_key="test-secret"), start_timers=False)
    with app.extensions["govflow"].db.write() as session:
        load_demo(session)
    return app


@pytest.fixture
def app(db_url: str) -> Any:
    """The app on SQLite and on PostgreSQL (parametrised through db_url)."""
    application = make_app(db_url)
    yield application
    application.extensions["govflow"].db.dispose()


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Any:
    application = make_app(sqlite_url)
    yield application
    application.extensions["govflow"].db.dispose()


@pytest.fixture
def api(app: Any) -> ApiClient:
    return ApiClient(app)


@pytest.fixture
def sqlite_api(sqlite_app: Any) -> ApiClient:
    return ApiClient(sqlite_app)


# Every test starts at this moment, whatever the day the suite runs (a Tuesday, a working day; a
# petition received then is due on Monday 2027-02-01, day 60 being a Saturday). A test that needs
# another day pins it with pin_clock.
SUITE_START = "2026-12-01T10:00:00+08:00"


@pytest.fixture(autouse=True)
def _pinned_clock() -> Any:
    """Start each test at SUITE_START; tests that move the clock must not leak the offset into
    the next test."""
    from datetime import timedelta

    from service import clock

    clock.start_from(clock.parse_datetime(SUITE_START))
    clock.set_offset(timedelta(0))
    yield
    clock.set_offset(timedelta(0))
    clock.start_from(None)


@pytest.fixture(scope="session", autouse=True)
def _procedures() -> Any:
    """The procedures of workflows/ installed, as every entry point does at start-up."""
    from service.bootstrap import install_procedures

    return install_procedures()


def _petition_sample() -> dict[str, Any]:
    from workflows.petition_sample import START_BASE  # the procedure's sample case, shared with the bench

    return {"received_at": "2026-03-02T09:00:00+08:00", **START_BASE}


PETITION = _petition_sample()
# A 复查申请 as 信访科 registers it (forms/petition_review_request.json), on the day PETITION's
# cases are answered in the route tests (a date after "today" is refused).
REVIEW_REQUEST = {"requested_at": "2026-03-02", "organ": "临沧市人大常委会"}

# The petition the page tests register through the form (its subject is what they look for).
ROAD_PETITION = {
    "received_at": "2026-01-05T09:00",
    "channel": "来信",
    "people_count": 1,
    "petitioner_name": "张三",
    "petitioner_id_number": "530102199001071234",
    "petitioner_phone": "13812345678",
    "subject": "小区道路破损长期未修",
    "content": "反映临翔区某小区道路破损，多次反映未解决。",
}


@pytest.fixture
def page_app(sqlite_app: Any) -> Any:
    """The demo app on SQLite, forms posted without CSRF tokens (one test proves CSRF apart)."""
    sqlite_app.config["WTF_CSRF_ENABLED"] = False
    sqlite_app.config["TESTING"] = True
    return sqlite_app


def login(app: Any, username: str) -> Any:
    """A test client logged in to the pages as a demo user (the app must not require CSRF)."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": "govflow-demo"})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def pin_clock(at: Any) -> None:
    """Put the service clock at `at` (the autouse fixture below resets it after the test)."""
    from service import clock

    clock.set_offset(at - (clock.now() - clock.offset()))


def start(api: ApiClient, **changes: Any) -> int:
    """Register a petition as xfk1 (PETITION with `changes`); returns its instance id."""
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": {**PETITION, **changes}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    """Complete the instance's `bpmn_id` task as `user`, which must succeed."""
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def refused_and_replied(api: ApiClient, category: str = "其他") -> int:
    """A petition not accepted at 分类 (不予受理) and answered today: it waits in its 复查 window."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": category, "route": "reject"})
    done(api, "xfk1", iid, "reply", {"reply_text": "请向有权处理的机关提出。", "replied_at": "2026-12-01",
                                     "delivery": "当面"})
    return iid
