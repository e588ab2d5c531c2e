"""The JSON API's error contract (API.md): status codes, `{error, message, details}` bodies,
and the instance list filters, on SQLite and PostgreSQL (the `api` fixture)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from conftest import PETITION, REVIEW_REQUEST, ApiClient, done, pin_clock, start

from service import clock


@pytest.fixture(autouse=True)
def _march_2026() -> None:
    pin_clock(datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING))






def to_handle(api: ApiClient, route: str = "dept", group: str | None = "dept_fgw", **changes: Any) -> int:
    iid = start(api, **changes)
    form: dict[str, Any] = {"category": "行政", "route": route}
    if group:
        form["handling_group"] = group
    done(api, "xfk1", iid, "classify", form)
    done(api, "xfk1", iid, "propose", {"proposal": "建议交办"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)
    return body


# ---- 401 ------------------------------------------------------------------------------------


def test_calls_without_a_token_are_401(api: ApiClient) -> None:
    body = assert_error(api.client.get("/api/v1/tasks"), 401, "unauthorized")
    assert "令牌" in body["message"]


def test_calls_with_a_bad_token_are_401(api: ApiClient) -> None:
    r = api.client.get("/api/v1/tasks", headers={"Authorization": "Bearer not-a-token"})
    assert_error(r, 401, "unauthorized")
    r = api.client.get("/api/v1/tasks", headers={"Authorization": "Basic eGZrMTpnb3ZmbG93LWRlbW8="})
    assert_error(r, 401, "unauthorized")


def test_wrong_password_gets_no_token(api: ApiClient) -> None:
    r = api.client.post("/api/v1/auth/token", json={"username": "xfk1", "password": "wrong"})
    body = assert_error(r, 401, "unauthorized")
    assert body["message"] == "用户名或密码错误"


def test_tokens_expire_after_12_hours_of_real_time(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import auth

    headers = api.headers("xfk1")
    assert api.client.get("/api/v1/tasks", headers=headers).status_code == 200
    issued = datetime.now(clock.BEIJING)
    monkeypatch.setattr(auth, "_real_now", lambda: issued + timedelta(hours=11, minutes=59))
    assert api.client.get("/api/v1/tasks", headers=headers).status_code == 200
    monkeypatch.setattr(auth, "_real_now", lambda: issued + timedelta(hours=12, minutes=1))
    body = assert_error(api.client.get("/api/v1/tasks", headers=headers), 401, "unauthorized")
    assert body["message"] == "访问令牌已过期，请重新获取"


def test_moving_the_virtual_clock_does_not_log_people_out(api: ApiClient) -> None:
    headers = api.headers("xfk1")
    clock.advance(timedelta(days=31))
    assert api.client.get("/api/v1/tasks", headers=headers).status_code == 200


# ---- 403 ------------------------------------------------------------------------------------


def test_completing_another_groups_task_is_403(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    r = api.post("fgw1", f"/api/v1/tasks/{task['id']}/complete",
                 json={"data": {"category": "行政", "route": "own"}})
    assert_error(r, 403, "forbidden")
    assert api.task("xfk1", iid, "classify")["id"] == task["id"]


def test_completing_a_task_claimed_by_a_colleague_is_403(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    assert api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    r = api.post("xfk2", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"category": "行政", "route": "own"}})
    body = assert_error(r, 403, "forbidden")
    assert "xfk1" in body["message"]


def test_only_xfk_registers_petitions(api: ApiClient) -> None:
    r = api.post("fgw1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert_error(r, 403, "forbidden")


def test_deploying_as_non_admin_is_403(api: ApiClient) -> None:
    before = api.get("admin", "/api/v1/definitions").get_json()
    xml = (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_bytes()
    for user in ("xfk1", "bgs", "zr"):
        r = api.client.post("/api/v1/definitions", data=xml.replace(b"60", b"61"),
                            headers={**api.headers(user), "Content-Type": "application/xml"})
        assert_error(r, 403, "forbidden")
    assert api.get("admin", "/api/v1/definitions").get_json() == before


def test_review_request_from_outside_xfk_is_403(api: ApiClient) -> None:
    iid = to_handle(api)
    r = api.post("fgw1", f"/api/v1/instances/{iid}/messages/review_request", json={"data": REVIEW_REQUEST})
    assert_error(r, 403, "forbidden")


# ---- 409 ------------------------------------------------------------------------------------


def test_completing_a_task_twice_is_409(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    path = f"/api/v1/tasks/{task['id']}/complete"
    form = {"data": {"category": "行政", "route": "reject"}}
    assert api.post("xfk1", path, json=form).status_code == 200
    body = assert_error(api.post("xfk1", path, json=form), 409, "conflict")
    assert "已办理" in body["message"]
    classify_rows = [h for h in api.instance("xfk1", iid)["history"] if h["task"] == "classify"]
    assert len(classify_rows) == 1


def test_claiming_a_task_claimed_by_a_colleague_is_409(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim")
    assert r.status_code == 200 and r.get_json()["assignee"] == "xfk1"
    body = assert_error(api.post("xfk2", f"/api/v1/tasks/{task['id']}/claim"), 409, "conflict")
    assert "xfk1" in body["message"]
    # a claimed task leaves the colleague's inbox and stays in the claimer's
    assert api.tasks("xfk2", iid) == []
    assert api.task("xfk1", iid, "classify")["assignee"] == "xfk1"


def test_unclaim_by_a_colleague_is_409_and_by_the_claimer_frees_the_task(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim")
    assert_error(api.post("xfk2", f"/api/v1/tasks/{task['id']}/unclaim"), 409, "conflict")
    assert api.post("xfk1", f"/api/v1/tasks/{task['id']}/unclaim").get_json() == {"id": task["id"], "assignee": None}
    assert api.task("xfk2", iid, "classify")["assignee"] is None


# ---- 422 ------------------------------------------------------------------------------------


def test_missing_required_field_is_422_with_field_details(api: ApiClient) -> None:
    iid = start(api)
    r = api.complete("xfk1", iid, "classify", {"category": "行政"})
    body = assert_error(r, 422, "invalid")
    assert body["details"] == [{"field": "route", "message": "此项为必填项"}]


def test_wrong_enum_value_is_422_with_field_details(api: ApiClient) -> None:
    iid = start(api)
    r = api.complete("xfk1", iid, "classify", {"category": "行政", "route": "elsewhere"})
    body = assert_error(r, 422, "invalid")
    assert body["details"] == [{"field": "route", "message": "请选择有效的选项"}]


def test_missing_required_start_field_is_422(api: ApiClient) -> None:
    data = {k: v for k, v in PETITION.items() if k != "subject"}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    body = assert_error(r, 422, "invalid")
    assert {"field": "subject", "message": "此项为必填项"} in body["details"]


def test_handling_unit_of_the_wrong_kind_is_422(api: ApiClient) -> None:
    iid = start(api)
    r = api.complete("xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_nosuch"})
    body = assert_error(r, 422, "invalid")
    assert body["details"] == [{"field": "handling_group", "message": "办理单位 dept_nosuch 不存在"}]


def test_422_leaves_the_task_open_and_writes_nothing(api: ApiClient) -> None:
    iid = start(api)
    before = api.instance("xfk1", iid)
    api.complete("xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_nosuch"})
    after = api.instance("xfk1", iid)
    assert after["history"] == before["history"]
    assert after["open_tasks"] == before["open_tasks"]


# ---- 404 / 400 ------------------------------------------------------------------------------


def test_unknown_task_id_is_404(api: ApiClient) -> None:
    unknown = str(uuid.uuid4())
    assert_error(api.get("xfk1", f"/api/v1/tasks/{unknown}"), 404, "not_found")
    assert_error(api.post("xfk1", f"/api/v1/tasks/{unknown}/complete", json={"data": {}}), 404, "not_found")
    assert_error(api.post("xfk1", f"/api/v1/tasks/{unknown}/claim"), 404, "not_found")
    assert_error(api.post("xfk1", "/api/v1/tasks/not-a-uuid/complete", json={"data": {}}), 404, "not_found")


def test_a_doubled_slash_is_an_unknown_address_not_a_redirect(api: ApiClient) -> None:
    """`/tasks/0//complete` must not be redirected (308) to `/tasks/0/complete`: a client that
    follows it would act on another address than the one it sent."""
    assert_error(api.post("xfk1", "/api/v1/tasks/0//complete", json={"data": {}}), 404, "not_found")


def test_unknown_instance_is_404(api: ApiClient) -> None:
    assert_error(api.get("xfk1", "/api/v1/instances/999999"), 404, "not_found")


def test_unknown_process_is_404(api: ApiClient) -> None:
    r = api.post("admin", "/api/v1/instances", json={"process": "no_such_process", "data": {}})
    body = assert_error(r, 404, "not_found")
    assert "no_such_process" in body["message"]


def test_non_json_body_is_400(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    r = api.client.post(f"/api/v1/tasks/{task['id']}/complete", data="route=own",
                        headers={**api.headers("xfk1"), "Content-Type": "text/plain"})
    assert_error(r, 400, "bad_request")
    r = api.client.post("/api/v1/instances", data="{not json",
                        headers={**api.headers("xfk1"), "Content-Type": "application/json"})
    assert_error(r, 400, "bad_request")
    r = api.post("xfk1", "/api/v1/instances", json=["petition"])
    assert_error(r, 400, "bad_request")


# ---- health ---------------------------------------------------------------------------------


def test_health_reports_the_database_kind(api: ApiClient, db_url: str) -> None:
    r = api.client.get("/api/v1/health")
    assert r.status_code == 200
    from service import clock

    expected = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    body = r.get_json()
    now = clock.parse_datetime(body.pop("now"))  # API.md: the server clock, ISO +08:00
    assert body == {"status": "ok", "database": expected, "scheduler": "stopped"}
    assert abs((clock.now() - now).total_seconds()) < 60 and now.utcoffset().total_seconds() == 8 * 3600


# ---- GET /api/v1/instances filters ------------------------------------------------------------


def listed(api: ApiClient, user: str, query: str = "") -> list[str]:
    r = api.get(user, f"/api/v1/instances{query}")
    assert r.status_code == 200, r.get_json()
    return sorted(row["business_key"] for row in r.get_json())


def test_instances_filter_by_process_and_status(api: ApiClient) -> None:
    a = start(api)
    start(api)
    done(api, "xfk1", a, "classify", {"category": "其他", "route": "reject"})
    done(api, "xfk1", a, "reply", {"reply_text": "不予受理", "replied_at": "2026-03-02", "delivery": "当面"})
    r = api.post("xfk1", f"/api/v1/instances/{a}/messages/review_request", json={"data": REVIEW_REQUEST})
    assert r.status_code == 200, r.get_json()
    assert listed(api, "xfk1", "?process=petition") == ["XF-2026-000001", "XF-2026-000002"]
    assert listed(api, "xfk1", "?process=article_publication") == []
    assert listed(api, "xfk1", "?status=completed") == ["XF-2026-000001"]
    assert listed(api, "xfk1", "?process=petition&status=running") == ["XF-2026-000002"]


def test_instances_q_searches_the_business_key(api: ApiClient) -> None:
    for _ in range(3):
        start(api)
    assert listed(api, "xfk1", "?q=000002") == ["XF-2026-000002"]
    assert listed(api, "xfk1", "?q=xf-2026-000003") == ["XF-2026-000003"]
    assert listed(api, "xfk1", "?q=XF-2025") == []


def test_instances_q_matches_the_text_literally(api: ApiClient) -> None:
    """q is a business key fragment, not an SQL LIKE pattern: % and _ match only themselves."""
    start(api)
    assert {w: listed(api, "xfk1", f"?q={quote(w)}") for w in ("%", "_", "XF-2026-00000_")} == \
        {"%": [], "_": [], "XF-2026-00000_": []}


def test_overdue_lists_running_petitions_past_their_deadline(api: ApiClient) -> None:
    late = start(api)  # due 2026-05-06
    finished = start(api)
    done(api, "xfk1", finished, "classify", {"category": "其他", "route": "reject"})
    done(api, "xfk1", finished, "reply", {"reply_text": "不予受理", "replied_at": "2026-03-02", "delivery": "当面"})
    r = api.post("xfk1", f"/api/v1/instances/{finished}/messages/review_request", json={"data": REVIEW_REQUEST})
    assert r.status_code == 200, r.get_json()
    pin_clock(datetime(2026, 4, 1, 10, 0, tzinfo=clock.BEIJING))
    start(api, received_at="2026-04-01T09:00:00+08:00")  # due Sunday 05-31 → Monday 2026-06-01
    assert listed(api, "xfk1", "?overdue=1") == []
    pin_clock(datetime(2026, 5, 7, 10, 0, tzinfo=clock.BEIJING))  # past 2026-05-06 23:59:59
    api._tokens.clear()
    rows = api.get("xfk1", "/api/v1/instances?overdue=1").get_json()
    assert [(r["id"], r["due_at"], r["overdue"]) for r in rows] == [(late, "2026-05-06T23:59:59+08:00", True)]


def test_petition_replied_in_time_is_not_overdue_while_the_review_window_runs(api: ApiClient) -> None:
    iid = to_handle(api)
    pin_clock(datetime(2026, 4, 30, 10, 0, tzinfo=clock.BEIJING))
    api._tokens.clear()
    done(api, "fgw1", iid, "handle", {"outcome": "done", "result": "已办结"})
    done(api, "xfk1", iid, "review_result", {"decision": "accept"})
    done(api, "xfk1", iid, "reply", {"reply_text": "经查已解决。", "replied_at": "2026-04-30", "delivery": "邮寄"})
    clock.advance(timedelta(days=8))  # 2026-05-08: past the handling deadline, inside the 复查 window
    api._tokens.clear()
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "running" and detail["open_tasks"] == []
    assert detail["overdue"] is False
    assert listed(api, "xfk1", "?overdue=1") == []


def test_department_sees_only_petitions_handed_to_it(api: ApiClient) -> None:
    fgw = to_handle(api, "dept", "dept_fgw")
    jsw = to_handle(api, "legal", None)
    start(api)  # not yet classified
    assert listed(api, "xfk1") == ["XF-2026-000001", "XF-2026-000002", "XF-2026-000003"]
    assert [r["id"] for r in api.get("fgw1", "/api/v1/instances").get_json()] == [fgw]
    assert [r["id"] for r in api.get("jsw1", "/api/v1/instances").get_json()] == [jsw]
    assert listed(api, "cjw1") == []
    assert listed(api, "linxiang1") == []
    assert api.get("cjw1", f"/api/v1/instances/{fgw}").status_code == 403


def test_department_does_not_see_a_petition_before_it_is_handed_over(api: ApiClient) -> None:
    """Chosen in 归纳分类 is not yet 交办: until the approvals are done the unit has no part in it."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    assert listed(api, "fgw1") == []
    assert_error(api.get("fgw1", f"/api/v1/instances/{iid}"), 403, "forbidden")
