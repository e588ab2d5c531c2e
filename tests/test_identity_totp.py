"""The second factor (身份鉴别): members of the groups in `identity.second_factor_groups`
(admin by default) enrol a TOTP by QR code, then give a code after the password; recovery codes
are shown once, stored hashed and good once; API tokens are listed and revoked."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from conftest import ApiClient, text
from identity_support import PASSWORD, production_app


@pytest.fixture
def prod(db_url: str) -> Any:
    app = production_app(db_url)
    yield app
    app.extensions["govflow"].db.dispose()


def _now() -> Any:
    from service.identity import wall_now

    return wall_now()


def _enrolled_admin(app: Any) -> tuple[Any, str, list[str]]:
    """Log in admin for the first time: change the password, enrol, note the recovery codes."""
    from service.totp import code_at

    client = app.test_client()
    r = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert r.headers["Location"].endswith("/me/password")
    r = client.post("/me/password", data={"current": PASSWORD, "new": "Strong-Pass-2026", "confirm": "Strong-Pass-2026"})
    assert r.headers["Location"].endswith("/me/second-factor")
    assert client.get("/tasks").headers["Location"].endswith("/me/second-factor")
    page = text(client.get("/me/second-factor"))
    assert "<svg" in page and "<script" not in page.split('id="enrol-qr"')[1].split("</div>")[0]
    secret = re.search(r'id="enrol-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    r = client.post("/me/second-factor", data={"code": "000000" if code_at(secret, _now()) != "000000" else "111111"})
    assert r.status_code == 422 and "动态验证码不正确" in text(r)
    r = client.post("/me/second-factor", data={"code": code_at(secret, _now())})
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", text(r))
    assert r.status_code == 200 and len(codes) == 10
    assert client.get("/tasks").status_code == 200
    client.post("/logout")
    return client, secret, codes


def test_totp_is_required_for_admin(prod: Any) -> None:
    from service import clock
    from service.totp import code_at

    client, secret, _codes = _enrolled_admin(prod)
    r = client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    assert r.headers["Location"].endswith("/login/verify")
    assert client.get("/tasks").headers["Location"].endswith("/login/verify")
    r = client.post("/login/verify", data={"code": "12345"})
    assert r.status_code == 401 and "动态验证码不正确或已使用" in text(r)
    from datetime import timedelta
    clock.start_from(clock.now() - clock.offset() + timedelta(seconds=60))  # a fresh 30-second step
    code = code_at(secret, _now())
    assert client.post("/login/verify", data={"code": code}).status_code == 302
    assert client.get("/tasks").status_code == 200
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    r = client.post("/login/verify", data={"code": code})  # the same code twice: refused
    assert r.status_code == 401 and "动态验证码不正确或已使用" in text(r)


def test_a_member_of_no_listed_group_needs_no_second_factor(prod: Any) -> None:
    client = prod.test_client()
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    r = client.post("/me/password", data={"current": PASSWORD, "new": "Desk-Pass-2026x", "confirm": "Desk-Pass-2026x"})
    assert r.status_code == 302 and not r.headers["Location"].endswith("/me/second-factor")
    assert client.get("/tasks").status_code == 200


def test_recovery_code_works_once_and_is_stored_hashed(prod: Any) -> None:
    from sqlalchemy import select

    from service.store.identity_models import RecoveryCode

    client, _secret, codes = _enrolled_admin(prod)
    with prod.extensions["govflow"].db.read() as session:
        stored = list(session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & set(stored)
    client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 302
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 401


def test_api_token_for_admin_needs_the_code(prod: Any) -> None:
    from service.totp import code_at

    _client, secret, _codes = _enrolled_admin(prod)
    api = prod.test_client()
    r = api.post("/api/v1/auth/token", json={"username": "admin", "password": "Strong-Pass-2026"})
    assert r.status_code == 401 and r.get_json()["message"] == "动态验证码不正确或已使用"
    from datetime import timedelta

    from service import clock
    clock.start_from(clock.now() - clock.offset() + timedelta(seconds=60))
    r = api.post("/api/v1/auth/token", json={"username": "admin", "password": "Strong-Pass-2026",
                                             "otp": code_at(secret, _now())})
    assert r.status_code == 200 and r.get_json()["user"]["username"] == "admin"


def test_tokens_are_listed_and_revoked_by_their_owner_and_admin(api: ApiClient) -> None:
    mine = api.headers("xfk1")
    listed = api.client.get("/api/v1/me/tokens", headers=mine).get_json()
    assert [t["username"] for t in listed] == ["xfk1"]
    other = api.client.post("/api/v1/auth/token", json={"username": "xfk1", "password": "govflow-demo"}).get_json()
    assert len(api.client.get("/api/v1/me/tokens", headers=mine).get_json()) == 2
    victim = hashlib.sha256(other["token"].encode()).hexdigest()
    assert api.client.post(f"/api/v1/me/tokens/{victim}/revoke", headers=api.headers("fgw1")).status_code == 404
    assert api.client.post(f"/api/v1/me/tokens/{victim}/revoke", headers=mine).status_code == 200
    r = api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {other['token']}"})
    assert r.status_code == 401 and r.get_json()["message"] == "访问令牌无效，请重新获取"
    assert api.client.get("/api/v1/admin/tokens", headers=mine).status_code == 403
    admin = api.headers("admin")
    assert api.client.post(f"/api/v1/admin/tokens/{_digest(mine)}/revoke", headers=admin).status_code == 200
    assert api.client.get("/api/v1/tasks", headers=mine).status_code == 401


def _digest(headers: dict[str, str]) -> str:
    return hashlib.sha256(headers["Authorization"][7:].encode()).hexdigest()


def test_my_tokens_page_lists_and_revokes(page_app: Any) -> None:
    from conftest import login

    page_app.test_client().post("/api/v1/auth/token", json={"username": "xfk1", "password": "govflow-demo"})
    client = login(page_app, "xfk1")
    body = text(client.get("/me/tokens"))
    token_id = re.search(r'data-token="([0-9a-f]{64})"', body).group(1)  # type: ignore[union-attr]
    assert client.post(f"/me/tokens/{token_id}/revoke").status_code == 302
    assert "没有有效的访问令牌" in text(client.get("/me/tokens"))


def test_the_default_second_factor_groups_are_admin_and_every_procedures_leaders() -> None:
    """`@leaders` in the setting stands for the groups the procedures declare as supervisors."""
    from service import procedure, totp

    required = totp.required_groups()
    leaders = frozenset().union(*(p.supervisors for p in procedure.registry()))
    assert "admin" in required and leaders <= required and "@leaders" not in required
    assert {"office_leader", "secretary_general", "leadership"} <= required


def test_in_the_demo_organisation_a_user_who_enrolled_by_choice_must_give_the_code(page_app: Any) -> None:
    """The demo asks nobody for a second factor, but one who enrolled on /me/second-factor (to try
    it, or for real) is asked for the code from then on, on the pages and for API tokens."""
    from datetime import timedelta

    from service import clock
    from service.totp import code_at

    client = page_app.test_client()
    assert client.post("/login", data={"username": "admin", "password": "govflow-demo"}).status_code == 302
    assert client.get("/tasks").status_code == 200  # no second factor asked
    page = text(client.get("/me/second-factor"))
    secret = re.search(r'id="enrol-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    r = client.post("/me/second-factor", data={"code": code_at(secret, _now())})
    assert r.status_code == 200 and len(re.findall(r"<li><code>([a-z0-9-]+)</code></li>", text(r))) == 10
    client.post("/logout")
    r = client.post("/login", data={"username": "admin", "password": "govflow-demo"})
    assert r.headers["Location"].endswith("/login/verify")
    api = page_app.test_client()
    r = api.post("/api/v1/auth/token", json={"username": "admin", "password": "govflow-demo"})
    assert r.status_code == 401 and r.get_json()["message"] == "动态验证码不正确或已使用"
    clock.start_from(clock.now() - clock.offset() + timedelta(seconds=60))  # a fresh 30-second step
    assert client.post("/login/verify", data={"code": code_at(secret, _now())}).status_code == 302
    assert client.get("/tasks").status_code == 200


def test_the_totp_secret_is_stored_sealed(prod: Any) -> None:
    from sqlalchemy import text as sql

    _client, secret, _codes = _enrolled_admin(prod)
    with prod.extensions["govflow"].db.read() as session:
        stored = session.execute(sql("SELECT totp_secret FROM credentials WHERE totp_secret IS NOT NULL")).scalar_one()
    assert secret not in stored and stored.startswith("gf1:")
