"""信访件办理 (PROCEDURES.md §1): routes of 归纳分类, send-back loops, extensions and the
复查 window, over the JSON API on SQLite and PostgreSQL (the `api` fixture)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import PETITION, REVIEW_REQUEST, ApiClient, done, pin_clock, start

from service import clock

# The petition of conftest.PETITION is received on Monday 2026-03-02 09:00 Beijing time.
# 60 days, start day not counted → Friday 2026-05-01, which is the Labour Day holiday
# (05-01 … 05-05) → the deadline is the end of Wednesday 2026-05-06.
DUE = "2026-05-06T23:59:59+08:00"
# 15 days for registering and routing (条例 第二十二条): Tuesday 2026-03-17.
ROUTE_DUE = "2026-03-17T23:59:59+08:00"

HANDLERS = ("xfk1", "fgw1", "cjw1", "jsw1", "linxiang1")
EVERYONE = ("xfk1", "xfk2", "bgs", "msz", "zr", "fgw1", "cjw1", "jsw1", "linxiang1", "zzb1", "web1")




def advance(api: ApiClient, delta: timedelta) -> None:
    """Move the clock and fire what became due; tokens (12 h) are fetched again afterwards."""
    clock.advance(delta)
    api.app.extensions["govflow"].runtime.fire_due_timers()
    api._tokens.clear()


@pytest.fixture(autouse=True)
def _march_2026() -> None:
    pin_clock(datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING))






def classify(api: ApiClient, iid: int, route: str, group: str | None = None) -> None:
    form: dict[str, Any] = {"category": "行政", "route": route}
    if group:
        form["handling_group"] = group
    done(api, "xfk1", iid, "classify", form)


def approvals(api: ApiClient, iid: int) -> None:
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关单位办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})


def to_handle(api: ApiClient, route: str = "dept", group: str | None = "dept_fgw") -> int:
    iid = start(api)
    classify(api, iid, route, group)
    approvals(api, iid)
    return iid


def open_bpmn_ids(api: ApiClient, iid: int) -> list[str]:
    return [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]]


def history_tasks(api: ApiClient, iid: int) -> list[str | None]:
    return [h["task"] for h in api.instance("xfk1", iid)["history"]]


# ---- 归纳分类: each route reaches its handling unit at 办理 --------------------------------

ROUTES = [
    ("own", None, "xfk", "xfk1"),
    ("dept", "dept_fgw", "dept_fgw", "fgw1"),
    ("legal", None, "dept_jsw", "jsw1"),
    ("county", "county_linxiang", "county_linxiang", "linxiang1"),
]


@pytest.mark.parametrize(("route", "chosen", "group", "user"), ROUTES, ids=[r[0] for r in ROUTES])
def test_classify_route_hands_the_petition_to_its_unit(
    api: ApiClient, route: str, chosen: str | None, group: str, user: str
) -> None:
    iid = to_handle(api, route, chosen)
    task = api.task(user, iid, "handle")
    assert task["candidate_groups"] == [group]
    assert task["assignee"] is None
    assert task["due_at"] == DUE
    assert api.instance("xfk1", iid)["handling_group"] == group
    for other in HANDLERS:
        if other != user:
            assert api.tasks(other, iid, "handle") == [], f"{other} must not see the {group} handling task"


def test_own_route_is_handled_by_every_xfk_user_and_no_department(api: ApiClient) -> None:
    iid = to_handle(api, "own", None)
    assert [t["candidate_groups"] for t in api.tasks("xfk2", iid, "handle")] == [["xfk"]]
    for other in ("fgw1", "cjw1", "jsw1", "linxiang1", "bgs", "msz", "zr"):
        assert api.tasks(other, iid) == []


def test_reject_route_goes_from_classify_straight_to_reply(api: ApiClient) -> None:
    iid = start(api)
    classify(api, iid, "reject")
    reply = api.task("xfk1", iid, "reply")
    assert reply["candidate_groups"] == ["xfk"]
    assert reply["due_at"] == ROUTE_DUE  # 不予受理: the written notice is due with the routing
    assert open_bpmn_ids(api, iid) == ["reply"]
    for user in ("bgs", "msz", "zr", "fgw1"):
        assert api.tasks(user, iid) == []
    done(api, "xfk1", iid, "reply", {"reply_text": "请向有权处理的机关提出。", "replied_at": "2026-03-02",
                                     "delivery": "邮寄"})  # today: a reply date may not lie in the future
    steps = set(api.instance("xfk1", iid)["completed_steps"])
    assert {"classify", "gw_route", "reply"} <= steps
    assert not {"propose", "leader_sign", "sg_approve", "leadership_approve", "assign", "handle"} & steps
    assert [t for t in history_tasks(api, iid) if t] == ["classify", "reply"]


# ---- send-back loops ----------------------------------------------------------------------


def test_leader_sign_return_sends_the_proposal_back_to_xfk(api: ApiClient) -> None:
    iid = start(api)
    classify(api, iid, "dept", "dept_fgw")
    first = api.task("xfk1", iid, "propose")
    done(api, "xfk1", iid, "propose", {"proposal": "建议交办"})
    done(api, "bgs", iid, "leader_sign", {"decision": "return", "comment": "请补充事实"})
    again = api.task("xfk1", iid, "propose")
    assert again["id"] != first["id"]
    assert again["candidate_groups"] == ["xfk"]
    assert open_bpmn_ids(api, iid) == ["propose"]
    assert api.tasks("bgs", iid) == [] and api.tasks("msz", iid) == []
    returned = [h for h in api.instance("xfk1", iid)["history"] if h["task"] == "leader_sign"]
    assert [(h["user"], h["comment"]) for h in returned] == [("bgs", "请补充事实")]


def test_sg_approve_return_sends_the_proposal_back_to_xfk(api: ApiClient) -> None:
    iid = start(api)
    classify(api, iid, "dept", "dept_fgw")
    done(api, "xfk1", iid, "propose", {"proposal": "建议交办"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "return", "comment": "拟办意见不明确"})
    assert api.task("xfk1", iid, "propose")["candidate_groups"] == ["xfk"]
    assert open_bpmn_ids(api, iid) == ["propose"]
    # the whole chain signs again after the proposal is redone
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    assert api.task("bgs", iid, "leader_sign")["candidate_groups"] == ["office_leader"]


def test_sg_leadership_goes_to_the_committee_leadership_then_approve_hands_over(api: ApiClient) -> None:
    iid = start(api)
    classify(api, iid, "dept", "dept_cjw")
    done(api, "xfk1", iid, "propose", {"proposal": "建议报主任审批"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "leadership"})
    task = api.task("zr", iid, "leadership_approve")
    assert task["candidate_groups"] == ["leadership"]
    for user in ("msz", "bgs", "xfk1", "cjw1"):
        assert api.tasks(user, iid) == []
    done(api, "zr", iid, "leadership_approve", {"decision": "approve"})
    assert api.task("cjw1", iid, "handle")["candidate_groups"] == ["dept_cjw"]
    assert open_bpmn_ids(api, iid) == ["handle"]


def test_leadership_return_sends_the_proposal_back_to_xfk(api: ApiClient) -> None:
    iid = start(api)
    classify(api, iid, "dept", "dept_fgw")
    done(api, "xfk1", iid, "propose", {"proposal": "建议报主任审批"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "leadership"})
    done(api, "zr", iid, "leadership_approve", {"decision": "return", "comment": "重新研究"})
    assert open_bpmn_ids(api, iid) == ["propose"]
    assert api.task("xfk1", iid, "propose")["candidate_groups"] == ["xfk"]
    assert api.tasks("fgw1", iid) == []


def test_review_result_redo_sends_the_petition_back_to_the_same_unit(api: ApiClient) -> None:
    iid = to_handle(api, "county", "county_linxiang")
    first = api.task("linxiang1", iid, "handle")
    done(api, "linxiang1", iid, "handle", {"outcome": "done", "result": "已办理"})
    done(api, "xfk1", iid, "review_result", {"decision": "redo", "comment": "事实不清，请重新办理"})
    again = api.task("linxiang1", iid, "handle")
    assert again["id"] != first["id"]
    assert again["candidate_groups"] == ["county_linxiang"]
    assert again["due_at"] == DUE  # redoing does not extend the deadline
    assert open_bpmn_ids(api, iid) == ["handle"]


# ---- extension (条例 第三十四条): at most 30 days in all, approved by the office leader ----------


def test_handle_extend_goes_to_office_leader_for_approval(api: ApiClient) -> None:
    iid = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 20, "extension_reason": "需调查取证"})
    task = api.task("bgs", iid, "extension_approve")
    assert task["candidate_groups"] == ["office_leader"]
    assert open_bpmn_ids(api, iid) == ["extension_approve"]
    assert api.tasks("fgw1", iid) == []


def test_approved_extension_moves_the_deadline_by_the_calendar_rule(api: ApiClient) -> None:
    iid = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 20, "extension_reason": "需调查取证"})
    done(api, "bgs", iid, "extension_approve", {"decision": "approve"})
    # 2026-05-06 + 20 days (start day not counted) = Tuesday 2026-05-26, a working day.
    assert api.task("fgw1", iid, "handle")["due_at"] == "2026-05-26T23:59:59+08:00"
    detail = api.instance("xfk1", iid)
    assert detail["due_at"] == "2026-05-26T23:59:59+08:00"
    assert detail["data"]["extension_total"] == 20


def test_extensions_may_add_up_to_exactly_30_days(api: ApiClient) -> None:
    iid = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 20, "extension_reason": "取证"})
    done(api, "bgs", iid, "extension_approve", {"decision": "approve"})
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 10, "extension_reason": "再取证"})
    done(api, "bgs", iid, "extension_approve", {"decision": "approve"})
    # 2026-05-26 + 10 days = Friday 2026-06-05.
    assert api.task("fgw1", iid, "handle")["due_at"] == "2026-06-05T23:59:59+08:00"
    assert api.instance("xfk1", iid)["data"]["extension_total"] == 30


def test_rejected_extension_leaves_the_deadline_unchanged(api: ApiClient) -> None:
    iid = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 20, "extension_reason": "需调查取证"})
    done(api, "bgs", iid, "extension_approve", {"decision": "reject", "comment": "理由不充分"})
    task = api.task("fgw1", iid, "handle")
    assert task["due_at"] == DUE
    detail = api.instance("xfk1", iid)
    assert detail["due_at"] == DUE
    assert detail["data"]["extension_total"] == 0


def test_extension_of_31_days_is_refused_on_the_extension_days_field(api: ApiClient) -> None:
    iid = to_handle(api)
    r = api.complete("fgw1", iid, "handle", {"outcome": "extend", "extension_days": 31, "extension_reason": "复杂"})
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["error"] == "invalid"
    assert [d["field"] for d in body["details"]] == ["extension_days"]
    assert open_bpmn_ids(api, iid) == ["handle"]


def test_extensions_above_30_days_in_all_are_refused(api: ApiClient) -> None:
    iid = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "extend", "extension_days": 20, "extension_reason": "取证"})
    done(api, "bgs", iid, "extension_approve", {"decision": "approve"})
    r = api.complete("fgw1", iid, "handle", {"outcome": "extend", "extension_days": 15, "extension_reason": "再取证"})
    assert r.status_code == 422, r.get_json()
    details = r.get_json()["details"]
    assert [d["field"] for d in details] == ["extension_days"]
    assert details[0]["message"].startswith("延期累计不得超过30日")
    assert "已延期20日" in details[0]["message"] and "最多可申请10日" in details[0]["message"]
    assert api.task("fgw1", iid, "handle")["due_at"] == "2026-05-26T23:59:59+08:00"


# ---- 答复 and the 30-day 复查 window (条例 第三十五条) -------------------------------------------


def reply_rejected(api: ApiClient, replied_at: str) -> int:
    iid = start(api)
    classify(api, iid, "reject")
    done(api, "xfk1", iid, "reply", {"reply_text": "请向有权处理的机关提出。", "replied_at": replied_at,
                                     "delivery": "当面"})
    return iid


def test_reply_opens_the_30_day_review_window_and_then_the_petition_is_archived(api: ApiClient) -> None:
    iid = reply_rejected(api, "2026-03-02")
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "running"
    assert detail["open_tasks"] == []
    # 2026-03-02 + 30 days = Wednesday 2026-04-01, a working day.
    assert [(t["name"], t["due_at"]) for t in detail["timers"]] == [("复查申请期满", "2026-04-01T23:59:59+08:00")]
    assert detail["data"]["review_window_end"] == "2026-04-01T23:59:59+08:00"

    advance(api, timedelta(days=31))
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "completed"
    assert detail["timers"] == []
    assert detail["data"]["review_requested"] is False
    assert [h["action"] for h in detail["history"]][-2:] == ["timer", "end"]


def test_review_window_ending_on_a_holiday_runs_to_the_next_working_day(api: ApiClient) -> None:
    pin_clock(datetime(2026, 3, 5, 10, 0, tzinfo=clock.BEIJING))
    iid = reply_rejected(api, "2026-03-05")
    # 2026-03-05 + 30 = Saturday 2026-04-04, 清明 holiday until Monday 04-06 → Tuesday 04-07.
    assert [t["due_at"] for t in api.instance("xfk1", iid)["timers"]] == ["2026-04-07T23:59:59+08:00"]
    advance(api, timedelta(days=31))  # 2026-04-05: still inside the rolled window
    assert api.instance("xfk1", iid)["status"] == "running"
    advance(api, timedelta(days=3))  # 2026-04-08
    assert api.instance("xfk1", iid)["status"] == "completed"


def test_review_request_during_the_window_completes_the_petition(api: ApiClient) -> None:
    iid = reply_rejected(api, "2026-03-02")
    r = api.post("xfk1", f"/api/v1/instances/{iid}/messages/review_request",
                 json={"data": {"requested_at": "2026-03-02", "organ": "临沧市人大常委会", "note": "申请复查"}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": iid, "status": "completed"}
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "completed"
    assert detail["data"]["review_requested"] is True
    assert detail["timers"] == []
    assert [h["action"] for h in detail["history"]][-2:] == ["message", "end"]
    # the window's timer was cancelled with it: nothing fires later
    clock.advance(timedelta(days=40))
    assert api.app.extensions["govflow"].runtime.fire_due_timers() == 0


def test_review_request_after_the_petition_is_archived_is_a_conflict(api: ApiClient) -> None:
    iid = reply_rejected(api, "2026-03-02")
    advance(api, timedelta(days=31))
    r = api.post("xfk1", f"/api/v1/instances/{iid}/messages/review_request", json={"data": REVIEW_REQUEST})
    assert r.status_code == 409, r.get_json()
    assert api.instance("xfk1", iid)["data"]["review_requested"] is False


# ---- 统一编号 XF-<year>-<6 digits> ------------------------------------------------------------


def test_business_keys_are_consecutive_per_year(api: ApiClient) -> None:
    keys = []
    for _ in range(3):
        r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
        assert r.status_code == 201
        keys.append(r.get_json()["business_key"])
    assert keys == ["XF-2026-000001", "XF-2026-000002", "XF-2026-000003"]
    assert all(re.fullmatch(r"XF-\d{4}-\d{6}", k) for k in keys)


def test_business_keys_start_again_at_one_in_a_new_year(api: ApiClient) -> None:
    pin_clock(datetime(2026, 12, 31, 23, 0, tzinfo=clock.BEIJING))
    api._tokens.clear()
    r = api.post("xfk1", "/api/v1/instances",
                 json={"process": "petition", "data": {**PETITION, "received_at": "2026-12-31T09:00:00+08:00"}})
    assert r.get_json()["business_key"] == "XF-2026-000001"
    clock.advance(timedelta(hours=2))  # 2027-01-01 01:00 Beijing
    r = api.post("xfk1", "/api/v1/instances",
                 json={"process": "petition", "data": {**PETITION, "received_at": "2027-01-01T00:30:00+08:00"}})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["business_key"] == "XF-2027-000001"


def test_users_outside_the_case_have_nothing_in_their_inbox(api: ApiClient) -> None:
    iid = to_handle(api)
    holders = {user for user in EVERYONE if api.tasks(user, iid)}
    assert holders == {"fgw1"}
