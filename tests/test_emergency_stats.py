"""突发事件统计 (ISSUE 12 item 8) and the 预案演练记录 (item 6), driven as a client that knows only
API.md: real emergencies reported, verified, decided and ended through the API with the virtual
clock, then the year's summary (`GET /api/v1/reports/emergencies`), its Excel file, the page and
the drills record compared with what was done — drills left out of every figure but `drills`."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ApiClient, login, pin_clock, text

from service import clock

PROCESS = "emergency_response"


def _report(api: ApiClient, user: str, discovered_at: str, **changes: Any) -> int:
    data = {"type": "群体性事件", "occurred_at": discovered_at, "discovered_at": discovered_at,
            "place": "市政府北门", "people_count": 12, "cause": "工程款拖欠", "demands": "要求支付工资",
            "measures_taken": "现场劝导", "trend": "情绪平稳", "drill": False, **changes}
    r = api.post(user, "/api/v1/instances", json={"process": PROCESS, "data": data})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def _advance(api: ApiClient, duration: str) -> datetime:
    """Move the virtual clock (the timers that fall due fire), then drop the seconds the test
    itself took (the clock runs on): the steps happen at whole minutes, so the averages are exact."""
    target = _minute(clock.now()) + _duration(duration)
    moved = api.post("admin", "/api/v1/admin/clock", json={"advance": duration})
    assert moved.status_code == 200, moved.get_json()
    pin_clock(target)
    return target


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _duration(text: str) -> timedelta:
    """PT<h>H<m>M (the few this test uses)."""
    found = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:0S)?", text)
    assert found, text
    return timedelta(hours=int(found.group(1) or 0), minutes=int(found.group(2) or 0))


def _verify(api: ApiClient, iid: int, level: str = "general") -> None:
    _done(api, "zzb1", iid, "verify", {"facts": "经核实，情况属实。", "proposed_level": level,
                                        "handling_group": "dept_fgw"})


def _decide(api: ApiClient, iid: int, level: str) -> None:
    _done(api, "msz", iid, "decide_level", {"level": level, "commander": "秘书长"})


def _end(api: ApiClient, iid: int, ended_at: str) -> None:
    _done(api, "msz", iid, "declare_end", {"ended_at": ended_at, "summary": "现场秩序恢复，应急结束。"})


def _summary(api: ApiClient, user: str = "zzb1", year: int = 2026) -> dict[str, Any]:
    r = api.get(user, f"/api/v1/reports/emergencies?year={year}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _year_of_emergencies(api: ApiClient) -> dict[str, int]:
    """The clock starts 2026-12-01 10:00. A (09:55 discovered) is verified at 10:07, decided general,
    handled on site and ended at 11:30; B (discovered 09:40: 迟报) is verified at 10:12, decided
    major and ended at 12:06; C (10:00) is never verified. Verification 7 and 12 minutes (9.5);
    the end after 1.5 and 2.1 hours (1.8)."""
    _advance(api, "PT0S")  # 10:00:00 (building the app took some seconds)
    a = _report(api, "cjw1", "2026-12-01T09:55:00+08:00")
    b = _report(api, "fgw1", "2026-12-01T09:40:00+08:00", type="治安刑事案件", people_count=3)
    c = _report(api, "jsw1", "2026-12-01T10:00:00+08:00", people_count=6)
    _advance(api, "PT7M")
    _verify(api, a)
    _advance(api, "PT5M")
    _verify(api, b, "major")
    _decide(api, a, "general")
    _decide(api, b, "major")
    _done(api, "fgw1", a, "onsite", {"findings": "欠薪属实", "measures": "协调支付"})
    _advance(api, "PT1H54M")  # 12:06
    _end(api, a, "2026-12-01T11:30:00+08:00")
    _end(api, b, "2026-12-01T12:06:00+08:00")
    return {"a": a, "b": b, "c": c}


def _drill(api: ApiClient) -> int:
    """A drill run through the same steps, now: reported late (discovered 20 minutes before),
    verified 3 minutes later, decided major and ended 30 minutes after the report — none of it may
    move a figure but `drills`."""
    now = _advance(api, "PT0S")
    d = _report(api, "cjw1", (now - timedelta(minutes=20)).isoformat(), drill=True, type="自然灾害", people_count=40)
    _advance(api, "PT3M")
    _verify(api, d, "major")
    _decide(api, d, "major")
    _advance(api, "PT30M")
    _end(api, d, (now + timedelta(minutes=30)).isoformat())
    return d


EXPECTED = {
    "year": 2026, "total": 3, "late_reports": 1, "average_minutes_to_verify": 9.5, "average_hours_to_end": 1.8,
    "by_level": {"general": 1, "major": 1}, "drills": 0,
}


def test_the_summary_counts_types_levels_late_reports_and_the_averages_and_a_drill_changes_only_drills(
        api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    empty = _summary(api)
    assert empty["total"] == 0 and empty["average_minutes_to_verify"] is None
    assert empty["average_hours_to_end"] is None and empty["drills"] == 0
    _year_of_emergencies(api)
    without = _summary(api)
    assert {k: without[k] for k in EXPECTED} == EXPECTED
    assert without["by_type"]["群体性事件"] == 2 and without["by_type"]["治安刑事案件"] == 1
    assert sum(without["by_type"].values()) == 3 and without["by_type"]["自然灾害"] == 0
    assert set(without) == {"year", "total", "by_type", "by_level", "late_reports", "average_minutes_to_verify",
                            "average_hours_to_end", "drills"}
    _drill(api)
    with_drill = _summary(api)
    assert with_drill == {**without, "drills": 1}
    # the leading group and the leaders read it too; another year has nothing
    assert _summary(api, "msz") == with_drill and _summary(api, "bgs") == with_drill
    assert _summary(api, year=2025) == {**empty, "year": 2025}


def test_the_summary_is_refused_to_a_department_and_a_bad_year_is_refused_in_chinese(api: ApiClient) -> None:
    r = api.get("fgw1", "/api/v1/reports/emergencies?year=2026")
    assert r.status_code == 403 and "无权" in r.get_json()["message"]
    assert api.get("fgw1", "/api/v1/reports/emergencies?year=2026&format=xlsx").status_code == 403
    bad = api.get("zzb1", "/api/v1/reports/emergencies?year=20x6")
    assert bad.status_code == 422 and "格式不正确" in bad.get_json()["message"]
    month = api.get("zzb1", "/api/v1/reports/emergencies?month=2026-12")
    assert month.status_code == 422 and "不支持按月份统计" in month.get_json()["message"]
    fmt = api.get("zzb1", "/api/v1/reports/emergencies?year=2026&format=pdf")
    assert fmt.status_code == 422 and "导出格式" in fmt.get_json()["message"]


def test_the_xlsx_holds_the_office_the_year_the_summary_and_one_row_per_emergency_without_the_drill(
        sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import load_workbook

    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    api = sqlite_api
    cases = _year_of_emergencies(api)
    drill = _drill(api)
    r = api.get("zzb1", "/api/v1/reports/emergencies?year=2026&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(r.data))
    assert book.sheetnames == ["突发事件统计表", "突发事件统计台账"]
    summary, ledger = book["突发事件统计表"], book["突发事件统计台账"]
    assert [summary.cell(row=n, column=1).value for n in (1, 2, 3)] == ["本机关", "突发事件统计表", "统计期间：2026年"]
    lines = {row[1]: row[2] for row in summary.iter_rows(min_row=6, values_only=True)}
    assert lines["突发事件（不含演练）"] == 3 and lines["迟报"] == 1
    assert lines["平均核实用时（分钟）"] == 9.5 and lines["平均处置用时（小时）"] == 1.8
    assert lines["一般"] == 1 and lines["重大"] == 1 and lines["群体性事件"] == 2 and lines["未计入统计的演练"] == 1
    assert ledger["A3"].value == "统计期间：2026年"
    titles = [c.value for c in ledger[5]]
    assert titles[:9] == ["编号", "类型", "级别", "报告时间", "迟报", "核实用时（分钟）", "结束时间", "处置用时（小时）", "状态"]
    rows = {row[0]: dict(zip(titles, row, strict=False)) for row in ledger.iter_rows(min_row=6, values_only=True)}
    keys = {api.instance("zzb1", iid)["business_key"]: name for name, iid in cases.items()}
    assert set(rows) == set(keys)
    assert api.instance("zzb1", drill)["business_key"] not in rows
    by_name = {name: rows[key] for key, name in keys.items()}
    assert by_name["a"]["核实用时（分钟）"] == 7.0 and by_name["a"]["处置用时（小时）"] == 1.5
    assert by_name["a"]["级别"] == "一般" and by_name["a"]["迟报"] == "否"
    assert by_name["b"]["迟报"] == "迟报" and by_name["b"]["级别"] == "重大" and by_name["b"]["核实用时（分钟）"] == 12.0
    assert by_name["b"]["结束时间"] == datetime(2026, 12, 1, 12, 6)
    assert by_name["c"]["级别"] == "未确定" and by_name["c"]["核实用时（分钟）"] is None
    assert by_name["c"]["状态"].startswith("处置中")
    assert by_name["a"]["报告时间"] == datetime(2026, 12, 1, 10, 0)


def test_the_drills_record_lists_the_drill_for_zzb_and_admin_only(
        api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    _advance(api, "PT0S")
    _report(api, "cjw1", "2026-12-01T09:55:00+08:00")
    drill = _drill(api)
    r = api.get("zzb1", "/api/v1/reports/emergency-drills?year=2026")
    assert r.status_code == 200, r.get_json()
    [row] = r.get_json()
    assert row["instance_id"] == drill and row["business_key"] == api.instance("zzb1", drill)["business_key"]
    assert row["type"] == "自然灾害" and row["level"] == "major" and row["level_name"] == "重大"
    assert row["reported_at"] == "2026-12-01T10:00:00+08:00" and row["ended_at"] == "2026-12-01T10:30:00+08:00"
    assert api.get("admin", "/api/v1/reports/emergency-drills?year=2026").get_json() == [row]
    assert api.get("zzb1", "/api/v1/reports/emergency-drills?year=2025").get_json() == []
    for user in ("fgw1", "msz"):
        assert api.get(user, "/api/v1/reports/emergency-drills?year=2026").status_code == 403


def test_the_pages_show_the_figures_the_chart_data_and_the_drills_record(
        page_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    api = ApiClient(page_app)
    _year_of_emergencies(api)
    drill = _drill(api)
    zzb = login(page_app, "zzb1")
    page = zzb.get("/reports/emergencies?year=2026")
    assert page.status_code == 200
    html = text(page)
    assert 'id="es-total">3<' in html and 'id="es-late">1<' in html and 'id="es-drills">1<' in html
    assert "9.5" in html and "1.8" in html and "es-chart-data" in html and "echarts.min.js" in html
    assert '<tr data-type="群体性事件"><th scope="row" rowspan="11">事件类型</th><td>群体性事件</td><td class="num">2</td>' in html
    drill_key = api.instance("zzb1", drill)["business_key"]
    assert drill_key not in html and "预案演练记录" in html
    assert zzb.get("/reports/emergencies?year=2026&format=xlsx").mimetype.endswith("spreadsheetml.sheet")
    bad = zzb.get("/reports/emergencies?year=abcd")
    assert bad.status_code == 422 and "格式不正确" in text(bad)
    drills = zzb.get("/reports/emergency-drills?year=2026")
    assert drills.status_code == 200 and drill_key in text(drills) and "演练" in text(drills)
    # 统计报表 offers the ledger; its page links the drills record for those who may read it
    assert "/reports/emergencies" in text(zzb.get("/reports/disputes"))
    leader = login(page_app, "msz")
    summary_for_leader = leader.get("/reports/emergencies?year=2026")
    assert summary_for_leader.status_code == 200 and 'id="drills-link"' not in text(summary_for_leader)
    assert 'id="drills-link"' in html
    fgw = login(page_app, "fgw1")
    assert fgw.get("/reports/emergencies?year=2026").status_code == 403
    assert fgw.get("/reports/emergency-drills?year=2026").status_code == 403
