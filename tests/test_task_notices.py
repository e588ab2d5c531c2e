"""新待办 (issue 9 item 15): every task a step opens tells its group in-app (one notice per
task and group, in the step's transaction), whoever's step opened it — a registration, a
completion, a timer; SMS and e-mail are queued only for the people who chose them on
/me/notifications (or PUT /api/v1/me/notifications)."""

from __future__ import annotations

from typing import Any

from conftest import SUITE_START, ApiClient, done, login, start, text
from sqlalchemy import select
from test_api_errors import to_handle as handling
from test_petition_ladder import advance_past, plus, to_handle

from service.store.models import Delivery, Notice, User


def new_task_notices(api: ApiClient, username: str, iid: int | None = None) -> list[dict[str, Any]]:
    r = api.get(username, "/api/v1/notices")
    assert r.status_code == 200, r.get_json()
    return [n for n in r.get_json() if n["kind"] == "task_assigned" and (iid is None or n["instance_id"] == iid)]


def set_contact(api: ApiClient, username: str, phone: str | None = None, email: str | None = None) -> None:
    with api.app.extensions["govflow"].db.write() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        user.phone, user.email = phone, email


def deliveries(api: ApiClient) -> list[tuple[str, str, str]]:
    """(channel, address, notice text) of every delivery queued for a new or reassigned task (the
    ladder's notices still go to every address on file, as before)."""
    with api.app.extensions["govflow"].db.read() as session:
        return [(d.channel, d.address, n.text) for d, n in session.execute(
            select(Delivery, Notice).join(Notice, Notice.id == Delivery.notice_id)
            .where(Notice.kind.in_(["task_assigned", "reassign", "transfer"])).order_by(Delivery.id))]


def test_registration_tells_xfk_of_its_classify_task_with_key_name_and_deadline(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    key = api.instance("xfk1", iid)["business_key"]
    expected = f"新待办：{key} 归纳分类（期限 {task['due_at'][:10]}）"
    for user in ("xfk1", "xfk2"):  # one notice to the group: every member sees it, each reads it apart
        (notice,) = new_task_notices(api, user, iid)
        assert notice["text"] == expected
        assert (notice["kind_name"], notice["task_id"], notice["recipient_group"]) == ("新待办", task["id"], "xfk")
        assert notice["read_at"] is None
    assert new_task_notices(api, "fgw1") == []
    with api.app.extensions["govflow"].db.read() as session:
        rows = session.scalars(select(Notice).where(Notice.instance_id == iid, Notice.kind == "task_assigned")).all()
    assert [(n.recipient_group, n.recipient_user) for n in rows] == [("xfk", None)]  # not one row per member


def test_routing_to_fgw_tells_fgw1_and_not_cjw1(api: ApiClient) -> None:
    iid = handling(api, group="dept_fgw", received_at=SUITE_START)  # received today: no ladder yet
    key = api.instance("xfk1", iid)["business_key"]
    task = api.task("fgw1", iid, "handle")
    (notice,) = new_task_notices(api, "fgw1", iid)
    assert notice["text"] == f"新待办：{key} {task['name']}（期限 {task['due_at'][:10]}）"
    assert notice["task_id"] == task["id"]
    assert new_task_notices(api, "cjw1", iid) == []
    # each step told the next step's group once: 签批 (office leader), 审批 (secretary general)
    assert len(new_task_notices(api, "bgs", iid)) == 1
    assert len(new_task_notices(api, "msz", iid)) == 1


def test_a_timer_that_opens_a_task_tells_its_group(api: ApiClient) -> None:
    iid, key, due = to_handle(api)
    before = {n["id"] for n in new_task_notices(api, "fgw1", iid)}
    advance_past(api, plus(due, 7))  # 超期7日要求汇报 opens 书面汇报超期原因 for the unit
    api._tokens.clear()
    explain = api.task("fgw1", iid, "explain")
    fresh = [n for n in new_task_notices(api, "fgw1", iid) if n["id"] not in before]
    assert [n["task_id"] for n in fresh] == [explain["id"]]
    assert fresh[0]["text"].startswith(f"新待办：{key} {explain['name']}")
    assert new_task_notices(api, "cjw1", iid) == []


def test_only_who_chose_sms_gets_a_delivery_queued(api: ApiClient) -> None:
    set_contact(api, "xfk1", phone="13900000001", email="xfk1@example.gov.cn")
    set_contact(api, "xfk2", phone="13900000002", email="xfk2@example.gov.cn")
    r = api.client.put("/api/v1/me/notifications", json={"sms": True}, headers=api.headers("xfk1"))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"in_app": True, "sms": True, "email": False, "has_phone": True, "has_email": True}
    iid = start(api)
    key = api.instance("xfk1", iid)["business_key"]
    # xfk1 chose SMS only: one text to xfk1's phone; xfk2 (nothing chosen) gets none, nor any e-mail
    assert [(c, a) for c, a, _t in deliveries(api)] == [("sms", "13900000001")]
    assert deliveries(api)[0][2].startswith(f"新待办：{key} 归纳分类")
    assert api.get("xfk1", "/api/v1/me/notifications").get_json()["sms"] is True
    assert api.get("xfk2", "/api/v1/me/notifications").get_json()["sms"] is False


def test_reassigning_a_task_texts_the_new_unit_member_who_chose_it(api: ApiClient) -> None:
    set_contact(api, "cjw1", phone="13900000009")
    assert api.client.put("/api/v1/me/notifications", json={"sms": True},
                          headers=api.headers("cjw1")).status_code == 200
    iid = handling(api, group="dept_fgw", received_at=SUITE_START)  # received today: no ladder yet
    assert deliveries(api) == []  # nothing for dept_cjw yet
    task = api.task("fgw1", iid, "handle")
    assert api.post("msz", f"/api/v1/tasks/{task['id']}/reassign", json={"group": "dept_cjw"}).status_code == 200
    assert [(c, a) for c, a, _t in deliveries(api)] == [("sms", "13900000009")]


def test_a_task_transferred_to_a_colleague_texts_them_if_they_chose_it(api: ApiClient) -> None:
    """转办 makes the task new to its holder: the same choice as for 新待办 and 改派 applies."""
    set_contact(api, "xfk2", phone="13900000002", email="xfk2@example.gov.cn")
    assert api.client.put("/api/v1/me/notifications", json={"email": True},
                          headers=api.headers("xfk2")).status_code == 200
    iid = start(api, received_at=SUITE_START)
    key = api.instance("xfk1", iid)["business_key"]
    first = deliveries(api)  # xfk2's e-mail of the 新待办 of 归纳分类 (信访科's task)
    assert [(c, a) for c, a, _t in first] == [("email", "xfk2@example.gov.cn")]
    task = api.task("xfk1", iid, "classify")
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk2", "note": "请您分类"})
    assert r.status_code == 200, r.get_json()
    added = deliveries(api)[len(first):]
    assert [(c, a) for c, a, _t in added] == [("email", "xfk2@example.gov.cn")]
    assert added[0][2].startswith("【转办】") and key in added[0][2]


def test_a_channel_without_an_address_is_refused_and_nothing_changes(api: ApiClient) -> None:
    r = api.client.put("/api/v1/me/notifications", json={"sms": True, "email": True}, headers=api.headers("fgw1"))
    assert r.status_code == 422
    fields = {d["field"]: d["message"] for d in r.get_json()["details"]}
    assert "手机号码" in fields["sms"] and "电子邮箱" in fields["email"]
    assert api.get("fgw1", "/api/v1/me/notifications").get_json()["sms"] is False
    bad = api.client.put("/api/v1/me/notifications", json={"sms": "yes"}, headers=api.headers("fgw1"))
    assert bad.status_code == 422 and bad.get_json()["details"][0]["field"] == "sms"
    off = api.client.put("/api/v1/me/notifications", json={"in_app": False}, headers=api.headers("fgw1"))
    assert off.status_code == 422 and "站内通知" in off.get_json()["message"]


def test_the_notifications_page_saves_the_choice(page_app: Any) -> None:
    api = ApiClient(page_app)
    set_contact(api, "xfk2", email="xfk2@example.gov.cn")
    client = login(page_app, "xfk2")
    page = text(client.get("/me/notifications"))
    assert "站内通知" in page and "始终开启" in page and "未登记手机号码" in page
    r = client.post("/me/notifications", data={"email": "1"})
    assert r.status_code == 302
    assert "已保存" in text(client.get("/me/notifications"))
    assert api.get("xfk2", "/api/v1/me/notifications").get_json()["email"] is True
    refused = client.post("/me/notifications", data={"sms": "1", "email": "1"})
    assert refused.status_code == 422 and "未登记手机号码" in text(refused)
    assert api.get("xfk2", "/api/v1/me/notifications").get_json() == {
        "in_app": True, "sms": False, "email": True, "has_phone": False, "has_email": True}
    iid = start(api)
    assert [(c, a) for c, a, _t in deliveries(api)] == [("email", "xfk2@example.gov.cn")]
    # the notice centre links the new task to its page
    notices_page = text(client.get("/notices"))
    task = api.task("xfk2", iid, "classify")
    assert f"/tasks/{task['id']}" in notices_page and "新待办" in notices_page


def test_the_notifications_form_needs_its_csrf_token(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    page = text(client.get("/login"))
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    r = client.post("/login", data={"username": "xfk1", "password": "govflow-demo", "csrf_token": token.group(1)})
    assert r.status_code == 302
    assert client.post("/me/notifications", data={"sms": "1"}).status_code == 400


def test_a_task_assigned_to_the_person_whose_step_opened_it_tells_nobody() -> None:
    from service import task_notices

    opened = [{"id": "t1", "name": "自办", "candidate_groups": ["xfk"], "assignee": "xfk1"},
              {"id": "t2", "name": "转交", "candidate_groups": ["xfk"], "assignee": "xfk2"},
              {"id": "t3", "name": "组办", "candidate_groups": ["xfk", "zzb"], "assignee": None}]
    ready = {"t1": {"due_at": None}, "t2": {"due_at": None}, "t3": {"due_at": None}}
    items = task_notices.queued(opened, ready, "XF-2026-000009", "xfk1")
    assert [(i["task_id"], i["recipients"], i["text"]) for i in items] == [
        ("t2", ["user:xfk2"], "新待办：XF-2026-000009 转交"),
        ("t3", ["xfk", "zzb"], "新待办：XF-2026-000009 组办"),
    ]


def test_completing_a_step_tells_the_next_group_once(api: ApiClient) -> None:
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    propose = api.task("xfk1", iid, "propose")
    found = new_task_notices(api, "xfk2", iid)  # newest first: 拟办 now, 归纳分类 at registration
    assert len(found) == 2 and found[0]["task_id"] == propose["id"]
    assert found[0]["text"].startswith("新待办：") and propose["name"] in found[0]["text"]


def test_a_new_task_notice_stops_counting_as_unread_once_its_task_is_done(api: ApiClient) -> None:
    """信访科 has two members: when xfk1 classifies, xfk2's 新待办 of that task is no news any more
    (not in the unread count, not in the unread list) — it stays in the full list as history; the
    next step's 新待办 (拟办, again 信访科's) is."""
    from service import notices
    from service.actors import Actor

    iid = start(api, received_at=SUITE_START)  # received today: no 催办 in between
    xfk2 = Actor("xfk2", groups=frozenset({"xfk"}))

    def unread() -> tuple[int, list[str]]:
        with api.app.extensions["govflow"].db.read() as session:
            count = notices.unread_count(session, xfk2)
        listed = api.get("xfk2", "/api/v1/notices?unread=1").get_json()
        assert count == len(listed)
        return count, [n["task_id"] for n in listed if n["kind"] == "task_assigned"]

    classify = api.task("xfk1", iid, "classify")
    count, news = unread()
    assert news == [classify["id"]]
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    propose = api.task("xfk1", iid, "propose")
    count_after, news_after = unread()
    assert news_after == [propose["id"]]
    assert count_after == count  # one new, one no longer news
    assert sorted(n["task_id"] for n in new_task_notices(api, "xfk2", iid)) == sorted([classify["id"], propose["id"]])
