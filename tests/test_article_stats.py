"""网站稿件登载统计 (临沧人大网站管理制度 第十二条: 网站每月对机关各委室、县(区)人大机关稿件登载情况进行
统计，并按相关规定及时支付稿酬; API.md `GET /api/v1/reports/articles`, "Reports (台账)"), through the
API as the demo users, on SQLite and PostgreSQL: published articles per department and county by the
month of publication, withdrawn ones left out; review returns per unit (the county's too, 第十一条);
remuneration at the rates of the settings; the JSON shape, who may read it, the Excel file; the
monthly round `article_stats_monthly` started by the scheduler on the 1st at 08:00 with last
month's table, confirmed by 网站管理员, after which the confirmed table is what the month gives."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ApiClient, login, make_app, pin_clock

ROUND = "article_stats_monthly"
PROCESS = "article_publication"
COUNTY_COLUMN = "县(区)人大"
# Every unit of the demo organisation, in the ledger's order: the departments, then the counties.
UNITS = ["dept_cjw", "dept_fgw", "dept_jsw", "county_fengqing", "county_linxiang"]
PASSED = {"wording": True, "secrecy": True, "ideology": True, "ethnic_religion": True, "border": True}


def at(api: ApiClient, moment: str) -> None:
    """Move the service clock (tokens are issued again: they expire by the clock)."""
    from service import clock

    pin_clock(clock.parse_datetime(moment))
    api._tokens.clear()


@pytest.fixture
def stats_api(db_url: str) -> Iterator[ApiClient]:
    """The demo app installed on 2 November 2026 (so the December round is due on 12-01 08:00)."""
    from service import clock

    pin_clock(clock.parse_datetime("2026-11-02T09:00:00+08:00"))
    app = make_app(db_url)
    yield ApiClient(app)
    app.extensions["govflow"].db.dispose()


def done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (user, bpmn_id, r.get_json())


def article(api: ApiClient, moment: str, department: str = "dept_fgw", column: str = "人大要闻",
            returns: int = 0, county: bool = False) -> int:
    """An article registered, edited, reviewed (sent back `returns` times first) and published at
    `moment`: by web1 and bgs, or for the county by lxweb1 and lxld1."""
    at(api, moment)
    web, leader = ("lxweb1", "lxld1") if county else ("web1", "bgs")
    data = {"title": f"{department}{column}稿件", "column": COUNTY_COLUMN if county else column,
            "author": "张记者", "source": "本网", "reprint": False, "classified": False,
            "received_at": moment, "body": "<p>稿件正文。</p>"}
    if not county:
        data["department"] = department
    r = api.post(web, "/api/v1/instances", json={"process": PROCESS, "data": data})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    for _ in range(returns):
        done(api, web, iid, "edit", {"title": data["title"], "column": data["column"], "body": data["body"]})
        done(api, leader, iid, "review", {"checks": {**PASSED, "wording": False},
                                          "check_comments": {"wording": "标题有错字"}, "comment": "请修改",
                                          "decision": "return"})
    done(api, web, iid, "edit", {"title": data["title"], "column": data["column"], "body": data["body"]})
    done(api, leader, iid, "review", {"checks": PASSED, "decision": "approve"})
    done(api, web, iid, "publish", {})
    return iid


def withdraw(api: ApiClient, moment: str, iid: int) -> None:
    at(api, moment)
    r = api.post("web1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "内容有误，撤下更正"})
    assert r.status_code == 200, r.get_json()


def pages(api: ApiClient, username: str) -> Any:
    """A browser-less client logged in to the pages (forms without CSRF tokens, as page_app)."""
    api.app.config["WTF_CSRF_ENABLED"] = False
    return login(api.app, username)


def report(api: ApiClient, month: str, user: str = "web1") -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/reports/articles?month={month}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def by_unit(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int, float]]:
    return {r["unit"]: (r["published"], r["returned"], r["remuneration"]) for r in rows}


def november(api: ApiClient) -> dict[str, int]:
    """October: one fgw article. November: fgw (sent back once), cjw (withdrawn later in November),
    the county's (sent back twice by its own leader), jsw's 领导讲话. 30 Nov: registered, sent back
    and published on 1 December (counts for December)."""
    ids = {
        "october": article(api, "2026-10-30T10:00:00+08:00"),
        "fgw": article(api, "2026-11-10T09:30:00+08:00", returns=1),
        "cjw": article(api, "2026-11-10T15:00:00+08:00", department="dept_cjw"),
        "county": article(api, "2026-11-20T10:00:00+08:00", county=True, returns=2),
        "jsw": article(api, "2026-11-27T16:00:00+08:00", department="dept_jsw", column="领导讲话"),
    }
    withdraw(api, "2026-11-25T09:00:00+08:00", ids["cjw"])
    return ids


# ---- counting (第十二条) -------------------------------------------------------------------------


def test_rule_12_counts_each_unit_by_month_of_publication_and_leaves_withdrawn_articles_out(
        stats_api: ApiClient) -> None:
    api = stats_api
    november(api)
    at(api, "2026-12-01T10:00:00+08:00")
    rows = report(api, "2026-11")
    # the JSON of API.md: one object per unit, exactly these keys, every unit (zeros too), in order
    assert all(set(r) == {"unit", "unit_name", "published", "returned", "remuneration"} for r in rows)
    assert [r["unit"] for r in rows] == UNITS
    assert {r["unit"]: r["unit_name"] for r in rows}["county_linxiang"] == "临翔区人大常委会"
    assert by_unit(rows) == {
        "dept_cjw": (0, 0, 0.0),  # published and withdrawn: not counted
        "dept_fgw": (1, 1, 100.0),  # October's article counts in October
        "dept_jsw": (1, 0, 100.0),
        "county_fengqing": (0, 0, 0.0),
        "county_linxiang": (1, 2, 100.0),  # the county's returns are visible to the office
    }
    assert by_unit(report(api, "2026-10"))["dept_fgw"] == (1, 0, 100.0)
    assert all(r["published"] == 0 for r in report(api, "2026-09"))


def test_rule_12_returns_count_in_the_month_of_the_return_for_the_articles_unit(stats_api: ApiClient) -> None:
    api = stats_api
    # registered and sent back on 30 November, published on 1 December
    at(api, "2026-11-30T16:00:00+08:00")
    r = api.post("web1", "/api/v1/instances", json={"process": PROCESS, "data": {
        "title": "跨月稿件", "column": "监督纵横", "author": "李记者", "source": "本网", "reprint": False,
        "classified": False, "department": "dept_jsw", "received_at": "2026-11-30T15:00:00+08:00",
        "body": "<p>正文</p>"}})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    done(api, "web1", iid, "edit", {"title": "跨月稿件", "column": "监督纵横", "body": "<p>正文</p>"})
    done(api, "bgs", iid, "review", {"checks": {**PASSED, "secrecy": False},
                                     "check_comments": {"secrecy": "涉及内部数据"}, "decision": "return"})
    at(api, "2026-12-01T09:00:00+08:00")
    done(api, "web1", iid, "edit", {"title": "跨月稿件", "column": "监督纵横", "body": "<p>正文（已删改）</p>"})
    done(api, "bgs", iid, "review", {"checks": PASSED, "decision": "approve"})
    done(api, "web1", iid, "publish", {})
    assert by_unit(report(api, "2026-11"))["dept_jsw"] == (0, 1, 0.0)
    assert by_unit(report(api, "2026-12"))["dept_jsw"] == (1, 0, 100.0)


def test_rule_12_remuneration_is_the_default_rate_per_article_or_the_rate_of_its_column(
        stats_api: ApiClient) -> None:
    api = stats_api
    november(api)
    at(api, "2026-12-01T10:00:00+08:00")
    for key, value in (("rate_default", 80), ("column_rates", "人大要闻=150，领导讲话＝120")):
        r = api.client.put(f"/api/v1/settings/{PROCESS}.{key}", json={"value": value}, headers=api.headers("admin"))
        assert r.status_code == 200, r.get_json()
    found = by_unit(report(api, "2026-11"))
    assert found["dept_fgw"] == (1, 1, 150.0)  # 人大要闻
    assert found["dept_jsw"] == (1, 0, 120.0)  # 领导讲话
    assert found["county_linxiang"] == (1, 2, 80.0)  # 县(区)人大: the default rate


def test_column_rates_in_a_form_nobody_can_read_are_refused_in_chinese_and_nothing_is_stored(
        stats_api: ApiClient) -> None:
    api = stats_api
    r = api.client.put(f"/api/v1/settings/{PROCESS}.column_rates", json={"value": "人大要闻:150,领导讲话=一百"},
                       headers=api.headers("admin"))
    assert r.status_code == 422, r.get_json()
    message = r.get_json()["details"][0]["message"]
    assert "人大要闻:150" in message and "领导讲话=一百" in message and "栏目=金额" in message
    listing = {s["key"]: s["value"] for g in api.get("admin", "/api/v1/settings").get_json() for s in g["settings"]}
    assert listing[f"{PROCESS}.column_rates"] == "无" and listing[f"{PROCESS}.rate_default"] == 100


def test_a_stored_pair_that_does_not_read_is_ignored_and_the_default_rate_applies() -> None:
    from decimal import Decimal

    from workflows.article_stats_ledger import parse_column_rates, rate_of

    rates, bad = parse_column_rates("人大要闻=150，坏的一项，领导讲话＝120、人大要闻=90")
    assert rates == {"人大要闻": Decimal(150), "领导讲话": Decimal(120)}
    assert bad == ["坏的一项", "人大要闻=90"]  # a column written twice keeps its first rate
    assert rate_of("监督纵横", rates, Decimal(100)) == Decimal(100)
    assert parse_column_rates("无") == ({}, [])


# ---- who may read it, the page and the Excel file ---------------------------------------------------


def test_only_web_admin_and_office_leader_read_the_statistics(stats_api: ApiClient) -> None:
    api = stats_api
    at(api, "2026-12-01T10:00:00+08:00")
    for user, status in (("web1", 200), ("bgs", 200), ("admin", 200), ("fgw1", 403), ("lxweb1", 403)):
        r = api.get(user, "/api/v1/reports/articles?month=2026-11")
        assert r.status_code == status, (user, r.get_json())
    assert api.get("fgw1", "/api/v1/reports/articles?month=2026-11").get_json()["error"] == "forbidden"
    r = api.get("web1", "/api/v1/reports/articles?quarter=2026-Q4")
    assert r.status_code == 422 and "月份" in json.dumps(r.get_json(), ensure_ascii=False)


def test_the_excel_file_names_the_office_the_report_and_2026年11月_and_holds_the_rows(
        stats_api: ApiClient) -> None:
    from openpyxl import load_workbook

    from service.ledgers import office_name

    api = stats_api
    november(api)
    at(api, "2026-12-01T10:00:00+08:00")
    r = api.get("bgs", "/api/v1/reports/articles?month=2026-11&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.data)).active
    header = [sheet.cell(row=n, column=1).value for n in (1, 2, 3)]
    assert header == [office_name(), "网站稿件登载统计表", "统计期间：2026年11月"]
    assert [c.value for c in sheet[5]] == ["单位代码", "单位", "登载篇数", "退回次数", "稿酬（元）"]
    body = [[c.value for c in row] for row in sheet.iter_rows(min_row=6)]
    assert body[1] == ["dept_fgw", "法制工作委员会", 1, 1, 100]
    assert body[4] == ["county_linxiang", "临翔区人大常委会", 1, 2, 100]
    assert body[-1] == [None, "合计", 3, 3, 300]


def test_the_page_shows_the_table_the_total_and_rule_12(stats_api: ApiClient) -> None:
    api = stats_api
    november(api)
    at(api, "2026-12-01T10:00:00+08:00")
    page = pages(api, "web1").get("/reports/articles?month=2026-11").get_data(as_text=True)
    assert "网站稿件登载统计表" in page and "2026年11月" in page and "第十二条" in page
    assert "临翔区人大常委会" in page and "合计" in page


# ---- the monthly round -----------------------------------------------------------------------------


def run_due(api: ApiClient, moment: str) -> int:
    from service import schedule

    at(api, moment)
    return schedule.run_due(api.app.extensions["govflow"].runtime)


def rounds(api: ApiClient) -> list[dict[str, Any]]:
    r = api.get("web1", f"/api/v1/instances?process={ROUND}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_round_starts_tj_2026_12_on_the_first_at_0800_with_novembers_table_for_web1(
        stats_api: ApiClient) -> None:
    api = stats_api
    november(api)
    run_due(api, "2026-12-01T07:59:00+08:00")
    assert rounds(api) == []
    run_due(api, "2026-12-01T08:00:05+08:00")
    [row] = rounds(api)
    assert row["business_key"] == "TJ-2026-12" and row["started_at"].startswith("2026-12-01T08:00:05")
    case = api.instance("web1", row["id"])
    assert case["data"]["stats_month"] == "2026-11"
    assert case["data"]["title"] == "2026年11月网站稿件登载统计"
    assert case["data"]["stats"] == report(api, "2026-11")
    assert by_unit(case["data"]["stats"])["county_linxiang"] == (1, 2, 100.0)
    task = api.task("web1", row["id"], "confirm_stats")
    assert task["candidate_groups"] == ["web_admin"]
    assert api.tasks("bgs", row["id"], "confirm_stats") == []
    # the case page shows the table with its total
    page = pages(api, "web1").get(f"/instances/{row['id']}").get_data(as_text=True)
    assert 'id="article-stats-table"' in page and "法制工作委员会" in page and "合计" in page
    assert run_due(api, "2026-12-01T08:00:06+08:00") == 0


def test_confirming_keeps_the_table_and_a_later_withdrawal_does_not_change_the_confirmed_month(
        stats_api: ApiClient) -> None:
    api = stats_api
    ids = november(api)
    run_due(api, "2026-12-01T08:00:05+08:00")
    [row] = rounds(api)
    at(api, "2026-12-01T09:00:00+08:00")
    r = api.complete("web1", row["id"], "confirm_stats", {"confirmed": False})
    assert r.status_code == 422 and r.get_json()["details"][0]["field"] == "confirmed"
    done(api, "web1", row["id"], "confirm_stats", {"confirmed": True, "comment": "核对无误，按表支付稿酬"})
    assert api.instance("web1", row["id"])["status"] == "completed"
    confirmed = report(api, "2026-11")
    # the history keeps what was confirmed, and who confirmed it
    [step] = [h for h in api.instance("web1", row["id"])["history"]
              if h["action"] == "complete" and h["task"] == "confirm_stats"]
    assert step["data"]["stats_month"] == "2026-11" and step["data"]["stats"] == confirmed
    assert step["data"]["confirmed"] is True and step["user"] == "web1"
    withdraw(api, "2026-12-02T10:00:00+08:00", ids["fgw"])
    assert by_unit(report(api, "2026-11"))["dept_fgw"] == (1, 1, 100.0)
    assert report(api, "2026-11") == confirmed
    # the confirmed table comes from the history: rebuilt, it is the same
    from service import readmodels

    assert readmodels.rebuild(api.app.extensions["govflow"].db, "article_stats_confirmed") == \
        {"article_stats_confirmed": 1}
    assert report(api, "2026-11") == confirmed
    xlsx = api.get("web1", "/api/v1/reports/articles?month=2026-11&format=xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[7]] == ["dept_fgw", "法制工作委员会", 1, 1, 100]
    # an unconfirmed month still counts as things are: October's article withdrawn now leaves it
    withdraw(api, "2026-12-02T10:05:00+08:00", ids["october"])
    assert by_unit(report(api, "2026-10"))["dept_fgw"] == (0, 0, 0.0)


def test_a_second_start_of_the_same_month_is_409_duplicate_period_and_a_month_not_over_is_refused(
        stats_api: ApiClient) -> None:
    api = stats_api
    run_due(api, "2026-12-01T08:00:05+08:00")
    assert [r["business_key"] for r in rounds(api)] == ["TJ-2026-12"]
    r = api.post("web1", "/api/v1/instances", json={"process": ROUND, "data": {"period": "2026-12"}})
    assert r.status_code == 409 and r.get_json()["error"] == "duplicate_period", r.get_json()
    r = api.post("web1", "/api/v1/instances", json={"process": ROUND, "data": {"period": "2027-01"}})
    assert r.status_code == 422 and "2026年12月" in r.get_json()["details"][0]["message"], r.get_json()
    r = api.post("fgw1", "/api/v1/instances", json={"process": ROUND, "data": {"period": "2026-11"}})
    assert r.status_code == 403, r.get_json()
    # a missed month by hand: October's round counts September
    r = api.post("web1", "/api/v1/instances", json={"process": ROUND, "data": {"period": "2026-10"}})
    assert r.status_code == 201, r.get_json()
    case = api.instance("web1", int(r.get_json()["id"]))
    assert case["business_key"] == "TJ-2026-10" and case["data"]["stats_month"] == "2026-09"
