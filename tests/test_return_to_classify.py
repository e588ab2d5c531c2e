"""退回信访科: a handling unit returns a misrouted petition with its reason (信访工作办法 第九条(一):
no pushing a case away without saying why); it goes back to 归纳分类, where 信访科 sees the reason
and routes it again. The handling deadline does not restart (第八条(一): 60 days from the office's
receipt of the petition), over the API on SQLite and PostgreSQL, and on the pages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from conftest import ApiClient, done, login, pin_clock, start, text

from service import clock

# conftest.PETITION is received on Monday 2026-03-02: 60 days → 2026-05-06 (after the May holiday).
DUE = "2026-05-06T23:59:59+08:00"
REASON = "反映的是县道养护问题，属临翔区职责，不属本委办理"


@pytest.fixture(autouse=True)
def _march_2026() -> None:
    pin_clock(datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING))


def routed(api: ApiClient, iid: int, group: str) -> None:
    """归纳分类 to a department, then 拟办, 签阅, 审批: the case reaches `group`'s 办理."""
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": group})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关单位办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})


def returned(api: ApiClient) -> int:
    iid = start(api)
    routed(api, iid, "dept_fgw")
    pin_clock(datetime(2026, 3, 9, 15, 0, tzinfo=clock.BEIJING))  # a week later: the unit finds it misrouted
    api._tokens.clear()
    done(api, "fgw1", iid, "handle", {"outcome": "return", "return_reason": REASON})
    return iid


def test_a_return_reopens_classify_for_xfk_with_the_reason(api: ApiClient) -> None:
    iid = returned(api)
    case = api.instance("xfk1", iid)
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["classify"]
    assert case["open_tasks"][0]["candidate_groups"] == ["xfk"]
    assert case["data"]["return_reason"] == REASON
    assert case["data"]["returned_group"] == "dept_fgw"
    assert case["data"]["returned_at"].startswith("2026-03-09T15:00")
    assert case["handling_group"] is None  # no longer handed over to anyone
    back = [h for h in case["history"] if h["task"] == "handle"][-1]
    assert back["user"] == "fgw1" and back["data"]["outcome"] == "return"
    assert back["data"]["return_reason"] == REASON
    assert api.tasks("fgw1", iid) == []


def test_rerouting_reaches_the_new_unit_with_the_deadline_of_the_receipt(api: ApiClient) -> None:
    iid = returned(api)
    before = api.instance("xfk1", iid)["due_at"]
    routed(api, iid, "dept_cjw")
    task = api.task("cjw1", iid, "handle")
    assert task["candidate_groups"] == ["dept_cjw"]
    # 第八条(一): counted from the office's receipt, not from the return (which would be 05-08)
    assert task["due_at"] == DUE == before
    assert api.instance("xfk1", iid)["handling_group"] == "dept_cjw"
    assert api.tasks("fgw1", iid) == []
    done(api, "cjw1", iid, "handle", {"outcome": "done", "result": "已协调临翔区处理"})
    assert [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]] == ["review_result"]


@pytest.mark.parametrize("reason", [None, "", "   ", "不归我"])
def test_a_return_without_a_reason_is_refused_and_changes_nothing(api: ApiClient, reason: str | None) -> None:
    iid = start(api)
    routed(api, iid, "dept_fgw")
    version = len(api.instance("xfk1", iid)["history"])
    form: dict[str, Any] = {"outcome": "return"}
    if reason is not None:
        form["return_reason"] = reason
    r = api.complete("fgw1", iid, "handle", form)
    assert r.status_code == 422, r.get_json()
    fields = {d["field"]: d["message"] for d in r.get_json()["details"]}
    # a Chinese error on the field: the form's own (required) or the rule's (too short)
    assert re.search("[\u4e00-\u9fff]", fields["return_reason"]), fields
    if reason and reason.strip():
        assert "不少于5个字" in fields["return_reason"]
    case = api.instance("xfk1", iid)
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["handle"]
    assert len(case["history"]) == version and case["handling_group"] == "dept_fgw"


def test_a_unit_that_does_not_handle_the_case_cannot_return_it(api: ApiClient) -> None:
    iid = start(api)
    routed(api, iid, "dept_fgw")
    task = api.task("fgw1", iid, "handle")
    for user in ("cjw1", "linxiang1"):
        r = api.post(user, f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"outcome": "return", "return_reason": REASON}})
        assert r.status_code == 403, r.get_json()
    assert [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]] == ["handle"]


def test_the_validation_rule_is_a_pure_function() -> None:
    from workflows.petition import validate_handle

    case = {"returnable": True}
    assert validate_handle({"outcome": "return", "return_reason": REASON}, case, set()) == []
    errors = validate_handle({"outcome": "return", "return_reason": " 不归 "}, case, set())
    assert errors[0]["field"] == "return_reason" and "不少于5个字" in errors[0]["message"]
    # a case handed over on a diagram version without the return path cannot take one
    assert validate_handle({"outcome": "return", "return_reason": REASON}, {}, set())[0]["field"] == "outcome"
    assert validate_handle({"outcome": "done", "result": "x"}, {}, set()) == []


def test_the_pages_offer_the_return_and_show_the_reason_at_classify(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = returned(api)
    xfk = login(page_app, "xfk1")
    classify = api.task("xfk1", iid, "classify")
    page = text(xfk.get(f"/tasks/{classify['id']}"))
    assert "办理单位退回" in page and REASON in page and "法制工作委员会" in page
    case_page = text(xfk.get(f"/instances/{iid}"))
    assert REASON in case_page and "退回信访科" in case_page
    # the next unit's 办理 form offers 退回信访科 with its reason field
    routed(api, iid, "dept_cjw")
    cjw = login(page_app, "cjw1")
    handle = api.task("cjw1", iid, "handle")
    form = text(cjw.get(f"/tasks/{handle['id']}"))
    assert "退回信访科（不属本单位办理）" in form and 'name="return_reason"' in form
    r = cjw.post(f"/tasks/{handle['id']}", data={"outcome": "return", "return_reason": "短"})
    assert r.status_code == 422 and "不少于5个字" in text(r)
    assert [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]] == ["handle"]
