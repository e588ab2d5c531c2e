"""组织管理, groups and memberships: a group has a kind of a small fixed set (部门, 县区, 领导, 办公室,
平台), is renamed or given another kind but never re-keyed (the diagrams name the key);
memberships are added and removed; migration 0021 marks the platform's own groups of an older
database and leaves the others 办公室 for the administrator (it names no office's groups); the demo organisation is loaded through the same code, idempotently; the
API is the administrator's alone."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ApiClient, login, text


def _api(api: ApiClient, method: str, user: str, path: str, json: Any = None) -> Any:
    return getattr(api.client, method)(path, headers=api.headers(user), json=json)


def test_a_group_is_created_with_a_kind_of_the_fixed_set(api: ApiClient) -> None:
    r = api.post("admin", "/api/v1/groups", json={"key": "dept_jjw", "name": "教育科学文化卫生委员会", "kind": "部门"})
    assert r.status_code == 201, r.get_json()
    assert (r.get_json()["kind"], r.get_json()["kind_label"], r.get_json()["members"]) == ("department", "部门", 0)
    r = api.post("admin", "/api/v1/groups", json={"key": "Dept JJW", "name": "", "kind": "委员会"})
    assert r.status_code == 422
    messages = {d["field"]: d["message"] for d in r.get_json()["details"]}
    assert messages == {"key": "组标识须以小写字母开头，由小写字母、数字或下划线组成，共 2 至 64 个字符",
                        "name": "请填写组名称", "kind": "组类别须为：部门、县区、领导、办公室、平台"}
    r = api.post("admin", "/api/v1/groups", json={"key": "dept_jjw", "name": "重复", "kind": "office"})
    assert r.status_code == 422 and r.get_json()["details"][0]["message"] == "组标识 dept_jjw 已存在"


def test_a_group_is_renamed_and_given_another_kind_but_keeps_its_key(sqlite_api: ApiClient) -> None:
    r = _api(sqlite_api, "patch", "admin", "/api/v1/groups/zzb", {"name": "综合治理办公室", "kind": "leaders"})
    assert r.status_code == 200
    assert (r.get_json()["name"], r.get_json()["kind"]) == ("综合治理办公室", "leaders")
    r = _api(sqlite_api, "patch", "admin", "/api/v1/groups/zzb", {"key": "office_zzb"})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "key", "message": "组标识不能修改：流程图按组标识分派任务"}]
    r = _api(sqlite_api, "patch", "admin", "/api/v1/groups/nosuch", {"name": "无"})
    assert r.status_code == 404 and r.get_json()["message"] == "组不存在：nosuch"


def test_memberships_are_added_and_removed(sqlite_api: ApiClient) -> None:
    r = _api(sqlite_api, "put", "admin", "/api/v1/groups/dept_fgw/members/xfk2")
    assert r.status_code == 200 and r.get_json()["added"] is True
    assert "xfk2" in [m["username"] for m in r.get_json()["member_rows"]]
    assert _api(sqlite_api, "put", "admin", "/api/v1/groups/dept_fgw/members/xfk2").get_json()["added"] is False
    assert sorted(sqlite_api.get("admin", "/api/v1/users/xfk2").get_json()["groups"]) == ["dept_fgw", "xfk"]
    r = sqlite_api.client.post("/api/v1/auth/token", json={"username": "xfk2", "password": "govflow-demo"})
    assert sorted(r.get_json()["user"]["groups"]) == ["dept_fgw", "xfk"]
    r = _api(sqlite_api, "delete", "admin", "/api/v1/groups/dept_fgw/members/xfk2")
    assert r.status_code == 200 and r.get_json()["removed"] is True
    assert sqlite_api.get("admin", "/api/v1/users/xfk2").get_json()["groups"] == ["xfk"]
    assert _api(sqlite_api, "put", "admin", "/api/v1/groups/dept_fgw/members/nobody").status_code == 404


def test_group_and_membership_changes_are_audited(sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import audit

    rows: list[tuple[str, str | None, str]] = []
    original = audit.record
    monkeypatch.setattr(audit, "record", lambda s, kind, **kw: (rows.append((kind, kw.get("target"), kw.get("detail", ""))),
                                                              original(s, kind, **kw))[-1])
    sqlite_api.post("admin", "/api/v1/groups", json={"key": "county_yx", "name": "云县人大常委会", "kind": "county"})
    _api(sqlite_api, "patch", "admin", "/api/v1/groups/county_yx", {"name": "云县人大"})
    _api(sqlite_api, "patch", "admin", "/api/v1/groups/county_yx", {"name": "云县人大"})  # no change: no row
    _api(sqlite_api, "put", "admin", "/api/v1/groups/county_yx/members/linxiang1")
    _api(sqlite_api, "delete", "admin", "/api/v1/groups/county_yx/members/linxiang1")
    rows = [row for row in rows if row[0] in ("group", "membership")]  # not the token's login
    assert [(k, t) for k, t, _d in rows] == [("group", "county_yx"), ("group", "county_yx"),
                                             ("membership", "county_yx/linxiang1"),
                                             ("membership", "county_yx/linxiang1")]
    assert rows[1][2] == "名称由 云县人大常委会 改为 云县人大"


def test_the_group_pages_create_rename_and_manage_members(page_app: Any) -> None:
    client = login(page_app, "admin")
    r = client.post("/admin/groups", data={"key": "x", "name": "", "kind": ""})
    assert r.status_code == 422 and "请填写组名称" in text(r) and "组类别须为" in text(r)
    r = client.post("/admin/groups", data={"key": "dept_yjw", "name": "预算工作委员会", "kind": "department"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/groups/dept_yjw")
    r = client.post("/admin/groups/dept_yjw/members", data={"username": "nobody"})
    assert r.status_code == 422 and "用户不存在：nobody" in text(r)
    assert client.post("/admin/groups/dept_yjw/members", data={"username": "cjw1"}).status_code == 302
    body = text(client.get("/admin/groups/dept_yjw"))
    assert 'data-username="cjw1"' in body
    assert client.post("/admin/groups/dept_yjw", data={"name": "预算委", "kind": "office"}).status_code == 302
    body = text(client.get("/admin/groups?kind=office"))
    assert 'data-group="dept_yjw"' in body and "预算委" in body
    assert 'data-group="dept_fgw"' not in body
    assert client.post("/admin/groups/dept_yjw/members/cjw1/remove").status_code == 302
    assert 'data-username="cjw1"' not in text(client.get("/admin/groups/dept_yjw"))


def test_the_demo_organisation_has_kinds_and_loads_again_without_changes(sqlite_app: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from service import audit
    from service.demo import load_demo
    from service.store.models import Group

    with sqlite_app.extensions["govflow"].db.read() as session:
        kinds = {g.key: g.kind for g in session.scalars(select(Group))}
    assert kinds["admin"] == "platform" and kinds["dept_fgw"] == "department"
    assert kinds["county_linxiang"] == "county" and kinds["county_linxiang_leader"] == "leaders"
    assert kinds["leadership"] == "leaders" and kinds["xfk"] == "office"
    rows: list[str] = []
    monkeypatch.setattr(audit, "record", lambda *a, **kw: rows.append(a[1]))
    with sqlite_app.extensions["govflow"].db.write() as session:
        load_demo(session)
    assert rows == []  # idempotent: nothing changed, nothing recorded


def test_migration_0021_marks_the_platform_groups_and_leaves_the_rest_to_the_administrator(db_url: str) -> None:
    from migration_steps import move_to
    from sqlalchemy import text as sql

    from service.store.db import Database

    db = Database(db_url)
    try:
        move_to(db, db_url, "0020")
        with db.engine.begin() as conn:
            for key in ("admin", "designer", "dept_fgw", "county_linxiang", "county_linxiang_leader", "xfk",
                        "office_leader"):
                conn.execute(sql("INSERT INTO groups (key, name) VALUES (:k, :k)"), {"k": key})
        db.migrate()
        with db.engine.connect() as conn:
            kinds = dict(conn.execute(sql("SELECT key, kind FROM groups")).all())
        assert kinds == {"admin": "platform", "designer": "platform", "dept_fgw": "office",
                         "county_linxiang": "office", "county_linxiang_leader": "office", "xfk": "office",
                         "office_leader": "office"}
        move_to(db, db_url, "0020", down=True)
    finally:
        db.dispose()


ADMIN_ONLY = [("get", "/api/v1/users"), ("post", "/api/v1/users"), ("get", "/api/v1/users/xfk1"),
              ("patch", "/api/v1/users/xfk1"), ("post", "/api/v1/users/xfk2/deactivate"),
              ("post", "/api/v1/users/xfk2/reactivate"), ("post", "/api/v1/users/xfk2/reset-password"),
              ("post", "/api/v1/users/xfk2/unlock"), ("get", "/api/v1/groups"), ("post", "/api/v1/groups"),
              ("get", "/api/v1/groups/xfk"), ("patch", "/api/v1/groups/xfk"),
              ("put", "/api/v1/groups/xfk/members/fgw1"), ("delete", "/api/v1/groups/xfk/members/xfk2")]


def test_the_organisation_api_is_the_administrators_alone(sqlite_api: ApiClient) -> None:
    for method, path in ADMIN_ONLY:
        r = _api(sqlite_api, method, "xfk1", path, {"name": "x"})
        assert r.status_code == 403, (method, path)
        assert r.get_json()["message"] == "只有系统管理员可以管理用户和组织"
    for method, path in ADMIN_ONLY[:3]:
        assert getattr(sqlite_api.client, method)(path, json={}).status_code == 401
    assert sqlite_api.get("admin", "/api/v1/users/xfk2").get_json()["active"] is True
    assert sqlite_api.get("admin", "/api/v1/groups").status_code == 200


def test_the_organisation_templates_run_no_inline_script() -> None:
    """The Content-Security-Policy allows no inline script: behaviour is in static/org.js."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parent.parent / "service" / "web" / "templates"
    for path in [*templates.glob("org_*.html"), templates / "_org_macros.html"]:
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path.name
        assert not re.search(r"\son[a-z]+\s*=", source), path.name
