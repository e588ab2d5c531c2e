"""组织管理, users: the administrator creates users (the password rules apply to the initial
password, changed at first login outside the demo organisation), edits them, deactivates them —
never deletes: they cannot sign in, their tokens stop working, the history keeps their name — and
reactivates them, resets passwords (changed at the next login) and unlocks; the last active
administrator cannot be deactivated; every change is one audit row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ApiClient, login, start, text
from identity_support import production_app

GOOD = "Good-Pass-2026"


@pytest.fixture
def audited(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """(kind, target) of every audit row written (the audit log's own rows are its tests')."""
    from service import audit

    rows: list[tuple[str, str | None]] = []
    original = audit.record

    def record(session: Any, kind: str, **kw: Any) -> None:
        rows.append((kind, kw.get("target")))
        original(session, kind, **kw)

    monkeypatch.setattr(audit, "record", record)
    return rows


@pytest.fixture
def prod(sqlite_url: str) -> Iterator[Any]:
    app = production_app(sqlite_url)
    yield app
    app.extensions["govflow"].db.dispose()


def _write(app: Any) -> Any:
    return app.extensions["govflow"].db.write()


def test_a_weak_initial_password_is_refused_with_the_rules_message(sqlite_api: ApiClient) -> None:
    r = sqlite_api.post("admin", "/api/v1/users", json={"username": "zhang3", "name": "张三", "password": "short"})
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == "用户未创建"
    assert {"field": "password", "message": "密码长度至少 8 个字符；密码须包含大写字母、小写字母、数字、符号中的至少三类"} \
        in body["details"]
    assert sqlite_api.get("admin", "/api/v1/users/zhang3").status_code == 404


def test_the_page_shows_each_field_error_and_creates_nothing(page_app: Any) -> None:
    client = login(page_app, "admin")
    r = client.post("/admin/users", data={"username": "Zhang San", "name": "", "email": "not-an-address",
                                          "phone": "call me", "password": "zhangsan1", "groups": ["nosuch"]})
    body = text(r)
    assert r.status_code == 422
    for message in ("用户名须以小写字母开头", "请填写姓名", "电子邮箱格式不正确", "电话只能包含数字",
                    "密码须包含大写字母、小写字母、数字、符号中的至少三类", "组不存在：nosuch"):
        assert message in body
    assert client.get("/admin/users?q=zhang").status_code == 200
    assert "Zhang San" not in text(client.get("/admin/users?q=zhang"))


def test_usernames_are_unique_even_when_deactivated_and_system_is_reserved(sqlite_api: ApiClient) -> None:
    sqlite_api.post("admin", "/api/v1/users/xfk2/deactivate")
    r = sqlite_api.post("admin", "/api/v1/users", json={"username": "xfk2", "name": "新人", "password": GOOD})
    assert r.status_code == 422 and "已被使用" in r.get_json()["details"][0]["message"]
    r = sqlite_api.post("admin", "/api/v1/users", json={"username": "system", "name": "系统", "password": GOOD})
    assert r.status_code == 422 and "系统保留" in r.get_json()["details"][0]["message"]


def test_a_created_user_changes_the_initial_password_at_first_login(prod: Any, audited: list) -> None:
    from service import organisation

    with _write(prod) as session:
        made = organisation.create_user(session, {"username": "wang5", "name": "王五", "phone": "0883-2123456",
                                                  "email": "wang5@example.gov.cn", "groups": ["dept_xfk"],
                                                  "password": GOOD})
    assert made == {"username": "wang5", "password": None}
    assert ("user", "wang5") in audited and ("membership", "dept_xfk/wang5") in audited
    client = prod.test_client()
    r = client.post("/login", data={"username": "wang5", "password": GOOD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/me/password")


def test_in_the_demo_organisation_a_created_user_signs_in_without_a_forced_change(sqlite_api: ApiClient) -> None:
    r = sqlite_api.post("admin", "/api/v1/users", json={"username": "zhang3", "name": "张三", "password": GOOD,
                                                        "groups": ["xfk"]})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["groups"] == ["xfk"] and "password" not in r.get_json()
    r = sqlite_api.client.post("/api/v1/auth/token", json={"username": "zhang3", "password": GOOD})
    assert r.status_code == 200 and r.get_json()["user"]["groups"] == ["xfk"]


def test_without_a_password_the_api_generates_one_that_meets_the_rules(sqlite_api: ApiClient) -> None:
    from service.identity import password_problems

    r = sqlite_api.post("admin", "/api/v1/users", json={"username": "li4", "name": "李四"})
    assert r.status_code == 201
    password = r.get_json()["password"]
    assert password_problems("li4", password) == []
    assert sqlite_api.client.post("/api/v1/auth/token", json={"username": "li4", "password": password}).status_code == 200


def test_name_email_and_phone_are_changed_and_checked(sqlite_api: ApiClient, audited: list) -> None:
    r = sqlite_api.client.patch("/api/v1/users/xfk1", headers=sqlite_api.headers("admin"),
                                json={"name": "信访科 张明", "email": "zm@example.gov.cn", "phone": "13800000000"})
    assert r.status_code == 200
    assert (r.get_json()["name"], r.get_json()["email"], r.get_json()["phone"]) == \
        ("信访科 张明", "zm@example.gov.cn", "13800000000")
    assert ("user", "xfk1") in audited
    r = sqlite_api.client.patch("/api/v1/users/xfk1", headers=sqlite_api.headers("admin"),
                                json={"email": "zm", "username": "other"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.get_json()["details"]}
    assert fields == {"email", "username"}
    assert sqlite_api.get("admin", "/api/v1/users/xfk1").get_json()["email"] == "zm@example.gov.cn"


def test_a_deactivated_user_cannot_sign_in_and_their_token_stops_working(sqlite_api: ApiClient,
                                                                          audited: list) -> None:
    app = sqlite_api.app
    app.config.update(WTF_CSRF_ENABLED=False, TESTING=True)
    headers = sqlite_api.headers("xfk1")
    page = login(app, "xfk1")
    assert sqlite_api.client.get("/api/v1/tasks", headers=headers).status_code == 200
    r = sqlite_api.post("admin", "/api/v1/users/xfk1/deactivate")
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert ("user", "xfk1") in audited
    assert sqlite_api.client.get("/api/v1/tasks", headers=headers).status_code == 401
    r = page.get("/tasks")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    r = app.test_client().post("/login", data={"username": "xfk1", "password": "govflow-demo"})
    assert r.status_code == 401 and "用户名或密码错误" in text(r)
    r = sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk1", "password": "govflow-demo"})
    assert r.status_code == 401
    assert sqlite_api.post("admin", "/api/v1/users/xfk1/deactivate").status_code == 409
    r = sqlite_api.post("admin", "/api/v1/users/xfk1/reactivate")
    assert r.status_code == 200 and r.get_json()["active"] is True
    assert sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk1", "password": "govflow-demo"}) \
        .status_code == 200


def test_the_history_keeps_a_deactivated_users_name(sqlite_api: ApiClient) -> None:
    iid = start(sqlite_api)
    assert sqlite_api.post("admin", "/api/v1/users/xfk1/deactivate").status_code == 200
    app = sqlite_api.app
    app.config.update(WTF_CSRF_ENABLED=False, TESTING=True)
    page = text(login(app, "admin").get(f"/instances/{iid}"))
    assert "信访科 张科员" in page
    from service.store.models import User

    with app.extensions["govflow"].db.read() as session:
        assert session.query(User).filter(User.username == "xfk1").one().active is False  # kept, not deleted


def test_a_deactivated_users_claimed_tasks_go_back_to_the_group(sqlite_api: ApiClient) -> None:
    iid = start(sqlite_api)
    task = sqlite_api.task("xfk1", iid, "classify")
    assert sqlite_api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    assert sqlite_api.post("admin", "/api/v1/users/xfk1/deactivate").status_code == 200
    # nobody holds it any more: a colleague of the group claims it
    assert sqlite_api.post("xfk2", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    from service.store.models import History

    with sqlite_api.app.extensions["govflow"].db.read() as session:
        row = session.query(History).filter(History.instance_id == iid, History.action == "unclaim").one()
    assert (row.username, row.task_id, row.comment) == ("admin", task["id"], "用户 信访科 张科员 已停用，签收退回")


def test_the_last_active_administrator_cannot_be_deactivated_or_leave_the_group(sqlite_api: ApiClient) -> None:
    r = sqlite_api.post("admin", "/api/v1/users/admin/deactivate")
    assert r.status_code == 409 and "最后一个在用的系统管理员" in r.get_json()["message"]
    r = sqlite_api.client.delete("/api/v1/groups/admin/members/admin", headers=sqlite_api.headers("admin"))
    assert r.status_code == 409
    # with a second administrator the first may go
    assert sqlite_api.client.put("/api/v1/groups/admin/members/xfk2", headers=sqlite_api.headers("admin")) \
        .status_code == 200
    assert sqlite_api.post("admin", "/api/v1/users/admin/deactivate").status_code == 200
    assert sqlite_api.post("xfk2", "/api/v1/users/xfk2/deactivate").status_code == 409


def test_a_reset_password_must_be_changed_at_the_next_login(prod: Any, audited: list) -> None:
    from service import auth, organisation
    from service.errors import Invalid
    from service.store.models import ApiToken, User

    with _write(prod) as session:
        organisation.create_user(session, {"username": "wang5", "name": "王五", "password": GOOD})
    client = prod.test_client()
    client.post("/login", data={"username": "wang5", "password": GOOD})
    client.post("/me/password", data={"current": GOOD, "new": "Second-Pass-77", "confirm": "Second-Pass-77"})
    with _write(prod) as session:
        user = session.query(User).filter(User.username == "wang5").one()
        auth.issue_token(session, user)
    with _write(prod) as session:
        with pytest.raises(Invalid) as refused:
            organisation.reset_password(session, "wang5", "wang5-Pass-1")
        assert refused.value.details == [{"field": "password", "message": "密码不能包含用户名"}]
        generated = organisation.reset_password(session, "wang5")
    assert generated and ("password_reset", "wang5") in audited
    with prod.extensions["govflow"].db.read() as session:
        assert session.query(ApiToken).count() == 0  # the old tokens are revoked with the reset
    r = prod.test_client().post("/login", data={"username": "wang5", "password": generated})
    assert r.status_code == 302 and r.headers["Location"].endswith("/me/password")


def test_the_page_resets_a_password_and_asks_for_one(page_app: Any) -> None:
    client = login(page_app, "admin")
    r = client.post("/admin/users/xfk1/reset-password", data={"password": ""})
    assert r.status_code == 422 and "请填写新密码" in text(r)
    r = client.post("/admin/users/xfk1/reset-password", data={"password": "New-Pass-2026"})
    assert r.status_code == 302
    assert page_app.test_client().post("/login", data={"username": "xfk1", "password": "New-Pass-2026"}) \
        .status_code == 302


def test_an_administrator_unlocks_a_locked_account(sqlite_api: ApiClient, audited: list) -> None:
    elsewhere = {"REMOTE_ADDR": "10.0.0.9"}  # the failures lock that address too; the admin works from another
    for _ in range(5):
        sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk2", "password": "wrong"},
                               environ_base=elsewhere)
    r = sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk2", "password": "govflow-demo"})
    assert r.status_code == 423
    assert sqlite_api.get("admin", "/api/v1/users/xfk2").get_json()["locked"] is True
    r = sqlite_api.post("admin", "/api/v1/users/xfk2/unlock")
    assert r.status_code == 200 and r.get_json()["unlocked"] == 1 and r.get_json()["locked"] is False
    assert audited.count(("unlock", "xfk2")) == 1  # lockout.unlock's row, not a second one
    assert sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk2", "password": "govflow-demo"}) \
        .status_code == 200
    r = sqlite_api.post("admin", "/api/v1/users/xfk2/unlock")
    assert r.status_code == 404 and r.get_json()["message"] == "用户 信访科 李科员（xfk2）当前未被锁定"


def test_the_users_page_searches_and_the_pages_are_the_administrators(page_app: Any) -> None:
    admin = login(page_app, "admin")
    body = text(admin.get("/admin/users?q=信访科"))
    assert 'data-username="xfk1"' in body and 'data-username="fgw1"' not in body
    body = text(admin.get("/admin/users?group=dept_fgw"))
    assert 'data-username="fgw1"' in body and 'data-username="xfk1"' not in body
    clerk = login(page_app, "xfk1")
    for path in ("/admin/users", "/admin/users/new", "/admin/users/xfk1", "/admin/groups", "/admin/groups/xfk",
                 "/admin/users/export"):
        r = clerk.get(path)
        assert r.status_code == 403 and "只有系统管理员可以管理用户和组织" in text(r), path
    assert clerk.post("/admin/users/xfk2/deactivate").status_code == 403
