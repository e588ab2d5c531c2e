"""The case page's details: labels instead of raw keys, comments kept with the step that made
them, notices read by opening their case, 改派 limited to the groups a step allows, and the
复查申请 form (date, receiving organ) checked alike on the page and in the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import PETITION, ApiClient, done, login, refused_and_replied, start, text

# registered on the suite's first day, the day the petition is answered
REVIEW_REQUEST = {"requested_at": "2026-12-01", "organ": "临沧市人大常委会"}


@pytest.fixture
def api(sqlite_api: ApiClient, page_app: Any) -> ApiClient:
    """The JSON API and the pages on one app (page_app is sqlite_app with CSRF off)."""
    assert sqlite_api.app is page_app
    return sqlite_api


def replied(api: ApiClient) -> int:
    """A petition refused at 分类 and answered: it waits in the 复查 window."""
    return refused_and_replied(api)


def handling(api: ApiClient, sign_comment: str | None = None) -> int:
    """A petition handed over to 法制工作委员会 (办理 open)."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交办"})
    sign: dict[str, Any] = {"decision": "approve"}
    if sign_comment:
        sign["comment"] = sign_comment
    done(api, "bgs", iid, "leader_sign", sign)
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def case_data(html: str) -> str:
    found = re.search(r"<h2>案件数据</h2>(.*?)</section>", html, re.S)
    assert found is not None
    return found.group(1)


def options(html: str, task_name: str) -> list[str]:
    """The group keys the 改派 picker of this task offers."""
    found = re.search(rf"改派「{task_name}」.*?<select name=\"group\"[^>]*>(.*?)</select>", html, re.S)
    assert found is not None
    return [v for v in re.findall(r'<option value="([^"]*)"', found.group(1)) if v]


def test_review_request_is_shown_with_its_labels_not_its_raw_key(api: ApiClient, page_app: Any) -> None:
    iid = replied(api)
    client = login(page_app, "xfk1")
    page = text(client.get(f"/instances/{iid}"))
    assert 'name="requested_at"' in page and 'name="organ"' in page  # the form beside the button
    r = client.post(f"/instances/{iid}/messages/review_request",
                    data={"requested_at": "2026-12-01", "organ": "临沧市人大常委会", "note": ""})
    assert r.status_code == 302, text(r)
    html = text(client.get(f"/instances/{iid}"))
    assert "review_request_data" not in html
    assert "<dt>复查申请</dt><dd>申请日期：2026-12-01；受理机关：临沧市人大常委会</dd>" in case_data(html)
    assert "<span><b>申请日期</b>：2026-12-01</span><span><b>受理机关</b>：临沧市人大常委会</span>" in html
    assert api.instance("xfk1", iid)["data"]["review_request_data"] == REVIEW_REQUEST


def test_no_raw_keys_in_the_case_data(api: ApiClient, page_app: Any) -> None:
    iid = handling(api)
    rows = case_data(text(login(page_app, "xfk1").get(f"/instances/{iid}")))
    labels = re.findall(r"<dt>(.*?)</dt>", rows)
    assert labels and all(re.search(r"[\u4e00-\u9fff]", label) for label in labels), labels
    assert not re.search(r"<dt>[a-z_]+</dt>", rows)


def test_a_comment_stays_with_the_step_that_made_it(api: ApiClient, page_app: Any) -> None:
    iid = handling(api, sign_comment="请法工委从速办理")
    html = text(login(page_app, "xfk1").get(f"/instances/{iid}"))
    assert html.count("请法工委从速办理") == 1
    assert '<div class="tl-comment">意见：请法工委从速办理</div>' in html
    assert "最近意见说明" not in html and "最近审批意见" not in html


def test_opening_a_case_from_its_notice_marks_it_read(api: ApiClient, page_app: Any) -> None:
    iid = handling(api)
    task = api.task("fgw1", iid, "handle")
    r = api.post("bgs", f"/api/v1/tasks/{task['id']}/reassign", json={"group": "dept_cjw"})
    assert r.status_code == 200, r.get_json()
    unread = api.get("cjw1", "/api/v1/notices?unread=1").get_json()
    assert [(n["kind"], n["instance_id"], n["read_at"]) for n in unread] == [("reassign", iid, None)]
    client = login(page_app, "cjw1")
    centre = text(client.get("/notices"))
    assert f'href="/instances/{iid}"' in centre
    assert client.get(f"/instances/{iid}").status_code == 200
    after = api.get("cjw1", "/api/v1/notices").get_json()
    assert [n["id"] for n in after] == [unread[0]["id"]]
    assert after[0]["read_at"] is not None and after[0]["read_at"] >= after[0]["created_at"]  # the clock runs
    assert api.get("cjw1", "/api/v1/notices?unread=1").get_json() == []


def test_reassign_offers_only_the_groups_the_step_allows(api: ApiClient, page_app: Any) -> None:
    iid = handling(api)
    html = text(login(page_app, "bgs").get(f"/instances/{iid}"))
    offered = options(html, "办理")
    assert offered == ["county_fengqing", "county_linxiang", "dept_cjw", "dept_fgw", "dept_jsw"]
    task = api.task("fgw1", iid, "handle")
    for group in ("web_admin", "admin", "xfk"):
        r = api.post("bgs", f"/api/v1/tasks/{task['id']}/reassign", json={"group": group})
        assert r.status_code == 422, (group, r.get_json())
        assert r.get_json()["message"] == "改派对象不适合办理该任务"
    assert api.task("fgw1", iid, "handle")["candidate_groups"] == ["dept_fgw"]
    page = login(page_app, "bgs").post(f"/supervision/reassign/{task['id']}",
                                       data={"group": "web_admin", "next": f"/instances/{iid}"})
    assert page.status_code == 302
    assert api.task("fgw1", iid, "handle")["candidate_groups"] == ["dept_fgw"]


def test_an_approval_step_is_reassigned_within_its_own_group_only(api: ApiClient, page_app: Any) -> None:
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交办"})
    html = text(login(page_app, "bgs").get(f"/instances/{iid}"))
    assert options(html, "分管领导签阅") == ["office_leader"]


def test_review_request_needs_its_date_and_organ(api: ApiClient, page_app: Any) -> None:
    iid = replied(api)
    path = f"/api/v1/instances/{iid}/messages/review_request"
    r = api.post("xfk1", path, json={"data": {"organ": "临沧市人大常委会"}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "requested_at", "message": "此项为必填项"}]
    r = api.post("xfk1", path, json={"data": {**REVIEW_REQUEST, "requested_at": "2026-12-02"}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "requested_at", "message": "申请日期不能晚于今天"}]
    client = login(page_app, "xfk1")
    page = client.post(f"/instances/{iid}/messages/review_request", data={"organ": "临沧市人大常委会"})
    assert page.status_code == 422
    assert '<div class="field-error" id="err_requested_at">此项为必填项</div>' in text(page)
    assert 'value="临沧市人大常委会"' in text(page)  # the values kept
    assert api.instance("xfk1", iid)["status"] == "running"
    r = api.post("xfk1", path, json={"data": {**REVIEW_REQUEST, "note": "当面递交"}})
    assert r.status_code == 200, r.get_json()
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "completed"
    assert detail["data"]["review_request_data"] == {**REVIEW_REQUEST, "note": "当面递交"}
    assert PETITION["subject"] in text(client.get(f"/instances/{iid}"))
