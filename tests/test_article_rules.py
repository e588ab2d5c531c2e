"""网站稿件审核发布 (PROCEDURES.md §3; seed 000 临沧人大网站管理制度 第三条–第十二条): the rules of
registration, review, the same-day deadline and withdrawal, driven through the JSON API as the
demo users (SQLite and PostgreSQL through the `api` fixture)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import ApiClient, login, pin_clock, start, text

PROCESS = "article_publication"
ARTICLE = {
    "title": "市人大常委会召开第十次会议",
    "column": "人大要闻",
    "author": "张三",
    "source": "市人大常委会办公室",
    "reprint": False,
    "classified": False,
    "department": "dept_fgw",
    "received_at": "2026-12-01T09:00:00+08:00",
    "body": "<p>会议审议了有关报告。</p>",
}
COUNTY_ARTICLE = {**ARTICLE, "title": "临翔区人大常委会开展执法检查", "column": "县(区)人大", "department": "dept_cjw"}
ALL_PASS = {"wording": True, "secrecy": True, "ideology": True, "ethnic_religion": True, "border": True}


def register(api: ApiClient, user: str = "web1", **changes: Any) -> Any:
    """Register ARTICLE with `changes` (a change to None leaves the field out)."""
    data = {k: v for k, v in {**ARTICLE, **changes}.items() if v is not None}
    return api.post(user, "/api/v1/instances", json={"process": PROCESS, "data": data})


def registered(api: ApiClient, user: str = "web1", **changes: Any) -> int:
    r = register(api, user, **changes)
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def complete(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def edit(api: ApiClient, iid: int, user: str = "web1", **changes: Any) -> None:
    complete(api, user, iid, "edit", {"title": ARTICLE["title"], "column": ARTICLE["column"],
                                      "body": ARTICLE["body"], **changes})


def published(api: ApiClient, user: str = "web1", reviewer: str = "bgs", **changes: Any) -> int:
    iid = registered(api, user, **changes)
    column = changes.get("column", ARTICLE["column"])
    edit(api, iid, user, column=column)
    complete(api, reviewer, iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, user, iid, "publish", {})
    return iid


def errors(r: Any) -> dict[str, str]:
    return {e["field"]: e["message"] for e in r.get_json()["details"]}


def counts(app: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from service.store.models import History, Instance, ReadRow, Sequence

    with app.extensions["govflow"].db.read() as session:
        return {name: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("instances", Instance), ("history", History), ("read_rows", ReadRow),
                                    ("sequences", Sequence))} | {
            "numbers": int(session.scalar(select(func.coalesce(func.sum(Sequence.value), 0))) or 0)}


# ---- 登记 (第六条、第九条、第五条、第三条、第十一条)

def test_a_classified_document_is_refused_and_nothing_is_stored(app: Any, api: ApiClient) -> None:
    """第九条 不得上传标密文件: 422 on `classified`, and not a row anywhere — no case, no history, no
    read-model row, no number taken."""
    registered(api)  # one article before, so the counters exist
    before = counts(app)
    r = register(api, classified=True)
    assert r.status_code == 422
    assert r.get_json()["message"] == "标密文件不得上传"  # the answer itself, not only a field's
    assert errors(r)["classified"] == "标密文件不得上传"
    assert counts(app) == before
    # and the next article takes the very next number
    r = register(api)
    assert r.status_code == 201 and r.get_json()["business_key"] == "GJ-2026-00002"


def test_a_reprint_needs_its_author_and_source(api: ApiClient) -> None:
    """第六条 网站转载的信息和资料应注明作者和来源."""
    r = register(api, reprint=True, author="", source="")
    assert r.status_code == 422
    found = errors(r)
    assert found["author"] == found["source"] == "转载稿件须注明作者和来源（网站管理制度第六条）"
    r = register(api, reprint=True, author="李四", source=" ")
    assert r.status_code == 422 and set(errors(r)) == {"source"}
    assert register(api, reprint=True, author="李四", source="人民网").status_code == 201
    assert register(api, reprint=False, author="", source="").status_code == 201  # an own article needs neither


def test_the_column_must_be_one_of_the_columns_setting(api: ApiClient) -> None:
    """第五条: the fixed columns and the topic columns, editable by admin (a setting)."""
    r = register(api, column="娱乐八卦")
    assert r.status_code == 422 and errors(r)["column"] == "请从“栏目”的可选项中选择"
    assert register(api, column="主题教育").status_code == 201  # a topic column of 第五条
    r = api.client.put(f"/api/v1/settings/{PROCESS}.columns", headers=api.headers("admin"),
                       json={"value": "人大要闻,县(区)人大,专题：乡村振兴"})
    assert r.status_code == 200, r.get_json()
    assert register(api, column="专题：乡村振兴").status_code == 201
    assert register(api, column="主题教育").status_code == 422  # no longer a column


def test_an_office_article_needs_its_submitting_unit(api: ApiClient) -> None:
    r = register(api, department=None)
    assert r.status_code == 422 and errors(r)["department"] == "请选择报送单位"
    r = register(api, department="county_linxiang_web")  # a role inside a county is no unit
    assert r.status_code == 422 and "department" in errors(r)


def test_the_county_column_is_for_county_web_admins_only(app: Any, api: ApiClient) -> None:
    """第三条、第十一条: 县(区)人大 is the county admins' column; theirs goes to their county's leader
    and counts for their county, whatever unit they pick; they may use no other column."""
    r = register(api, "web1", column="县(区)人大")
    assert r.status_code == 422 and "县（区）人大网站管理员" in errors(r)["column"]
    r = register(api, "lxweb1", column="人大要闻")
    assert r.status_code == 422 and errors(r)["column"] == "县（区）人大网站管理员只能登记“县(区)人大”栏目的稿件"
    r = api.post("lxweb1", "/api/v1/instances", json={"process": PROCESS, "data": COUNTY_ARTICLE})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    data = api.instance("lxweb1", iid)["data"]
    assert (data["county"], data["department"], data["register_group"], data["review_group"]) == (
        "county_linxiang", "county_linxiang", "county_linxiang_web", "county_linxiang_leader")
    # the county admin edits it, and it may not leave the county column
    bad = api.complete("lxweb1", iid, "edit", {"title": "x", "column": "人大要闻", "body": "<p>x</p>"})
    assert bad.status_code == 422 and errors(bad)["column"] == "县（区）人大的稿件须留在“县(区)人大”栏目"
    assert api.tasks("web1", iid, "edit") == []  # not the office's task
    # an office article may not move into the county column either
    office = registered(api)
    bad = api.complete("web1", office, "edit", {"title": "x", "column": "县(区)人大", "body": "<p>x</p>"})
    assert bad.status_code == 422 and "不能移入" in errors(bad)["column"]


def test_a_county_article_is_reviewed_by_that_countys_leader_only(api: ApiClient) -> None:
    """第十一条 县(区)人大常委会办公室要确定分管领导，负责本县(区)稿件审核工作."""
    r = api.post("lxweb1", "/api/v1/instances", json={"process": PROCESS, "data": COUNTY_ARTICLE})
    iid = r.get_json()["id"]
    edit(api, iid, "lxweb1", column="县(区)人大")
    task = api.task("lxld1", iid, "review")
    assert task["candidate_groups"] == ["county_linxiang_leader"]
    assert api.tasks("bgs", iid, "review") == []
    r = api.post("bgs", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"checks": ALL_PASS,
                                                                              "decision": "approve"}})
    assert r.status_code == 403
    complete(api, "lxld1", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    assert api.task("lxweb1", iid, "publish")["candidate_groups"] == ["county_linxiang_web"]
    # an office article is the office leader's, never a county leader's
    office = registered(api)
    edit(api, office)
    assert api.task("bgs", office, "review")["candidate_groups"] == ["office_leader"]
    assert api.tasks("lxld1", office) == []


# ---- 审核 (第四条)

def test_approving_with_a_failed_point_is_refused(app: Any, api: ApiClient) -> None:
    iid = registered(api)
    edit(api, iid)
    before = counts(app)
    failed = {**ALL_PASS, "secrecy": False}
    r = api.complete("bgs", iid, "review", {"checks": failed, "check_comments": {"secrecy": "涉及未公开数据"},
                                            "decision": "approve"})
    assert r.status_code == 422
    assert errors(r) == {"checks.secrecy": "“保密”未通过，不能审核通过，请退回修改"}
    assert counts(app) == before
    # a failed point needs its comment, a return needs a reason
    r = api.complete("bgs", iid, "review", {"checks": failed, "decision": "return"})
    assert r.status_code == 422 and errors(r)["check_comments.secrecy"] == "“保密”未通过，请填写意见"
    r = api.complete("bgs", iid, "review", {"checks": ALL_PASS, "decision": "return"})
    assert r.status_code == 422 and errors(r)["comment"] == "退回修改须写明审核意见"
    # every point must be judged
    r = api.complete("bgs", iid, "review", {"checks": {"wording": True}, "decision": "approve"})
    assert r.status_code == 422 and "checks.secrecy" in errors(r)


def test_a_return_goes_back_to_edit_with_its_reasons(app: Any, api: ApiClient) -> None:
    from service.readmodels import rows

    iid = registered(api)
    edit(api, iid)
    complete(api, "bgs", iid, "review", {
        "checks": {**ALL_PASS, "secrecy": False, "border": False},
        "check_comments": {"secrecy": "涉及未公开数据", "border": "地名表述不规范"},
        "comment": "请修改后再报", "decision": "return"})
    task = api.task("web1", iid, "edit")
    detail = api.get("web1", f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["data"]["returned_points"] == "保密：涉及未公开数据；涉边：地名表述不规范"
    assert detail["data"]["comment"] == "请修改后再报"
    data = api.instance("web1", iid)["data"]
    assert data["returns"] == 1 and data["returned_at"].startswith("2026-12-01T10:")
    # the edit page shows the return in its step note
    app.config["WTF_CSRF_ENABLED"] = False
    page = text(login(app, "web1").get(f"/tasks/{task['id']}"))
    assert "审核退回意见" in page and "保密：涉及未公开数据；涉边：地名表述不规范" in page and "请修改后再报" in page
    # fixed and sent again: a second return counts too, then approval
    edit(api, iid, body="<p>已按意见修改。</p>")
    complete(api, "bgs", iid, "review", {"checks": {**ALL_PASS, "wording": False},
                                         "check_comments": {"wording": "错别字"}, "decision": "return"})
    assert api.instance("web1", iid)["data"]["returned_points"] == "文字：错别字"
    edit(api, iid)
    complete(api, "bgs", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    assert api.instance("web1", iid)["data"]["returns"] == 2
    with app.extensions["govflow"].db.read() as session:
        row = rows(session, "articles")[0]
        returns = rows(session, "article_returns", tag="dept_fgw")
    assert row["returns"] == 2 and row["stage"] == "publishing"
    assert sorted(r["key"] for r in returns) == [f"{iid}:1", f"{iid}:2"]
    assert {r["by"] for r in returns} == {"bgs"}


# ---- 当天编审上传 (第八条)

def _expected_end(received: date) -> str:
    """The end of the day, or of the next working day, by the State Council's own data
    (chinesecalendar), not by the code under test."""
    import chinese_calendar

    day = received
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return f"{day.isoformat()}T23:59:59+08:00"


@pytest.mark.parametrize(("received", "expected"), [
    ("2026-12-04T16:30:00+08:00", "2026-12-04T23:59:59+08:00"),  # a Friday: that day
    ("2026-12-05T10:00:00+08:00", "2026-12-07T23:59:59+08:00"),  # a Saturday: Monday
    ("2026-09-30T15:00:00+08:00", "2026-09-30T23:59:59+08:00"),  # the day before 国庆节: that day
    ("2026-10-01T09:00:00+08:00", None),  # on the holiday: the first working day after it
])
def test_review_and_publish_are_due_the_same_working_day(api: ApiClient, received: str,
                                                         expected: str | None) -> None:
    import chinese_calendar

    pin_clock(datetime.fromisoformat("2026-12-08T09:00:00+08:00"))
    day = date.fromisoformat(received[:10])
    if expected is None:
        assert chinese_calendar.is_holiday(day)
        expected = _expected_end(day)
        assert expected > received  # the holiday's next working day
    assert _expected_end(day) == expected
    iid = registered(api, received_at=received)
    assert api.instance("web1", iid)["data"]["due_at"] == expected
    assert api.task("web1", iid, "edit")["due_at"] == expected
    edit(api, iid)
    assert api.task("bgs", iid, "review")["due_at"] == expected
    complete(api, "bgs", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    assert api.task("web1", iid, "publish")["due_at"] == expected


def test_an_overdue_article_shows_red_in_the_inbox_and_on_the_board(api: ApiClient) -> None:
    """Received yesterday (Monday 2026-11-30) and still not published today: 已超期 for web1, and
    on 办公室分管领导's 督办 board under 网站管理员."""
    iid = registered(api, received_at="2026-11-30T09:00:00+08:00")
    assert api.task("web1", iid, "edit")["due_state"] == "overdue"
    board = api.get("bgs", "/api/v1/supervision/board").get_json()
    found = [(d["group"], c) for d in board["departments"] for c in d["cases"] if c["id"] == iid]
    assert len(found) == 1
    group, case = found[0]
    assert group == "web_admin" and case["overdue"] is True and case["due_state"] == "overdue"
    assert case["due_at"] == "2026-11-30T23:59:59+08:00"
    fresh = registered(api)  # received today: due tonight, not overdue
    assert api.task("web1", fresh, "edit")["due_state"] != "overdue"
    board = api.get("bgs", "/api/v1/supervision/board").get_json()
    assert fresh not in {c["id"] for d in board["departments"] for c in d["cases"]}


# ---- 撤稿 (第四条：发现问题及时处理)

def test_withdraw_only_a_published_article_once_with_who_when_why(api: ApiClient) -> None:
    iid = registered(api)
    r = api.post("web1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "数据有误"})
    assert r.status_code == 409 and r.get_json()["message"] == "稿件尚未发布，不能撤稿"
    edit(api, iid)
    complete(api, "bgs", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, "web1", iid, "publish", {"publish_note": "已上传"})
    assert api.post("fgw1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "x"}).status_code == 403
    assert api.post("lxweb1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "x"}).status_code == 403
    r = api.post("bgs", f"/api/v1/articles/{iid}/withdraw", json={})
    assert r.status_code == 422 and "reason" in errors(r)
    for blank in ("   ", "\u3000\n"):  # blanks are no reason: the history must keep why
        r = api.post("bgs", f"/api/v1/articles/{iid}/withdraw", json={"reason": blank})
        assert r.status_code == 422 and errors(r) == {"reason": "请写明撤稿理由"}
        r = api.post("bgs", f"/api/v1/instances/{iid}/messages/withdraw", json={"data": {"reason": blank}})
        assert r.status_code == 422 and errors(r) == {"reason": "请写明撤稿理由"}
    assert api.client.get(f"/site/articles/{iid}").status_code == 200  # still on the site
    keyed = {**api.headers("bgs"), "Idempotency-Key": "withdraw-1"}
    r = api.client.post(f"/api/v1/articles/{iid}/withdraw", json={"reason": "文中数据有误，须核实"}, headers=keyed)
    assert r.status_code == 200, r.get_json()
    answer = r.get_json()
    assert answer["id"] == iid and answer["business_key"].startswith("GJ-2026-")
    assert answer["status"] == "completed" and answer["withdrawn_at"].startswith("2026-12-01T10:")
    # a retried request with the same key gets the same answer; a new one is refused
    again = api.client.post(f"/api/v1/articles/{iid}/withdraw", json={"reason": "文中数据有误，须核实"},
                            headers=keyed)
    assert again.status_code == 200 and again.get_json() == answer
    r = api.post("web1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "再撤一次"})
    assert r.status_code == 409 and r.get_json()["message"] == "稿件已撤稿"
    inst = api.instance("web1", iid)
    step = [h for h in inst["history"] if h["action"] == "message"]
    assert [(h["user"], h["task_name"]) for h in step] == [("bgs", "withdraw")]
    assert step[0]["at"] == answer["withdrawn_at"] and step[0]["data"] == {"reason": "文中数据有误，须核实"}
    assert inst["data"]["withdraw_reason"] == "文中数据有误，须核实"


def test_withdraw_of_what_is_no_article_is_404(api: ApiClient) -> None:
    petition = start(api)
    assert api.post("web1", f"/api/v1/articles/{petition}/withdraw", json={"reason": "x"}).status_code == 404
    assert api.post("web1", "/api/v1/articles/999999/withdraw", json={"reason": "x"}).status_code == 404


def test_a_suspended_county_web_admin_may_not_register_until_restored(api: ApiClient) -> None:
    """第十一条 取消其管理员资格: while 停权, lxweb1 is refused (and told why) and sees none of the
    county's tasks; restored, lxweb1 registers and publishes again."""
    iid = registered(api, "lxweb1", **{k: COUNTY_ARTICLE[k] for k in ("title", "column")})
    edit(api, iid, "lxweb1", column="县(区)人大")
    complete(api, "lxld1", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    who = {"username": "lxweb1", "group": "county_linxiang_web"}
    r = api.post("admin", "/api/v1/admin/suspensions", json={**who, "reason": "反复出现失误且不按要求整改"})
    assert r.status_code == 201, r.get_json()
    r = register(api, "lxweb1", **{k: COUNTY_ARTICLE[k] for k in ("title", "column")})
    assert r.status_code == 403
    assert r.get_json()["message"] == "只有网站管理员和县（区）人大网站管理员可以登记稿件；被停权的管理员恢复权限前不能登记"
    assert api.tasks("lxweb1", iid) == []  # the publish step is out of reach too
    r = api.post("admin", "/api/v1/admin/suspensions/restore", json={**who, "reason": "已整改"})
    assert r.status_code == 200, r.get_json()
    complete(api, "lxweb1", iid, "publish", {})
    assert api.client.get(f"/site/articles/{iid}").status_code == 200
    assert register(api, "lxweb1", **{k: COUNTY_ARTICLE[k] for k in ("title", "column")}).status_code == 201
