"""Login failure handling (身份鉴别): 5 failures within 15 minutes lock the account — and,
counted apart, 20 lock the source address (an office's staff share one) — for 30 minutes, even against the right password; the lock
runs out on the service clock, or an administrator lifts it (page and API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import ApiClient, text

LOCKED = "登录失败次数过多，账户已锁定，请 30 分钟后再试或联系管理员解锁"


def _token(api: ApiClient, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return api.client.post("/api/v1/auth/token", json={"username": username, "password": password},
                           environ_base={"REMOTE_ADDR": address})


def test_fifth_failure_locks_the_account_even_against_the_right_password(api: ApiClient) -> None:
    for _ in range(4):
        r = _token(api, "xfk1", "wrong")
        assert r.status_code == 401 and r.get_json()["message"] == "用户名或密码错误"
    r = _token(api, "xfk1", "wrong")
    assert r.status_code == 423 and r.get_json() == {"error": "account_locked", "message": LOCKED, "details": []}
    r = _token(api, "xfk1", "govflow-demo", address="10.0.0.2")  # another address: the account is locked
    assert r.status_code == 423 and r.get_json()["message"] == LOCKED
    assert _token(api, "fgw1", "govflow-demo", address="10.0.0.2").status_code == 200  # others are not
    assert _token(api, "admin", "govflow-demo").status_code == 200  # nor the address the 5 came from


def test_lock_runs_out_after_30_minutes_on_the_service_clock(api: ApiClient) -> None:
    from service import clock

    for _ in range(5):
        _token(api, "xfk1", "wrong")
    clock.advance(timedelta(minutes=29))
    assert _token(api, "xfk1", "govflow-demo", address="10.0.0.9").status_code == 423
    clock.advance(timedelta(minutes=2))
    assert _token(api, "xfk1", "govflow-demo", address="10.0.0.9").status_code == 200


def test_failures_outside_the_15_minute_window_do_not_count(api: ApiClient) -> None:
    from service import clock

    for _ in range(4):
        _token(api, "xfk1", "wrong")
    clock.advance(timedelta(minutes=16))
    assert _token(api, "xfk1", "wrong").status_code == 401  # the 5th, but the first 4 are stale
    assert _token(api, "xfk1", "govflow-demo").status_code == 200


def test_a_source_address_trying_many_accounts_is_locked_at_its_own_threshold(api: ApiClient) -> None:
    for n in range(19):
        _token(api, f"u{n}", "wrong", address="10.9.9.9")
    assert _token(api, "xfk1", "govflow-demo", address="10.9.9.9").status_code == 200  # 19 < 20
    _token(api, "u19", "wrong", address="10.9.9.9")  # the 20th failure from the address
    r = _token(api, "xfk1", "govflow-demo", address="10.9.9.9")
    assert r.status_code == 423 and r.get_json()["message"] == LOCKED
    assert _token(api, "xfk1", "govflow-demo", address="10.9.9.8").status_code == 200


def test_login_page_shows_the_lock_message(api: ApiClient) -> None:
    client = api.app.test_client()
    api.app.config["WTF_CSRF_ENABLED"] = False
    for _ in range(5):
        r = client.post("/login", data={"username": "zfb1", "password": "wrong"})
    assert r.status_code == 401 and LOCKED in text(r)
    r = client.post("/login", data={"username": "zfb1", "password": "govflow-demo"})
    assert r.status_code == 401 and LOCKED in text(r)


def test_admin_unlocks_through_the_api_and_the_page(api: ApiClient) -> None:
    admin = api.headers("admin")  # a token before the lock: admin logs in from elsewhere
    for _ in range(5):
        _token(api, "xfk1", "wrong")
    locks = api.client.get("/api/v1/admin/locks", headers=admin).get_json()
    mine = [lock for lock in locks if lock["kind"] == "user" and lock["subject"] == "xfk1"]
    assert len(mine) == 1
    assert api.client.get("/api/v1/admin/locks", headers=api.headers("fgw1")).status_code == 403
    r = api.client.post(f"/api/v1/admin/locks/{mine[0]['id']}/unlock", headers=admin)
    assert r.status_code == 200 and r.get_json()["unlocked_by"] == "admin"
    assert _token(api, "xfk1", "govflow-demo", address="10.0.0.3").status_code == 200
    assert api.client.post(f"/api/v1/admin/locks/{mine[0]['id']}/unlock", headers=admin).status_code == 404

    for _ in range(5):
        _token(api, "fgw1", "wrong", address="10.0.0.4")
    api.app.config["WTF_CSRF_ENABLED"] = False
    page = api.app.test_client()
    assert page.post("/login", data={"username": "admin", "password": "govflow-demo"}).status_code == 302
    listing = text(page.get("/admin/accounts"))
    assert "fgw1" in listing and "解锁" in listing
    lock_id = next(lock["id"] for lock in api.client.get("/api/v1/admin/locks", headers=admin).get_json()
                   if lock["subject"] == "fgw1")
    r = page.post(f"/admin/accounts/locks/{lock_id}/unlock")
    assert r.status_code == 302
    assert "已解除对 fgw1 的锁定" in text(page.get("/admin/accounts"))
    assert _token(api, "fgw1", "govflow-demo", address="10.0.0.5").status_code == 200
