"""The petition's main path over the API, on SQLite and PostgreSQL."""

from conftest import PETITION, ApiClient


def test_petition_dept_route_reaches_reply_and_waits_for_review_window(api: ApiClient) -> None:
    data = {**PETITION, "received_at": "2026-11-20T09:00:00+08:00"}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    assert r.get_json()["business_key"].startswith("XF-2026-")
    steps = [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve"}),
        ("msz", "sg_approve", {"decision": "approve"}),
        ("fgw1", "handle", {"outcome": "done", "result": "已督促企业支付工资"}),
        ("xfk1", "review_result", {"decision": "accept"}),
        ("xfk1", "reply", {"reply_text": "经查，工资已支付。", "replied_at": "2026-11-25", "delivery": "邮寄"}),
    ]
    for user, bpmn_id, form in steps:
        r = api.complete(user, iid, bpmn_id, form)
        assert r.status_code == 200, (bpmn_id, r.get_json())
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "running"
    assert detail["open_tasks"] == []
    assert [t["due_at"] for t in detail["timers"]] == ["2026-12-25T23:59:59+08:00"]
    # the handling deadline was met by the reply: the case now only waits in the 复查 window
    assert detail["data"]["due_at"] == "2027-01-19T23:59:59+08:00"
    assert detail["due_at"] is None and detail["overdue"] is False


def test_petition_review_request_during_window_ends_in_review(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    assert api.complete("xfk1", iid, "classify", {"category": "其他", "route": "reject"}).status_code == 200
    r = api.complete("xfk1", iid, "reply", {"reply_text": "不予受理，请向有权机关提出。",
                                              "replied_at": "2026-12-01", "delivery": "邮寄"})
    assert r.status_code == 200, r.get_json()
    r = api.post("xfk1", f"/api/v1/instances/{iid}/messages/review_request",
                 json={"data": {"requested_at": "2026-12-01", "organ": "临沧市人大常委会", "note": "申请复查"}})
    assert r.status_code == 200, r.get_json()
    detail = api.instance("xfk1", iid)
    assert detail["status"] == "completed"
    assert detail["data"]["review_requested"] is True
    assert detail["history"][-1]["action"] == "end"
