"""Session limits (身份鉴别): a session idle for more than 30 minutes, or older than 12 hours
however busy, is sent back to the login page with 「会话已超时，请重新登录」."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import login, text
from identity_support import move_wall_clock

TIMEOUT = "会话已超时，请重新登录"


def test_idle_session_times_out_after_30_minutes(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    move_wall_clock(timedelta(minutes=29))
    assert client.get("/tasks").status_code == 200  # and counts as activity
    move_wall_clock(timedelta(minutes=29))
    assert client.get("/tasks").status_code == 200
    move_wall_clock(timedelta(minutes=31))
    r = client.get("/tasks")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert TIMEOUT in text(client.get(r.headers["Location"]))
    assert client.get("/tasks").status_code == 302  # logged out for good


def test_busy_session_ends_after_its_absolute_lifetime(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    for _ in range(24):  # 11 h 45 min of activity every half hour less a minute
        move_wall_clock(timedelta(minutes=29, seconds=20))
        assert client.get("/tasks").status_code == 200
    move_wall_clock(timedelta(minutes=20))
    r = client.get("/tasks")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert TIMEOUT in text(client.get(r.headers["Location"]))


def test_moving_the_virtual_clock_does_not_log_anyone_out(page_app: Any) -> None:
    from service import clock

    client = login(page_app, "xfk1")
    clock.advance(timedelta(days=3))
    assert client.get("/tasks").status_code == 200
