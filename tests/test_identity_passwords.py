"""Password rules and forced change (身份鉴别): length ≥ 8 with three of four character classes,
not the username, not one of the last 5; a production account changes its password at first
login and every 90 days; the demo organisation is spared and says so on its login page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import login, text
from identity_support import PASSWORD, move_wall_clock, production_app


@pytest.fixture
def prod(db_url: str) -> Any:
    app = production_app(db_url)
    yield app
    app.extensions["govflow"].db.dispose()


def _change(client: Any, current: str, new: str, confirm: str | None = None) -> Any:
    return client.post("/me/password", data={"current": current, "new": new,
                                             "confirm": new if confirm is None else confirm})


def test_rules_name_each_broken_rule_in_chinese() -> None:
    from service.identity import password_problems

    assert password_problems("clerk", "Ab1!") == ["密码长度至少 8 个字符"]
    assert password_problems("clerk", "abcdefgh1") == ["密码须包含大写字母、小写字母、数字、符号中的至少三类"]
    assert password_problems("clerk", "Clerk-2026x") == ["密码不能包含用户名"]
    assert password_problems("clerk", "Good-Pass-1") == []


def test_first_login_forces_a_change_before_any_page(prod: Any) -> None:
    client = prod.test_client()
    r = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/me/password")
    r = client.get("/tasks")
    assert r.status_code == 302 and r.headers["Location"].endswith("/me/password")
    assert "首次登录或密码已到期" in text(client.get("/me/password"))
    r = _change(client, PASSWORD, "Brand-New-Pass9")
    assert r.status_code == 302
    assert client.get("/tasks").status_code == 200


def test_change_password_shows_field_errors_and_writes_nothing(prod: Any) -> None:
    from sqlalchemy import func, select

    from service.store.identity_models import PasswordHistory

    client = prod.test_client()
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    r = _change(client, "wrong", "short", "other")
    body = text(r)
    assert r.status_code == 422
    assert "当前密码不正确" in body and "密码长度至少 8 个字符" in body and "两次输入的新密码不一致" in body
    r = _change(client, PASSWORD, PASSWORD)
    assert r.status_code == 422 and "新密码不能与最近 5 次使用过的密码相同" in text(r)
    with prod.extensions["govflow"].db.read() as session:
        assert session.scalar(select(func.count()).select_from(PasswordHistory)) == 0


def test_none_of_the_last_five_passwords_may_return(prod: Any) -> None:
    client = prod.test_client()
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    current = PASSWORD
    for n in range(1, 7):
        new = f"Rotate-Pass-{n}"
        assert _change(client, current, new).status_code == 302
        current = new
    r = _change(client, current, "Rotate-Pass-2")  # the 5th back: refused
    assert r.status_code == 422 and "最近 5 次" in text(r)
    assert _change(client, current, "Rotate-Pass-1").status_code == 302  # the 6th back: allowed again


def test_expired_password_forces_a_change_after_90_days(prod: Any) -> None:
    client = prod.test_client()
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert _change(client, PASSWORD, "Fresh-Pass-77").status_code == 302
    client.post("/logout")
    move_wall_clock(timedelta(days=89))
    r = client.post("/login", data={"username": "clerk", "password": "Fresh-Pass-77"})
    assert r.status_code == 302 and not r.headers["Location"].endswith("/me/password")
    client.post("/logout")
    move_wall_clock(timedelta(days=2))
    r = client.post("/login", data={"username": "clerk", "password": "Fresh-Pass-77"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/me/password")


def test_api_token_refused_until_the_password_is_changed(prod: Any) -> None:
    r = prod.test_client().post("/api/v1/auth/token", json={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 403 and r.get_json()["message"] == "密码须修改：请先在网页登录并修改密码，再获取访问令牌"


def test_demo_organisation_keeps_its_passwords_and_says_so(page_app: Any) -> None:
    assert "演示环境：未启用强制改密和双因素认证" in text(page_app.test_client().get("/login"))
    client = login(page_app, "admin")  # no change, no second factor
    assert client.get("/tasks").status_code == 200


def test_production_login_page_has_no_demo_notice(prod: Any) -> None:
    assert "演示环境" not in text(prod.test_client().get("/login"))
