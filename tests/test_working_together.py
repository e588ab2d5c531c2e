"""Working together (协同办理): 常用意见 (a user's frequent comments, most used first, at most 50 of
at most 500 characters), 批量签收 (each task claimed on its own: 「已签收 3 件；1 件已被他人签收」),
签收回执 (the handling unit's first claim of a 交办, kept through an unclaim and re-claim, shown to
信访科) and 转办 to a colleague of the task's group — on SQLite and PostgreSQL (`app`/`api`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import ApiClient, done, login, pin_clock, start, text

from service import clock

PROPOSAL = "建议交法制工作委员会办理，六十日内报送办理结果。"


def pages(app: Any, user: str) -> Any:
    """A page client of `user`, forms posted without CSRF tokens (CSRF is proved apart)."""
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["TESTING"] = True
    return login(app, user)


def to_handle(api: ApiClient) -> int:
    """A petition routed 交办 to 法制工作委员会 (dept_fgw) and approved: at 办理, unclaimed."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": PROPOSAL})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def comments(api: ApiClient, user: str) -> list[dict[str, Any]]:
    r = api.get(user, "/api/v1/me/comments")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def delete(api: ApiClient, user: str, comment_id: int) -> Any:
    return api.client.delete(f"/api/v1/me/comments/{comment_id}", headers=api.headers(user))


# ---- 常用意见 ---------------------------------------------------------------------------------


def test_common_comments_are_added_listed_and_deleted_by_their_owner_only(api: ApiClient) -> None:
    assert comments(api, "xfk1") == []
    r = api.post("xfk1", "/api/v1/me/comments", json={"text": "  同意，请按期办结。  "})
    assert r.status_code == 201, r.get_json()
    saved = r.get_json()
    assert saved["text"] == "同意，请按期办结。" and saved["used_count"] == 0
    again = api.post("xfk1", "/api/v1/me/comments", json={"text": "同意，请按期办结。"})
    assert again.status_code == 200 and again.get_json()["id"] == saved["id"]  # kept once
    assert [c["text"] for c in comments(api, "xfk1")] == ["同意，请按期办结。"]
    assert comments(api, "xfk2") == []  # one's own list
    assert delete(api, "xfk2", saved["id"]).status_code == 404  # another's comment is not found
    assert delete(api, "xfk1", saved["id"]).get_json() == {"deleted": saved["id"]}
    assert comments(api, "xfk1") == []


def test_an_empty_or_too_long_comment_is_a_chinese_422_and_saves_nothing(api: ApiClient) -> None:
    empty = api.post("xfk1", "/api/v1/me/comments", json={"text": "   "})
    assert empty.status_code == 422 and empty.get_json()["message"] == "常用意见不能为空"
    long = api.post("xfk1", "/api/v1/me/comments", json={"text": "意" * 501})
    assert long.status_code == 422 and long.get_json()["message"] == "常用意见不能超过500字"
    assert api.post("xfk1", "/api/v1/me/comments", json={"text": "意" * 500}).status_code == 201
    assert [len(c["text"]) for c in comments(api, "xfk1")] == [500]


def test_a_user_keeps_at_most_50_common_comments(api: ApiClient) -> None:
    for n in range(50):
        assert api.post("xfk1", "/api/v1/me/comments", json={"text": f"意见{n}"}).status_code == 201
    full = api.post("xfk1", "/api/v1/me/comments", json={"text": "第五十一条"})
    assert full.status_code == 422 and "最多保存50条" in full.get_json()["message"]
    assert len(comments(api, "xfk1")) == 50


def test_the_comments_page_adds_and_deletes_and_refuses_an_empty_one(app: Any, api: ApiClient) -> None:
    client = pages(app, "xfk1")
    refused = client.post("/me/comments", data={"text": " "})
    assert refused.status_code == 422 and "常用意见不能为空" in text(refused)
    page = text(client.post("/me/comments", data={"text": "请抓紧办理"}, follow_redirects=True))
    assert "已保存常用意见" in page and "请抓紧办理" in page
    comment_id = comments(api, "xfk1")[0]["id"]
    page = text(client.post(f"/me/comments/{comment_id}/delete", follow_redirects=True))
    assert "已删除常用意见" in page and comments(api, "xfk1") == []


def test_the_comments_page_needs_a_csrf_token(app: Any) -> None:
    client = pages(app, "xfk1")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/me/comments", data={"text": "请抓紧办理"}).status_code == 400


def test_comments_used_in_a_completed_task_are_counted_most_used_first(app: Any, api: ApiClient) -> None:
    for phrase in ("同意。", PROPOSAL):
        assert api.post("xfk1", "/api/v1/me/comments", json={"text": phrase}).status_code == 201
    assert [c["text"] for c in comments(api, "xfk1")] == [PROPOSAL, "同意。"]  # unused: newest first
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    task = api.task("xfk1", iid, "propose")
    client = pages(app, "xfk1")
    page = text(client.get(f"/tasks/{task['id']}"))
    # the picker sits beside the 拟办意见 textarea, offering the saved comments
    assert 'data-cc-for="f_proposal"' in page and f'<option value="{PROPOSAL}">' in page
    assert "存为常用意见" in page and "collaboration.js" in page
    r = client.post(f"/tasks/{task['id']}", data={"proposal": f"同意。{PROPOSAL}"})
    assert r.status_code == 302, text(r)
    listed = comments(api, "xfk1")
    # both used once at the same moment: the newer first
    assert [(c["text"], c["used_count"]) for c in listed] == [(PROPOSAL, 1), ("同意。", 1)]
    # a second task uses one of them again: it comes first; a ticked new text is saved, counted once
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    handle = api.task("fgw1", iid, "handle")
    fgw = pages(app, "fgw1")
    assert api.post("fgw1", "/api/v1/me/comments", json={"text": "经核查，情况属实。"}).status_code == 201
    r = fgw.post(f"/tasks/{handle['id']}", data={"outcome": "done", "result": "经核查，情况属实。已督促整改。",
                                                  "_save_common_comment": "result"})
    assert r.status_code == 302, text(r)
    # the saved phrase was used inside the text (counted); the ticked text itself is saved, used once
    assert [(c["text"], c["used_count"]) for c in comments(api, "fgw1")] == [
        ("经核查，情况属实。已督促整改。", 1), ("经核查，情况属实。", 1)]


def test_the_most_used_comment_is_listed_first(app: Any, api: ApiClient) -> None:
    for phrase in ("甲意见", "乙意见"):
        api.post("xfk1", "/api/v1/me/comments", json={"text": phrase})
    client = pages(app, "xfk1")
    for _ in range(2):
        iid = start(api)
        done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
        task = api.task("xfk1", iid, "propose")
        assert client.post(f"/tasks/{task['id']}", data={"proposal": "乙意见"}).status_code == 302
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    task = api.task("xfk1", iid, "propose")
    assert client.post(f"/tasks/{task['id']}", data={"proposal": "甲意见"}).status_code == 302
    assert [(c["text"], c["used_count"]) for c in comments(api, "xfk1")] == [("乙意见", 2), ("甲意见", 1)]
    page = text(client.get("/me/comments"))
    assert page.index("乙意见") < page.index("甲意见") and "已用 2 次" in page


# ---- 批量签收 ---------------------------------------------------------------------------------


def classify_tasks(api: ApiClient, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        iid = start(api)
        ids.append(api.task("xfk1", iid, "classify")["id"])
    return ids


def test_bulk_claim_claims_each_free_task_and_says_which_were_taken(api: ApiClient) -> None:
    ids = classify_tasks(api, 4)
    assert api.post("xfk2", f"/api/v1/tasks/{ids[1]}/claim").status_code == 200
    r = api.post("xfk1", "/api/v1/tasks/claim", json={"task_ids": ids})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["claimed"] == 3 and body["summary"] == "已签收 3 件；1 件已被他人签收"
    assert [(x["id"], x["status"]) for x in body["results"]] == [
        (ids[0], "claimed"), (ids[1], "taken"), (ids[2], "claimed"), (ids[3], "claimed")]
    holders = {i: api.get("xfk1", f"/api/v1/tasks/{i}").get_json()["assignee"] for i in ids}
    assert holders == {ids[0]: "xfk1", ids[1]: "xfk2", ids[2]: "xfk1", ids[3]: "xfk1"}
    # each claim is its own history row, as a single 签收 writes it
    iid = api.get("xfk1", f"/api/v1/tasks/{ids[0]}").get_json()["instance_id"]
    assert [h["user"] for h in api.instance("xfk1", iid)["history"] if h["action"] == "claim"] == ["xfk1"]


def test_bulk_claim_checks_the_policy_per_task_and_refuses_an_empty_list(api: ApiClient) -> None:
    ids = classify_tasks(api, 2)
    body = api.post("fgw1", "/api/v1/tasks/claim", json={"task_ids": ids + ["no-such-task"]}).get_json()
    assert [x["status"] for x in body["results"]] == ["forbidden", "forbidden", "missing"]
    assert body["claimed"] == 0 and body["summary"] == "已签收 0 件；2 件无权签收；1 件不存在"
    empty = api.post("xfk1", "/api/v1/tasks/claim", json={"task_ids": []})
    assert empty.status_code == 422 and empty.get_json()["message"] == "请选择要签收的任务"
    assert all(api.get("xfk1", f"/api/v1/tasks/{i}").get_json()["assignee"] is None for i in ids)


def test_the_inbox_claims_ticked_tasks_in_one_post(app: Any, api: ApiClient) -> None:
    ids = classify_tasks(api, 4)
    client = pages(app, "xfk1")
    page = text(client.get("/tasks"))
    assert "批量签收" in page and page.count('form="bulk-claim" name="task_ids"') == 4
    assert api.post("xfk2", f"/api/v1/tasks/{ids[3]}/claim").status_code == 200
    r = client.post("/tasks/bulk-claim", data={"task_ids": ids}, follow_redirects=True)
    assert "已签收 3 件；1 件已被他人签收" in text(r)
    assert [api.get("xfk1", f"/api/v1/tasks/{i}").get_json()["assignee"] for i in ids] == [
        "xfk1", "xfk1", "xfk1", "xfk2"]


def test_the_inbox_bulk_claim_needs_a_csrf_token(app: Any, api: ApiClient) -> None:
    ids = classify_tasks(api, 1)
    client = pages(app, "xfk1")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/tasks/bulk-claim", data={"task_ids": ids}).status_code == 400
    assert api.get("xfk1", f"/api/v1/tasks/{ids[0]}").get_json()["assignee"] is None


# ---- 签收回执 ---------------------------------------------------------------------------------


def test_the_department_first_claim_is_its_receipt_kept_after_unclaim(app: Any, api: ApiClient) -> None:
    iid = to_handle(api)
    task = api.task("fgw1", iid, "handle")
    assigned = clock.now()
    pin_clock(assigned + timedelta(hours=26, minutes=5))
    pending = api.instance("xfk1", iid)["receipts"]
    assert [(r["status"], r["group_key"], r["group_name"], r["waiting_minutes"]) for r in pending] == [
        ("pending", "dept_fgw", "法制工作委员会", 26 * 60 + 5)]
    page = text(pages(app, "xfk1").get(f"/instances/{iid}"))
    assert "交办回执" in page and "未签收" in page and "已等待 1天2小时" in page
    claimed_from = clock.now().replace(microsecond=0)  # the pinned clock still ticks: a slow run crosses a second
    assert api.post("fgw1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    first = api.instance("xfk1", iid)["receipts"]
    assert [(r["status"], r["received_by"], r["group_name"]) for r in first] == [
        ("received", "fgw1", "法制工作委员会")]
    received_at = first[0]["received_at"]
    assert claimed_from <= clock.parse_datetime(received_at) <= clock.now()
    # 退签 and 签收 again (a day later): the first receipt stays, no second one
    assert api.post("fgw1", f"/api/v1/tasks/{task['id']}/unclaim").status_code == 200
    pin_clock(clock.now() + timedelta(days=1))
    assert api.post("fgw1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    detail = api.instance("xfk1", iid)
    assert [(r["received_by"], r["received_at"]) for r in detail["receipts"]] == [("fgw1", received_at)]
    rows = [h for h in detail["history"] if h["action"] == "receipt"]
    assert len(rows) == 1 and rows[0]["user"] == "fgw1" and "法制工作委员会已签收" in rows[0]["comment"]
    page = text(pages(app, "xfk1").get(f"/instances/{iid}"))
    assert "交办回执" in page and "已签收" in page and "签收回执" in page  # panel and timeline row
    assert "未签收</span>" not in page.split('id="receipts"')[1].split("</section>")[0]
    from sqlalchemy import func, select

    from service.store.collaboration_models import TaskReceipt

    with app.extensions["govflow"].db.read() as session:
        assert session.scalar(select(func.count(TaskReceipt.id))) == 1


def test_steps_that_ask_no_receipt_leave_none(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    assert api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    detail = api.instance("xfk1", iid)
    assert detail["receipts"] == [] and not [h for h in detail["history"] if h["action"] == "receipt"]


def test_the_receipts_are_shown_only_to_those_who_see_the_case(api: ApiClient) -> None:
    iid = to_handle(api)
    assert api.get("cjw1", f"/api/v1/instances/{iid}").status_code == 403
    assert api.instance("fgw1", iid)["receipts"][0]["status"] == "pending"


# ---- 转办 ------------------------------------------------------------------------------------


def test_transfer_to_a_colleague_of_the_group_is_recorded_and_notified(app: Any, api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    page = text(pages(app, "xfk1").get(f"/tasks/{task['id']}"))
    assert "转办给同事" in page and '<option value="xfk2">信访科 李科员（信访科）</option>' in page
    assert 'value="xfk1"' not in page.split('id="transfer"')[1]  # not to oneself
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk2", "note": "请您分类"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["assignee"] == "xfk2"
    assert api.get("xfk2", f"/api/v1/tasks/{task['id']}").get_json()["assignee"] == "xfk2"
    assert api.tasks("xfk1", iid) == []  # gone from the giver's inbox
    rows = [h for h in api.instance("xfk1", iid)["history"] if h["action"] == "transfer"]
    assert [(h["user"], h["comment"]) for h in rows] == [("xfk1", "给 信访科 李科员（xfk2）：请您分类")]
    notices = [n for n in api.get("xfk2", "/api/v1/notices").get_json() if n["kind"] == "transfer"]
    assert [(n["kind_name"], n["recipient_user"], n["task_id"]) for n in notices] == [("转办", "xfk2", task["id"])]
    assert notices[0]["text"].endswith("「归纳分类」转给您办理：请您分类")
    timeline = text(pages(app, "xfk2").get(f"/instances/{iid}"))
    assert "转办" in timeline and "给 信访科 李科员（xfk2）：请您分类" in timeline
    # the new holder may act; the giver, no longer holding it, may not hand it on again
    assert api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk1"}).status_code == 403
    done(api, "xfk2", iid, "classify", {"category": "其他", "route": "reject"})


def test_transfer_to_someone_outside_the_groups_is_422_and_changes_nothing(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "fgw1"})
    assert r.status_code == 422 and r.get_json()["message"] == "只能转办给本任务办理组内的同事"
    nobody = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "nobody"})
    assert nobody.status_code == 422 and nobody.get_json()["message"] == "转办对象不存在"
    missing = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={})
    assert missing.status_code == 422 and missing.get_json()["message"] == "请选择转办给哪位同事"
    assert api.post("fgw1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk2"}).status_code == 403
    assert api.get("xfk1", f"/api/v1/tasks/{task['id']}").get_json()["assignee"] is None
    assert not [h for h in api.instance("xfk1", iid)["history"] if h["action"] == "transfer"]


def test_transfer_of_a_completed_task_is_409(api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    done(api, "xfk1", iid, "classify", {"category": "其他", "route": "reject"})
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk2"})
    assert r.status_code == 409 and r.get_json()["message"] == "该任务已办理，不能转办"


def test_the_task_page_transfers_and_says_so(app: Any, api: ApiClient) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    client = pages(app, "xfk1")
    page = text(client.post(f"/tasks/{task['id']}/transfer", data={"to": "xfk2", "note": ""},
                            follow_redirects=True))
    assert "已转办给 信访科 李科员" in page
    refused = text(pages(app, "xfk2").post(f"/tasks/{task['id']}/transfer", data={"to": "fgw1"},
                                           follow_redirects=True))
    assert "只能转办给本任务办理组内的同事" in refused
    assert api.get("xfk1", f"/api/v1/tasks/{task['id']}").get_json()["assignee"] == "xfk2"
    rows = [h["comment"] for h in api.instance("xfk1", iid)["history"] if h["action"] == "transfer"]
    assert rows == ["给 信访科 李科员（xfk2）"]


def test_a_transfer_before_the_unit_signed_is_its_receipt(api: ApiClient, app: Any) -> None:
    """A unit with a second member: the handling task handed on unsigned — the unit received it."""
    from service.auth import ensure_user

    with app.extensions["govflow"].db.write() as session:
        ensure_user(session, "fgw2", "法制工作委员会 王干部", "govflow-demo", ["dept_fgw"])
    iid = to_handle(api)
    task = api.task("fgw1", iid, "handle")
    r = api.post("fgw1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "fgw2", "note": "请王干部办理"})
    assert r.status_code == 200, r.get_json()
    receipts = api.instance("xfk1", iid)["receipts"]
    assert [(x["status"], x["received_by"]) for x in receipts] == [("received", "fgw1")]
    assert api.task("fgw2", iid, "handle")["assignee"] == "fgw2"


@pytest.mark.parametrize("note", [123, "说" * 501])
def test_a_bad_transfer_note_is_422(api: ApiClient, note: Any) -> None:
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/transfer", json={"to": "xfk2", "note": note})
    assert r.status_code == 422 and re.search("转办说明", r.get_json()["message"])


# ---- in the browser, on a phone --------------------------------------------------------------


@pytest.mark.browser
def test_on_a_phone_the_inbox_bulk_claims_and_the_picker_fills_the_opinion(
        tmp_path: Any, chromium_path: str, artifacts_dir: Any) -> None:
    from conftest import PETITION, browser_app, browser_page, serve
    from playwright.sync_api import expect

    from service import common_comments
    from service.actors import Actor

    app = browser_app(tmp_path, "together")
    svc = app.extensions["govflow"]
    xfk1 = Actor("xfk1", "信访科 张科员", frozenset({"xfk"}))
    started = [svc.runtime.start("petition", dict(PETITION), xfk1) for _ in range(2)]
    common_comments.add(svc.db, "xfk1", PROPOSAL)
    with serve(app) as base, browser_page(chromium_path, viewport={"width": 390, "height": 844},
                                          is_mobile=True, has_touch=True) as page:
        page.goto(f"{base}/login")
        page.fill("#username", "xfk1")
        page.fill("#password", "govflow-demo")
        page.tap("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")
        for case in started:
            page.locator(f"tr[data-business-key='{case['business_key']}'] input.bulk-pick").check()
        page.screenshot(path=str(artifacts_dir / "together_01_bulk.png"), full_page=True)
        page.tap("button:has-text('批量签收')")
        expect(page.locator(".flash")).to_contain_text("已签收 2 件")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        task = next(t for t in started[0]["open_tasks"] if t["bpmn_id"] == "classify")
        svc.runtime.complete(task["id"], {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}, xfk1)
        page.goto(f"{base}/tasks")
        page.locator(f"tr[data-business-key='{started[0]['business_key']}']").get_by_role("link", name="办理").tap()
        expect(page.locator(".page-head h1")).to_have_text("拟办意见")
        picker = page.locator(".field[data-field='proposal'] .cc-picker select")  # moved under its textarea
        expect(picker).to_have_count(1)
        picker.select_option(PROPOSAL)
        expect(page.locator("#f_proposal")).to_have_value(PROPOSAL)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts_dir / "together_02_picker.png"), full_page=True)
        page.tap("button:has-text('提交办理')")
        expect(page.locator(".flash-success")).to_contain_text("已办理")
        assert page.js_errors == []
    with svc.db.read() as session:
        assert [(c["text"], c["used_count"]) for c in common_comments.list_for(session, "xfk1")] == [(PROPOSAL, 1)]
