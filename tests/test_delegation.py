"""委托 while away: fgw1 names a colleague who, for a period, sees fgw1's tasks and acts on them in
fgw1's name (history: the delegate as actor, fgw1 as on_behalf_of; shown 李四（代 …）); it stops
when the period ends or at once when revoked; the policy refuses self, unknown or inactive
delegates, overlaps and re-delegation — over the API on SQLite and PostgreSQL, and on the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import ApiClient, done, login, pin_clock, start, text

from service import clock

# The suite's clock stands at Tuesday 2026-12-01 10:00 (conftest.SUITE_START).
TODAY, UNTIL = "2026-12-01", "2026-12-04"
FGW = "法制工作委员会"  # fgw1's name in the demo organisation


def add_colleagues(app: Any) -> None:
    """李四 and 王五 (in no group of their own: whatever they see of dept_fgw is delegated), and
    赵六, whose account is disabled — added through the demo organisation's loader."""
    from service.demo import load_demo
    from service.store.models import User
    from workflows.organisation import DEMO, Organisation

    extra = Organisation(groups=DEMO.groups, password=DEMO.password,
                         users=[("lisi", "李四", []), ("wangwu", "王五", []), ("zhaoliu", "赵六", [])])
    with app.extensions["govflow"].db.write() as session:
        load_demo(session, extra)
        session.flush()
        session.query(User).filter(User.username == "zhaoliu").one().active = False


@pytest.fixture
def api(app: Any) -> ApiClient:
    """conftest's API client, on an organisation with the colleagues above."""
    add_colleagues(app)
    return ApiClient(app)


def delegate(api: ApiClient, user: str, to: str, starts: str = TODAY, ends: str = UNTIL, **more: Any) -> Any:
    return api.post(user, "/api/v1/me/delegations", json={"delegate": to, "starts_at": starts, "ends_at": ends,
                                                          **more})


def at_handle(api: ApiClient, group: str = "dept_fgw") -> int:
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": group})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关单位办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def test_the_delegate_sees_and_completes_the_delegators_task_in_their_name(api: ApiClient) -> None:
    iid = at_handle(api)
    assert api.tasks("lisi", iid) == []
    r = delegate(api, "fgw1", "lisi", reason="外出学习")
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    assert made["status"] == "active" and made["ends_at"] == "2026-12-04T23:59:59+08:00"
    task = api.task("lisi", iid, "handle")
    assert task["on_behalf_of"] == "fgw1" and task["candidate_groups"] == ["dept_fgw"]
    assert api.task("fgw1", iid, "handle")["on_behalf_of"] is None  # the delegator keeps their own tasks
    # the delegate sees the case as the handling unit does (personal data in clear)
    seen = api.instance("lisi", iid)
    assert seen["data"]["petitioner_name"] == api.instance("xfk1", iid)["data"]["petitioner_name"]
    done(api, "lisi", iid, "handle", {"outcome": "done", "result": "已督促企业支付工资"})
    step = [h for h in api.instance("xfk1", iid)["history"] if h["task"] == "handle"][-1]
    assert (step["user"], step["on_behalf_of"]) == ("lisi", "fgw1")
    mine = [t for t in api.get("fgw1", "/api/v1/tasks/done").get_json() if t["instance_id"] == iid]
    assert [(t["bpmn_id"], t["completed_by"], t["on_behalf_of"]) for t in mine] == [("handle", "lisi", "fgw1")]
    theirs = [t for t in api.get("lisi", "/api/v1/tasks/done").get_json() if t["instance_id"] == iid]
    assert [t["bpmn_id"] for t in theirs] == ["handle"]


def test_a_claim_by_the_delegate_is_made_in_the_delegators_name(api: ApiClient) -> None:
    iid = at_handle(api)
    assert delegate(api, "fgw1", "lisi").status_code == 201
    task = api.task("lisi", iid, "handle")
    r = api.post("lisi", f"/api/v1/tasks/{task['id']}/claim")
    assert r.status_code == 200 and r.get_json()["assignee"] == "fgw1"
    claim = [h for h in api.instance("xfk1", iid)["history"] if h["action"] == "claim"][-1]
    assert (claim["user"], claim["on_behalf_of"]) == ("lisi", "fgw1")
    done(api, "lisi", iid, "handle", {"outcome": "done", "result": "已办结"})


def test_the_delegation_stops_after_its_period(api: ApiClient) -> None:
    iid = at_handle(api)
    assert delegate(api, "fgw1", "lisi").status_code == 201
    assert api.task("lisi", iid, "handle")["on_behalf_of"] == "fgw1"
    task_id = api.task("fgw1", iid, "handle")["id"]
    pin_clock(datetime(2026, 12, 5, 0, 0, 1, tzinfo=clock.BEIJING))  # the day after the last one
    assert api.tasks("lisi", iid) == []
    r = api.post("lisi", f"/api/v1/tasks/{task_id}/complete", json={"data": {"outcome": "done", "result": "x"}})
    assert r.status_code == 403
    listed = api.get("fgw1", "/api/v1/me/delegations").get_json()
    assert [d["status"] for d in listed] == ["ended"]


def test_a_delegation_not_yet_begun_gives_nothing(api: ApiClient) -> None:
    iid = at_handle(api)
    assert delegate(api, "fgw1", "lisi", starts="2026-12-03").get_json()["status"] == "scheduled"
    assert api.tasks("lisi", iid) == []
    pin_clock(datetime(2026, 12, 3, 8, 0, tzinfo=clock.BEIJING))
    assert api.task("lisi", iid, "handle")["on_behalf_of"] == "fgw1"


def test_a_revoked_delegation_stops_at_once(api: ApiClient) -> None:
    iid = at_handle(api)
    made = delegate(api, "fgw1", "lisi").get_json()
    task = api.task("lisi", iid, "handle")
    r = api.client.delete(f"/api/v1/me/delegations/{made['id']}", headers=api.headers("fgw1"))
    assert r.status_code == 200 and r.get_json()["status"] == "revoked"
    assert api.tasks("lisi", iid) == []
    r = api.post("lisi", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"outcome": "done", "result": "x"}})
    assert r.status_code == 403
    assert api.client.get(f"/api/v1/tasks/{task['id']}", headers=api.headers("lisi")).status_code == 403


def test_another_users_delegation_cannot_be_revoked(api: ApiClient) -> None:
    made = delegate(api, "fgw1", "lisi").get_json()
    for user in ("cjw1", "lisi"):
        r = api.client.delete(f"/api/v1/me/delegations/{made['id']}", headers=api.headers(user))
        assert r.status_code == 403, r.get_json()
    assert [d["status"] for d in api.get("fgw1", "/api/v1/me/delegations").get_json()] == ["active"]
    assert api.client.delete("/api/v1/me/delegations/99999", headers=api.headers("fgw1")).status_code == 404


@pytest.mark.parametrize(("to", "field", "words"), [
    ("fgw1", "delegate", "不能委托给自己"),
    ("nobody", "delegate", "不存在"),
    ("zhaoliu", "delegate", "已停用"),
])
def test_self_unknown_and_inactive_delegates_are_refused(api: ApiClient, to: str, field: str, words: str) -> None:
    r = delegate(api, "fgw1", to)
    assert r.status_code == 422
    assert {d["field"]: d["message"] for d in r.get_json()["details"]}[field].count(words) == 1
    assert api.get("fgw1", "/api/v1/me/delegations").get_json() == []


def test_overlapping_delegations_and_bad_periods_are_refused(api: ApiClient) -> None:
    assert delegate(api, "fgw1", "lisi").status_code == 201
    r = delegate(api, "fgw1", "wangwu", starts="2026-12-04", ends="2026-12-10")
    assert r.status_code == 422 and "重叠" in r.get_json()["details"][0]["message"]
    # after the first one ends, another may follow
    assert delegate(api, "fgw1", "wangwu", starts="2026-12-05", ends="2026-12-10").status_code == 201
    for starts, ends, field in (("2026-12-03", "2026-12-02", "ends_at"), ("2026-11-30", "2026-12-02", "starts_at"),
                                ("2026-12-01", "2027-06-01", "ends_at"), ("2026-12-01", "明天", "ends_at")):
        r = delegate(api, "cjw1", "lisi", starts=starts, ends=ends)
        assert r.status_code == 422 and r.get_json()["details"][0]["field"] == field, (starts, ends)
    assert len(api.get("fgw1", "/api/v1/me/delegations").get_json()) == 2


def test_a_delegate_may_not_re_delegate(api: ApiClient) -> None:
    assert delegate(api, "fgw1", "lisi").status_code == 201
    r = delegate(api, "lisi", "wangwu")  # lisi acts for fgw1 in this period
    assert r.status_code == 422 and "转委托" in r.get_json()["details"][0]["message"]
    # nor may one delegate to someone who has handed their own work on for the period
    assert delegate(api, "cjw1", "wangwu").status_code == 201
    r = delegate(api, "jsw1", "cjw1")
    assert r.status_code == 422 and "转委托" in r.get_json()["details"][0]["message"]
    # and delegated rights go one step only: wangwu acts for cjw1, never for fgw1 through anyone
    iid = at_handle(api)
    assert api.tasks("wangwu", iid) == []


def test_the_pages_make_list_and_revoke_and_mark_the_delegated_work(page_app: Any) -> None:
    add_colleagues(page_app)
    api = ApiClient(page_app)
    iid = at_handle(api)
    fgw = login(page_app, "fgw1")
    assert "委托代办" in text(fgw.get("/me/delegation"))
    r = fgw.post("/me/delegation", data={"delegate": "fgw1", "starts_at": TODAY, "ends_at": UNTIL})
    assert r.status_code == 422 and "不能委托给自己" in text(r)
    r = fgw.post("/me/delegation", data={"delegate": "lisi", "starts_at": TODAY, "ends_at": UNTIL, "reason": "休假"},
                 follow_redirects=True)
    assert r.status_code == 200 and "已委托 李四 代为办理" in text(r) and "生效中" in text(r)
    lisi = login(page_app, "lisi")
    inbox = text(lisi.get("/tasks"))
    assert f"代 {FGW}" in inbox and api.instance("xfk1", iid)["business_key"] in inbox
    task = api.task("lisi", iid, "handle")
    r = lisi.post(f"/tasks/{task['id']}", data={"outcome": "done", "result": "已督促企业支付工资"})
    assert r.status_code == 302
    assert f"李四（代 {FGW}）" in text(login(page_app, "xfk1").get(f"/instances/{iid}"))
    assert "李四 代办" in text(fgw.get("/tasks/done"))
    assert f"代 {FGW}" in text(lisi.get("/tasks/done"))
    made = api.get("fgw1", "/api/v1/me/delegations").get_json()[0]
    r = fgw.post(f"/me/delegation/{made['id']}/revoke", follow_redirects=True)
    assert "委托已撤销" in text(r) and "已撤销" in text(r)
    assert f"代 {FGW}" not in text(lisi.get("/tasks"))


def test_the_delegation_form_needs_its_csrf_token(sqlite_app: Any) -> None:
    add_colleagues(sqlite_app)
    client = sqlite_app.test_client()
    page = text(client.get("/login"))
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "fgw1", "password": "govflow-demo", "csrf_token": token})
    r = client.post("/me/delegation", data={"delegate": "lisi", "starts_at": TODAY, "ends_at": UNTIL})
    assert r.status_code == 400
