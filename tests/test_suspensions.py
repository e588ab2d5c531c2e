"""停权 (网站管理制度 第十一条): the administrator suspends a member's rights in a group some
procedure declares suspendable, and restores them; both need a reason and are recorded (who, when,
why). While suspended, the member's Actor lacks that group: they cannot start as it nor act on its
tasks (their claimed ones go back to the group). The procedure is tests/derive_procedure.py
(`suspendable=("county_*_web",)`, county web admins start by pattern)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, login, text
from derive_procedure import KEY, installed

SUSPEND = "/api/v1/admin/suspensions"
RESTORE = "/api/v1/admin/suspensions/restore"
LXWEB = {"username": "lxweb1", "group": "county_linxiang_web"}


@pytest.fixture
def sapp(app: Any, tmp_path: Path) -> Iterator[Any]:
    with installed(app, tmp_path / "forms"):
        yield app


@pytest.fixture
def sapi(sapp: Any) -> ApiClient:
    return ApiClient(sapp)


def _start(api: ApiClient, user: str = "lxweb1") -> Any:
    return api.post(user, "/api/v1/instances", json={"process": KEY, "data": {"title": "县区稿件"}})


def _suspend(api: ApiClient, reason: str = "多次上传错误稿件，且不按要求整改") -> Any:
    return api.post("admin", SUSPEND, json={**LXWEB, "reason": reason})


def test_a_suspended_county_web_admin_can_neither_start_nor_act_until_restored(sapi: ApiClient) -> None:
    iid = _start(sapi).get_json()["id"]
    handle = sapi.task("lxweb1", iid, "handle")
    r = _suspend(sapi)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["suspended"] is True and r.get_json()["by"] == "admin"
    # cannot start (403), the task offered to the group is gone from the inbox and refused (403)
    refused = _start(sapi)
    assert refused.status_code == 403 and refused.get_json()["message"] == "您无权发起此流程"
    assert sapi.tasks("lxweb1") == []
    done = sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/complete", json={"data": {"comment": "停权中"}})
    assert done.status_code == 403 and done.get_json()["message"] == "您无权办理此任务"
    # the rest of the group's rights are the procedure's as before: web1 still starts
    assert _start(sapi, "web1").status_code == 201
    back = sapi.post("admin", RESTORE, json={**LXWEB, "reason": "已整改到位"})
    assert back.status_code == 200, back.get_json()
    assert back.get_json()["suspended"] is False
    assert _start(sapi).status_code == 201
    done = sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/complete", json={"data": {"comment": "恢复后办理"}})
    assert done.status_code == 200, done.get_json()


def test_the_record_keeps_who_when_and_why_of_both_events(sapi: ApiClient) -> None:
    from service import clock

    assert _suspend(sapi, "稿件反复出现失误").status_code == 201
    assert sapi.post("admin", RESTORE, json={**LXWEB, "reason": "整改完毕"}).status_code == 200
    view = sapi.get("admin", SUSPEND).get_json()
    record = [(e["action"], e["username"], e["group"], e["by"], e["reason"]) for e in view["record"]]
    assert record == [("restore", "lxweb1", "county_linxiang_web", "admin", "整改完毕"),
                      ("suspend", "lxweb1", "county_linxiang_web", "admin", "稿件反复出现失误")]
    # when: the service clock's moment of each event (the suite's clock runs from 2026-12-01 10:00)
    restored, suspended = (clock.parse_datetime(e["at"]) for e in view["record"])
    assert suspended <= restored <= clock.now()
    assert (clock.now() - suspended).total_seconds() < 60 and suspended.date().isoformat() == "2026-12-01"
    assert view["record"][0]["action_label"] == "恢复" and view["record"][1]["action_label"] == "停权"
    member = next(m for m in view["members"] if m["username"] == "lxweb1" and m["group"] == "county_linxiang_web")
    assert member["suspended"] is False and member["last"]["reason"] == "整改完毕"
    assert member["group_name"] == "临翔区人大网站管理员"


def test_suspending_twice_and_restoring_an_unsuspended_membership_are_conflicts(sapi: ApiClient) -> None:
    r = sapi.post("admin", RESTORE, json={**LXWEB, "reason": "无"})
    assert r.status_code == 409 and "未被停用" in r.get_json()["message"]
    assert _suspend(sapi).status_code == 201
    again = _suspend(sapi)
    assert again.status_code == 409 and "不能重复停权" in again.get_json()["message"]
    assert len(sapi.get("admin", SUSPEND).get_json()["record"]) == 1  # the refused ones wrote nothing


def test_two_administrators_suspending_at_once_get_one_event_and_one_conflict(
        sapi: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second of two simultaneous suspensions read the membership before the first wrote:
    its insert of the same (user, group, seq) fails on the unique constraint: 409, nothing written."""
    from service import suspensions

    assert _suspend(sapi).status_code == 201
    monkeypatch.setattr(suspensions, "_events", lambda *_args: [])  # as read before the first committed
    r = _suspend(sapi, "同时提交")
    assert r.status_code == 409 and r.get_json()["message"] == "该权限刚被他人停用或恢复，请刷新后重试"
    monkeypatch.undo()
    assert [e["reason"] for e in sapi.get("admin", SUSPEND).get_json()["record"]] == ["多次上传错误稿件，且不按要求整改"]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"username": "nobody", "group": "county_linxiang_web", "reason": "x"}, "username", "用户 nobody 不存在"),
    ({"username": "lxweb1", "group": "no_such_group", "reason": "x"}, "group", "组 no_such_group 不存在"),
    ({"username": "linxiang1", "group": "county_linxiang", "reason": "x"}, "group",
     "“临翔区人大常委会”不是可停权的岗位（没有流程声明可对其成员停权）"),
    ({"username": "admin", "group": "admin", "reason": "x"}, "group",
     "“系统管理员”不是可停权的岗位（没有流程声明可对其成员停权）"),
    ({"username": "web1", "group": "county_linxiang_web", "reason": "x"}, "group",
     "网站管理员（web1）不是“临翔区人大网站管理员”的成员"),
    ({**LXWEB, "reason": "  "}, "reason", "请填写理由"),
    ({**LXWEB}, "reason", "请填写理由"),
    ({**LXWEB, "reason": "过" * 501}, "reason", "理由不能超过500字"),
])
def test_a_bad_request_is_422_in_chinese_and_writes_nothing(sapi: ApiClient, body: dict[str, str], field: str,
                                                            message: str) -> None:
    r = sapi.post("admin", SUSPEND, json=body)
    assert r.status_code == 422, r.get_json()
    assert {"field": field, "message": message} in r.get_json()["details"]
    assert sapi.get("admin", SUSPEND).get_json()["record"] == []


def test_only_the_administrator_may_suspend_restore_or_read_the_record(sapp: Any, sapi: ApiClient) -> None:
    for user in ("web1", "lxweb1", "bgs"):
        assert sapi.get(user, SUSPEND).status_code == 403
        r = sapi.post(user, SUSPEND, json={**LXWEB, "reason": "越权"})
        assert r.status_code == 403 and r.get_json()["message"] == "只有系统管理员可以停权或恢复权限"
        assert sapi.post(user, RESTORE, json={**LXWEB, "reason": "越权"}).status_code == 403
    sapp.config["WTF_CSRF_ENABLED"] = False
    assert login(sapp, "web1").get("/admin/suspensions").status_code == 403
    assert login(sapp, "web1").post("/admin/suspensions", data={**LXWEB, "reason": "越权"}).status_code == 403
    assert sapi.get("admin", SUSPEND).get_json()["record"] == []


def test_a_suspended_members_claimed_tasks_go_back_to_the_group(sapp: Any, sapi: ApiClient) -> None:
    from sqlalchemy import select

    from service.store.models import History, HumanTask

    iid = _start(sapi).get_json()["id"]
    handle = sapi.task("lxweb1", iid, "handle")
    assert sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/claim").status_code == 200
    made = _suspend(sapi, "稿件失误")
    assert made.get_json()["released_tasks"] == [handle["id"]]
    with sapp.extensions["govflow"].db.read() as session:
        assert session.get(HumanTask, handle["id"]).assignee is None
        released = session.scalars(select(History).where(History.instance_id == iid, History.action == "unclaim")).one()
        assert (released.username, released.comment) == ("admin", "停权，签收退回：稿件失误")
    r = sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/complete", json={"data": {"comment": "已签收的"}})
    assert r.status_code == 403


def test_a_suspended_delegators_group_does_not_reach_the_delegate(sapi: ApiClient) -> None:
    """委托: a delegate acts in the delegator's name, never further than the delegator may."""
    made = sapi.post("lxweb1", "/api/v1/me/delegations",
                     json={"delegate": "xfk1", "starts_at": "2026-12-01", "ends_at": "2026-12-05"})
    assert made.status_code == 201, made.get_json()
    iid = _start(sapi).get_json()["id"]
    assert [t["bpmn_id"] for t in sapi.tasks("xfk1", iid)] == ["handle"]
    assert _suspend(sapi).status_code == 201
    assert sapi.tasks("xfk1", iid) == []


def test_the_admin_page_lists_members_suspends_with_a_reason_and_shows_the_record(sapp: Any) -> None:
    sapp.config["WTF_CSRF_ENABLED"] = False
    admin = login(sapp, "admin")
    page = text(admin.get("/admin/suspensions"))
    assert "停权管理" in page and 'data-username="lxweb1" data-group="county_linxiang_web"' in page
    assert "暂无停权记录" in page
    assert 'href="/admin/suspensions"' in text(admin.get("/tasks"))  # linked in the admin's nav
    refused = admin.post("/admin/suspensions", data={**LXWEB, "reason": ""})
    assert refused.status_code == 422 and "请填写理由" in text(refused)
    r = admin.post("/admin/suspensions", data={**LXWEB, "reason": "稿件反复出现失误"})
    assert r.status_code == 302
    page = text(admin.get("/admin/suspensions"))
    assert "已停用 临翔区人大网站管理员 在“临翔区人大网站管理员”的权限" in page
    assert "已停权" in page and "稿件反复出现失误" in page and 'data-action="suspend"' in page
    county_web = login(sapp, "lxweb1")
    assert "测试登记" not in text(county_web.get("/tasks"))  # the start link is gone while suspended
    assert county_web.get(f"/instances/new/{KEY}").status_code == 403
    twice = admin.post("/admin/suspensions", data={**LXWEB, "reason": "再来一次"})
    assert twice.status_code == 409 and "不能重复停权" in text(twice)
    assert admin.post("/admin/suspensions/restore", data={**LXWEB, "reason": "整改完毕"}).status_code == 302
    page = text(admin.get("/admin/suspensions"))
    assert 'data-action="restore"' in page and "整改完毕" in page
    assert "测试登记" in text(county_web.get("/tasks"))  # restored: back from the next request


def test_migration_0015_upgrades_a_0014_database_and_downgrades(db_url: str) -> None:
    """`govflow init` on a database of the previous version: Database.migrate brings it to 0015."""
    from migration_steps import move_to
    from sqlalchemy import inspect

    from service.store.db import Database

    db = Database(db_url)
    try:
        move_to(db, db_url, "0014")
        assert "membership_suspensions" not in inspect(db.engine).get_table_names()
        db.migrate()
        inspector = inspect(db.engine)
        assert "membership_suspensions" in inspector.get_table_names()
        unique = inspector.get_unique_constraints("membership_suspensions")
        assert [u["column_names"] for u in unique] == [["username", "group_key", "seq"]]
        move_to(db, db_url, "0014", down=True)
        assert "membership_suspensions" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


# ----- 转办 and 新待办 to a suspended member -------------------------------------------------------

LXWEB2 = {"username": "lxweb2", "group": "county_linxiang_web"}


def _second_county_web_admin(sapp: Any, phone: str | None = None) -> None:
    from service.auth import ensure_user
    from service.store.models import User

    with sapp.extensions["govflow"].db.write() as session:
        user: User = ensure_user(session, "lxweb2", "临翔区人大网站管理员 李干部", "govflow-demo",
                                 ["county_linxiang_web"])
        user.phone = phone


def test_a_task_is_not_transferred_to_a_suspended_member_until_restored(sapp: Any, sapi: ApiClient) -> None:
    _second_county_web_admin(sapp)
    sapp.config["WTF_CSRF_ENABLED"] = False
    iid = _start(sapi).get_json()["id"]
    handle = sapi.task("lxweb1", iid, "handle")
    assert sapi.post("admin", SUSPEND, json={**LXWEB2, "reason": "稿件多次出错"}).status_code == 201
    r = sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/transfer", json={"to": "lxweb2", "note": "请办理"})
    assert r.status_code == 422
    message = "临翔区人大网站管理员 李干部（lxweb2）在本任务办理组的权限已被停用（停权），不能接收转办"
    assert r.get_json()["message"] == message
    assert r.get_json()["details"] == [{"field": "to", "message": message}]
    task = sapi.get("lxweb1", f"/api/v1/tasks/{handle['id']}").get_json()
    assert task["assignee"] is None
    assert not [h for h in sapi.instance("lxweb1", iid)["history"] if h["action"] == "transfer"]
    # nor is the suspended member offered in the task page's 转办 picker
    page = text(login(sapp, "lxweb1").get(f"/tasks/{handle['id']}"))
    assert 'id="transfer"' in page and 'value="lxweb2"' not in page.split('id="transfer"')[1]
    # restored: the same transfer goes through, and the picker offers them again
    assert sapi.post("admin", RESTORE, json={**LXWEB2, "reason": "已整改"}).status_code == 200
    page = text(login(sapp, "lxweb1").get(f"/tasks/{handle['id']}"))
    assert 'value="lxweb2"' in page.split('id="transfer"')[1]
    r = sapi.post("lxweb1", f"/api/v1/tasks/{handle['id']}/transfer", json={"to": "lxweb2", "note": "请办理"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["assignee"] == "lxweb2"
    assert sapi.task("lxweb2", iid, "handle")["assignee"] == "lxweb2"


def test_memberships_leave_out_only_the_suspended_ones(sapp: Any, sapi: ApiClient) -> None:
    from service import suspensions

    _second_county_web_admin(sapp)
    assert sapi.post("admin", SUSPEND, json={**LXWEB2, "reason": "停权"}).status_code == 201
    db = sapp.extensions["govflow"].db
    with db.read() as session:
        held = suspensions.memberships(session, ["lxweb1", "lxweb2", "nobody"])
    assert held == {"lxweb1": frozenset({"county_linxiang_web"})}
    assert sapi.post("admin", RESTORE, json={**LXWEB2, "reason": "恢复"}).status_code == 200
    assert sapi.post("admin", SUSPEND, json={**LXWEB2, "reason": "再次停权"}).status_code == 201
    assert sapi.post("admin", RESTORE, json={**LXWEB2, "reason": "再次恢复"}).status_code == 200
    with db.read() as session:
        assert suspensions.memberships(session, ["lxweb2"]) == {"lxweb2": frozenset({"county_linxiang_web"})}


def test_a_suspended_member_gets_no_sms_of_the_groups_new_tasks(sapp: Any, sapi: ApiClient) -> None:
    from sqlalchemy import select

    from service.store.models import Delivery, Notice

    _second_county_web_admin(sapp, phone="13900000012")
    assert sapi.client.put("/api/v1/me/notifications", json={"sms": True},
                           headers=sapi.headers("lxweb2")).status_code == 200

    def texted(iid: int) -> list[str]:
        with sapp.extensions["govflow"].db.read() as session:
            return list(session.scalars(select(Delivery.address).join(Notice, Notice.id == Delivery.notice_id)
                                        .where(Notice.instance_id == iid, Notice.kind == "task_assigned")))

    assert sapi.post("admin", SUSPEND, json={**LXWEB2, "reason": "停权"}).status_code == 201
    suspended = _start(sapi).get_json()["id"]
    assert texted(suspended) == []
    assert sapi.post("admin", RESTORE, json={**LXWEB2, "reason": "恢复"}).status_code == 200
    restored = _start(sapi).get_json()["id"]
    assert texted(restored) == ["13900000012"]
