"""The screening round's report board (报送情况) and the compliance view (报送考核): a department
that filed a 零报告 is not a department that did not report; one that reports after the deadline
is marked 迟报; one still missing at the deadline shows red — on the board, on its page, in the
compliance counts and on the 督办 board under each department still to report. Only those who may
see the round see its board; only 综治办 and the leaders read the compliance view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import ApiClient, browser_app, browser_page, login, pin_clock, serve, start, text

from service.clock import BEIJING

DUE = "2026-12-07T23:59:59+08:00"  # end of December 2026's 5th working day (1, 2, 3, 4, 7 December)
AFTER_DUE = datetime(2026, 12, 8, 9, 0, tzinfo=BEIJING)
TWO_DISPUTES = [
    {"parties": "张三、李四", "type": "土地纠纷", "place": "临翔区忙畔街道", "summary": "承包地边界争议", "risk": "一般"},
    {"parties": "王五", "type": "劳资纠纷", "place": "临翔区工业园区", "summary": "拖欠工资三个月", "risk": "较大"},
]


def _round(api: ApiClient, period: str = "2026-12") -> int:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_screening_monthly",
                                                    "data": {"period": period}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _report(api: ApiClient, user: str, iid: int, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, "report", data)
    assert r.status_code == 200, r.get_json()


def _december(api: ApiClient) -> int:
    """fgw1 files a 零报告 on the first day; after the deadline cjw1 files two disputes; jsw1 never."""
    iid = _round(api)
    _report(api, "fgw1", iid, {"zero_report": True, "disputes": []})
    pin_clock(AFTER_DUE)
    _report(api, "cjw1", iid, {"zero_report": False, "disputes": TWO_DISPUTES})
    return iid


def _board(api: ApiClient, iid: int, user: str = "zzb1") -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/instances/{iid}/reports")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _core(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API.md keys, the report time to the minute (the pinned clock runs on)."""
    keys = ("group", "group_name", "status", "reported_at", "late", "disputes")
    return [{k: (r[k][:16] + r[k][19:] if k == "reported_at" and r[k] else r[k]) for k in keys} for r in rows]


def test_the_board_tells_zero_report_late_report_and_missing_apart(api: ApiClient) -> None:
    iid = _round(api)
    # before anyone reports: every department of the round is listed, missing, not yet late
    assert [(r["group"], r["status"], r["late"], r["due_at"]) for r in _board(api, iid)] == [
        ("dept_cjw", "missing", False, DUE), ("dept_fgw", "missing", False, DUE), ("dept_jsw", "missing", False, DUE)]
    _report(api, "fgw1", iid, {"zero_report": True, "disputes": []})
    pin_clock(AFTER_DUE)
    _report(api, "cjw1", iid, {"zero_report": False, "disputes": TWO_DISPUTES})
    assert _core(_board(api, iid)) == [
        {"group": "dept_cjw", "group_name": "财政经济委员会", "status": "reported",
         "reported_at": "2026-12-08T09:00+08:00", "late": True, "disputes": 2},
        {"group": "dept_fgw", "group_name": "法制工作委员会", "status": "zero_report",
         "reported_at": "2026-12-01T10:00+08:00", "late": False, "disputes": 0},
        {"group": "dept_jsw", "group_name": "监察和司法委员会", "status": "missing",
         "reported_at": None, "late": True, "disputes": 0},
    ]
    # a department that reports even later turns from missing to reported, still 迟报
    _report(api, "jsw1", iid, {"zero_report": True, "disputes": []})
    jsw = [r for r in _board(api, iid) if r["group"] == "dept_jsw"]
    assert [(r["status"], r["late"], r["by"]) for r in jsw] == [("zero_report", True, "jsw1")]


def test_the_board_rows_are_a_read_model_rebuilt_identically_from_history(sqlite_app: Any) -> None:
    from sqlalchemy import text as sql

    from service import readmodels

    api = ApiClient(sqlite_app)
    iid = _december(api)
    before = _board(api, iid)
    db = sqlite_app.extensions["govflow"].db
    with db.write() as session:
        session.execute(sql("DELETE FROM read_rows"))
    assert [(r["group"], r["status"]) for r in _board(api, iid)] == [("dept_jsw", "missing")]  # rows lost
    assert readmodels.rebuild(db, "dispute_reports") == {"dispute_reports": 2}
    assert _board(api, iid) == before


def test_only_those_who_see_the_round_see_its_board(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = _december(api)
    for user in ("zzb1", "zr", "msz", "bgs", "fgw1", "cjw1", "jsw1"):
        assert api.get(user, f"/api/v1/instances/{iid}/reports").status_code == 200, user
    for user in ("linxiang1", "xfk1"):
        r = api.get(user, f"/api/v1/instances/{iid}/reports")
        assert (r.status_code, r.get_json()["error"]) == (403, "forbidden"), user
    assert api.get("zzb1", "/api/v1/instances/999999/reports").status_code == 404
    petition = start(api)
    r = api.get("xfk1", f"/api/v1/instances/{petition}/reports")
    assert r.status_code == 404 and "不是矛盾纠纷排查" in r.get_json()["message"]
    assert login(page_app, "linxiang1").get(f"/rounds/{iid}/reports").status_code == 403


def test_the_board_page_shows_green_blue_and_red_with_the_late_mark(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = _december(api)
    client = login(page_app, "zzb1")
    case_page = text(client.get(f"/instances/{iid}"))
    assert f'href="/rounds/{iid}/reports"' in case_page and "查看各单位报送情况" in case_page
    r = client.get(f"/rounds/{iid}/reports")
    assert r.status_code == 200
    html = text(r)
    table = html[html.index('id="round-reports"'):html.index("</table>", html.index('id="round-reports"'))]
    rows = table.split('<tr class="db-row ')[1:]
    assert [row.split('"')[0] for row in rows] == ["db-reported", "db-zero", "db-missing"]
    cjw, fgw, jsw = rows
    assert "财政经济委员会" in cjw and "已报送" in cjw and "迟报" in cjw and "2026-12-08 09:00" in cjw
    assert "法制工作委员会" in fgw and "零报告" in fgw and "迟报" not in fgw and "2026-12-01 10:00" in fgw
    assert "监察和司法委员会" in jsw and "未报" in jsw and "迟报" not in jsw
    assert "已过期限" in html and "2026-12-07 23:59" in html
    # on a phone each department is a card naming its columns (the browser test looks at one)
    assert 'name="viewport"' in html and "@media print" in html and 'class="table table-cards db-table" id="round-reports"' in html
    assert 'data-label="报送人"' in cjw
    # a department sees the board of a round it reports in, without the compliance link
    own = text(login(page_app, "fgw1").get(f"/rounds/{iid}/reports"))
    assert "零报告" in own and "/reports/dispute-compliance" not in own


def test_compliance_counts_on_time_late_and_missing_per_department(api: ApiClient) -> None:
    iid = _december(api)
    daily = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_screening_daily", "data": {
        "period": "2026-12-08", "important_period": "测试重要时期"}})
    assert daily.status_code == 201, daily.get_json()
    _report(api, "fgw1", daily.get_json()["id"], {"zero_report": True, "disputes": []})
    pin_clock(datetime(2026, 12, 8, 17, 0, tzinfo=BEIJING))  # past the daily 16:30
    r = api.get("zr", "/api/v1/reports/dispute-compliance?year=2026")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert (data["year"], data["monthly_rounds"], data["daily_rounds"]) == (2026, 1, 1)
    assert data["months"][0] == "2026-01" and data["months"][-1] == "2026-12"
    by_group = {d["group"]: d for d in data["departments"]}
    assert sorted(by_group) == ["dept_cjw", "dept_fgw", "dept_jsw"]
    monthly = {g: {k: d["monthly"][k] for k in ("on_time", "late", "missing", "zero_report")}
               for g, d in by_group.items()}
    assert monthly == {"dept_fgw": {"on_time": 1, "late": 0, "missing": 0, "zero_report": 1},
                       "dept_cjw": {"on_time": 0, "late": 1, "missing": 0, "zero_report": 0},
                       "dept_jsw": {"on_time": 0, "late": 0, "missing": 1, "zero_report": 0}}
    assert {g: d["months"]["2026-12"]["status"] for g, d in by_group.items()} == {
        "dept_fgw": "zero_report", "dept_cjw": "late", "dept_jsw": "missing"}
    assert by_group["dept_cjw"]["months"]["2026-12"]["instance_id"] == iid
    assert all(list(d["months"]) == ["2026-12"] for d in by_group.values())
    daily_counts = {g: (d["daily"]["rounds"], d["daily"]["on_time"], d["daily"]["missing"])
                    for g, d in by_group.items()}
    assert daily_counts == {"dept_fgw": (1, 1, 0), "dept_cjw": (1, 0, 1), "dept_jsw": (1, 0, 1)}
    # another year has no rounds; a malformed year is a Chinese 422; departments may not read it
    assert api.get("zzb1", "/api/v1/reports/dispute-compliance?year=2025").get_json()["departments"] == []
    bad = api.get("zzb1", "/api/v1/reports/dispute-compliance?year=26")
    assert bad.status_code == 422 and bad.get_json()["details"][0]["field"] == "year"
    for user in ("fgw1", "xfk1", "linxiang1"):
        assert api.get(user, "/api/v1/reports/dispute-compliance?year=2026").status_code == 403, user


def test_the_compliance_page_has_the_heat_map_and_a_plain_table(page_app: Any) -> None:
    api = ApiClient(page_app)
    _december(api)
    r = login(page_app, "msz").get("/reports/dispute-compliance?year=2026")
    assert r.status_code == 200
    html = text(r)
    assert 'id="compliance-chart"' in html and "vendor/echarts/echarts.min.js" in html and "heatmap" in html
    matrix = html[html.index('id="compliance-monthly"'):html.index("</table>", html.index('id="compliance-monthly"'))]
    cells = {row.split('"')[0]: row for row in matrix.split('<tr data-group="')[1:]}
    assert 'data-status="zero_report"' in cells["dept_fgw"] and ">零报告<" in cells["dept_fgw"]
    assert 'data-status="late"' in cells["dept_cjw"] and ">迟报<" in cells["dept_cjw"]
    assert 'data-status="missing"' in cells["dept_jsw"] and ">未报<" in cells["dept_jsw"]
    assert login(page_app, "fgw1").get("/reports/dispute-compliance").status_code == 403
    assert login(page_app, "zzb1").get("/reports/dispute-compliance?year=abc").status_code == 422


def test_a_round_past_due_is_supervised_under_each_department_still_to_report(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = _round(api)
    _report(api, "fgw1", iid, {"zero_report": True, "disputes": []})
    pin_clock(AFTER_DUE)
    board = api.get("zzb1", "/api/v1/supervision/board").get_json()
    listed = {d["group"]: [c["id"] for c in d["cases"]] for d in board["departments"]}
    assert listed == {"dept_cjw": [iid], "dept_jsw": [iid]}  # not once under 未交办, not under fgw
    assert (board["totals"]["overdue"], board["totals"]["cases"]) == (1, 1)  # the case counted once
    assert all(d["overdue"] == 1 for d in board["departments"])
    _report(api, "cjw1", iid, {"zero_report": True, "disputes": []})
    board = api.get("zzb1", "/api/v1/supervision/board").get_json()
    assert [(d["group"], [c["id"] for c in d["cases"]]) for d in board["departments"]] == [("dept_jsw", [iid])]
    page = text(login(page_app, "zzb1").get("/supervision"))
    assert 'id="dept-dept_jsw"' in page and "PC-2026-12" in page


def test_the_deadline_is_the_rounds_own_so_a_round_started_late_is_reported_late(sqlite_app: Any) -> None:
    """November's round started late by hand: its deadline (5th working day of November) has long
    passed, so even today's report is 迟报 — the deadline is the round's, not the start's."""
    api = ApiClient(sqlite_app)
    iid = _round(api, "2026-11")
    _report(api, "fgw1", iid, {"zero_report": True, "disputes": []})
    rows = {r["group"]: r for r in _board(api, iid)}
    assert rows["dept_fgw"]["late"] is True and rows["dept_fgw"]["due_at"] == "2026-11-06T23:59:59+08:00"
    assert rows["dept_jsw"]["status"] == "missing" and rows["dept_jsw"]["late"] is True


@pytest.mark.browser
def test_the_heat_map_draws_and_the_board_fits_a_phone(tmp_path: Any, chromium_path: str, artifacts_dir: Any) -> None:
    """In Chromium: ECharts draws the compliance heat map (no script error); on a 390 px phone the
    round's board shows each department as a card (the reporter too) and the compliance page
    scrolls its table, never the page."""
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "board")
    api = ApiClient(app)
    iid = _december(api)
    with serve(app) as base, browser_page(chromium_path) as page:
        _log_in(page, base, "zzb1")
        page.goto(f"{base}/reports/dispute-compliance?year=2026")
        expect(page.locator("#compliance-chart canvas")).to_have_count(1)
        assert page.locator("#compliance-chart").bounding_box()["height"] >= 260
        page.screenshot(path=str(artifacts_dir / "dispute_compliance.png"), full_page=True)
        assert page.js_errors == []
    with serve(app) as base, browser_page(chromium_path, viewport={"width": 390, "height": 844},
                                          is_mobile=True, has_touch=True) as phone:
        _log_in(phone, base, "zzb1")
        for path in (f"/rounds/{iid}/reports", "/reports/dispute-compliance?year=2026"):
            phone.goto(base + path)
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width}px wide"
        phone.goto(f"{base}/rounds/{iid}/reports")
        expect(phone.locator("#round-reports tr.db-missing")).to_contain_text("监察和司法委员会")
        # each department a card: who reported is on screen, inside the phone's width
        reporter = phone.locator('#round-reports tr[data-group="dept_cjw"] td[data-label="报送人"]')
        expect(reporter).to_be_visible()
        expect(reporter).to_have_text("cjw1")
        box = reporter.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        phone.screenshot(path=str(artifacts_dir / "dispute_round_board_phone.png"), full_page=True)
        assert phone.js_errors == []
    app.extensions["govflow"].db.dispose()


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "govflow-demo")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
