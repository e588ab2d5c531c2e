"""Rate limits (等保 2.0 入侵防范, service/web/rate_limits.py): more than
`ratelimit.login_per_minute` password or code attempts from one address within a minute get 429
with Retry-After and a Chinese message (a page for the browser, JSON for the API) — the login page
and POST /api/v1/auth/token share the count; the API allows `ratelimit.api_per_minute` calls per
token (each token its own count); the next minute is open again. The limiter's clock is pinned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import text


class Clock:
    """A stand-in for the `time` module of the limiter's memory store and of rate_limits."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a minute's start: 2027-01-15 08:00:00 UTC

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import limits.storage.memory

    from service.web import rate_limits

    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", SimpleNamespace(time=fake.time))
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def limited(tmp_path: Path, clock: Clock) -> Iterator[Any]:
    """The demo app with the limits on (the suite runs with GOVFLOW_RATELIMIT=0), forms without CSRF."""
    from service.config import Settings
    from service.demo import load_demo
    from service.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/limits.db", secret_key="limits", ratelimit=True),
                     start_timers=False)
    app.config.update(WTF_CSRF_ENABLED=False, TESTING=True)
    with app.extensions["govflow"].db.write() as session:
        load_demo(session)
    yield app
    app.extensions["govflow"].db.dispose()


def _set(app: Any, key: str, value: int) -> None:
    from service import config_store

    with app.extensions["govflow"].db.write() as session:
        config_store.put(session, key, value)


def test_the_attempt_after_the_login_limit_within_a_minute_gets_429_with_a_chinese_page(
        limited: Any, clock: Clock) -> None:
    from service import config_store

    allowed = config_store.get("ratelimit.login_per_minute")
    assert allowed == 10
    _set(limited, "identity.lockout_failures", 20)  # the address lock (5 failures) is another rule
    client = limited.test_client()
    for _ in range(allowed):
        r = client.post("/login", data={"username": "nobody", "password": "wrong"})
        assert r.status_code == 401
    clock.now += 15
    r = client.post("/login", data={"username": "admin", "password": "govflow-demo"})  # even the right one
    assert r.status_code == 429 and r.mimetype == "text/html"
    assert "登录尝试过于频繁，请 45 秒后再试" in text(r) and "访问过于频繁" in text(r)
    assert r.headers["Retry-After"] == "45"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert client.get("/login").status_code == 200  # reading the page is not an attempt
    # another address has its own count
    other = client.post("/login", data={"username": "admin", "password": "govflow-demo"},
                        environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 302
    clock.now += 46  # the next minute
    r = client.post("/login", data={"username": "admin", "password": "govflow-demo"})
    assert r.status_code == 302


def test_the_api_token_login_shares_the_count_and_answers_json(limited: Any, clock: Clock) -> None:
    _set(limited, "ratelimit.login_per_minute", 3)
    client = limited.test_client()
    client.post("/login", data={"username": "nobody", "password": "wrong"})
    for _ in range(2):
        assert client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"}).status_code == 401
    r = client.post("/api/v1/auth/token", json={"username": "admin", "password": "govflow-demo"})
    assert r.status_code == 429
    assert r.get_json() == {"error": "rate_limited", "message": "登录尝试过于频繁，请 60 秒后再试", "details": []}
    assert r.headers["Retry-After"] == "60"


def test_api_calls_beyond_the_limit_per_token_get_429_and_each_token_counts_alone(limited: Any, clock: Clock) -> None:
    client = limited.test_client()
    tokens = [client.post("/api/v1/auth/token", json={"username": u, "password": "govflow-demo"}).get_json()["token"]
              for u in ("xfk1", "bgs")]
    _set(limited, "ratelimit.api_per_minute", 10)  # the setting applies at once
    first, second = ({"Authorization": f"Bearer {t}"} for t in tokens)
    for _ in range(10):
        assert client.get("/api/v1/tasks", headers=first).status_code == 200
    clock.now += 20
    r = client.get("/api/v1/tasks", headers=first)
    assert r.status_code == 429
    assert r.get_json()["message"] == "请求过于频繁，请 40 秒后再试" and r.headers["Retry-After"] == "40"
    assert client.get("/api/v1/tasks", headers=second).status_code == 200
    clock.now += 41
    assert client.get("/api/v1/tasks", headers=first).status_code == 200


def test_pages_are_not_counted_against_the_api_limit(limited: Any, clock: Clock) -> None:
    _set(limited, "ratelimit.api_per_minute", 10)
    client = limited.test_client()
    assert client.post("/login", data={"username": "xfk1", "password": "govflow-demo"}).status_code == 302
    for _ in range(15):
        assert client.get("/tasks").status_code == 200


def test_the_limits_are_off_when_the_installation_says_so(tmp_path: Path) -> None:
    """GOVFLOW_RATELIMIT=0 (benchmarks, the test suite): no attempt is refused for its rate."""
    from service.config import Settings
    from service.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/off.db", secret_key="off", ratelimit=False),
                     start_timers=False)
    app.config.update(WTF_CSRF_ENABLED=False)
    _set(app, "identity.lockout_failures", 20)
    client = app.test_client()
    assert {client.post("/api/v1/auth/token", json={"username": "a", "password": "b"}).status_code
            for _ in range(12)} == {401}
    app.extensions["govflow"].db.dispose()
