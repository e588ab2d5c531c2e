"""信访件办理情况统计表 (信访工作办法 第十条) and the 台账 mechanism behind it, over the JSON API
(SQLite and PostgreSQL), the Excel export and the page.

The scenario drives eight petitions with known outcomes through the API, moving the clock from
the end of September to 20 December 2026 (all received at 09:00, every step at 10:00 unless said):

| case | unit | received | what happens |
|---|---|---|---|
| G | 财经委 cjw | 09-28 (Q3) | accepted 09-29: on time, 1.0 day (handled in Q3) |
| F | 法工委 fgw | 09-28 (Q3) | registered 10-16, after its routing deadline (a 催办 to 信访科, not the unit's); accepted 10-20: on time, 22.0 days (handled in Q4) |
| B | fgw | 10-09 | due 12-08; 催办 by the ladder 12-09, accepted 12-09: late, 61.0 days |
| D | cjw | 10-12 | due 12-11; never handled: 催办 12-20, open past its deadline |
| A | fgw | 11-20 | 延期 10 days approved 11-20; accepted 12-02: on time, 12.0 days |
| E | — | 11-30 | never routed (未交办); the 15-day routing 催办 fires 12-20 |
| C | cjw | 12-01 | 退回重办 once, accepted 12-03 09:00: on time, 2.0 days |
| H | — | 12-01 | 不予受理 (route reject), replied: 未交办 |
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from conftest import ApiClient, done, pin_clock, start

from service.clock import BEIJING

HANDLER = {"dept_fgw": "fgw1", "dept_cjw": "cjw1"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NAME = "信访件办理情况统计表"


def at(month: int, day: int, hour: int = 10, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=BEIJING)


def receipt(month: int, day: int) -> str:
    return at(month, day, 9).isoformat()


def register(api: ApiClient, month: int, day: int, **changes: Any) -> int:
    """A petition received at 09:00 on that day, registered at 10:00."""
    pin_clock(at(month, day))
    return start(api, received_at=receipt(month, day), **changes)


def hand_over(api: ApiClient, iid: int, unit: str) -> None:
    """The dept route: classify → propose → 签阅 → 秘书长审批; the case waits in 办理 at `unit`."""
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": unit})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关部门办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve", "comment": "同意"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve", "comment": "同意"})


def finish(api: ApiClient, iid: int, unit: str) -> None:
    """The unit reports its result, 信访科 accepts it and replies (at the clock's moment)."""
    done(api, HANDLER[unit], iid, "handle", {"outcome": "done", "result": "已办理完毕"})
    done(api, "xfk1", iid, "review_result", {"decision": "accept"})
    reply(api, iid)


def reply(api: ApiClient, iid: int) -> None:
    from service import clock

    done(api, "xfk1", iid, "reply", {"reply_text": "经查，已处理。", "replied_at": clock.now().date().isoformat(),
                                     "delivery": "邮寄"})


def fire(api: ApiClient) -> int:
    return int(api.app.extensions["govflow"].runtime.fire_due_timers())


@pytest.fixture
def figures(api: ApiClient) -> dict[str, int]:
    """The eight cases of the module's docstring; leaves the clock at 2026-12-20 10:00."""
    cases: dict[str, int] = {}
    # Q3: G (cjw) and F (fgw) received 09-28; G accepted 09-29.
    cases["G"] = register(api, 9, 28, petitioner_id_number="530102199001010001")
    hand_over(api, cases["G"], "dept_cjw")
    pin_clock(at(9, 29))
    finish(api, cases["G"], "dept_cjw")
    # Q4
    cases["B"] = register(api, 10, 9, petitioner_id_number="530102199001050003")
    hand_over(api, cases["B"], "dept_fgw")
    cases["D"] = register(api, 10, 12, petitioner_id_number="530102199001070004")
    hand_over(api, cases["D"], "dept_cjw")
    # F is registered after its 15-day routing deadline (10-13): that 催办 goes to 信访科, before
    # 交办, and is not the unit's.
    pin_clock(at(10, 16))
    cases["F"] = start(api, received_at=receipt(9, 28), petitioner_id_number="530102199001030002")
    fire(api)
    assert urges(api, cases["F"]) == [("urge", "xfk")]
    hand_over(api, cases["F"], "dept_fgw")
    pin_clock(at(10, 20))
    finish(api, cases["F"], "dept_fgw")
    cases["A"] = register(api, 11, 20, petitioner_id_number="530102199001090005")
    hand_over(api, cases["A"], "dept_fgw")
    done(api, "fgw1", cases["A"], "handle", {"outcome": "extend", "extension_days": 10,
                                             "extension_reason": "需补充调查"})
    done(api, "bgs", cases["A"], "extension_approve", {"decision": "approve"})
    cases["E"] = register(api, 11, 30, petitioner_id_number="530102199009010006")
    cases["C"] = register(api, 12, 1, petitioner_id_number="530102199001020007")
    hand_over(api, cases["C"], "dept_cjw")
    cases["H"] = start(api, received_at=receipt(12, 1), petitioner_id_number="530102199001040008")
    done(api, "xfk1", cases["H"], "classify", {"category": "其他", "route": "reject"})
    reply(api, cases["H"])
    pin_clock(at(12, 2))
    finish(api, cases["A"], "dept_fgw")
    done(api, "cjw1", cases["C"], "handle", {"outcome": "done", "result": "初步结果"})
    done(api, "xfk1", cases["C"], "review_result", {"decision": "redo", "comment": "请补充调查材料"})
    pin_clock(at(12, 3, 9))
    finish(api, cases["C"], "dept_cjw")
    pin_clock(at(12, 9))
    assert fire(api) >= 1  # B's 到期催办 (and the 提醒 rungs that became due)
    finish(api, cases["B"], "dept_fgw")
    pin_clock(at(12, 20))
    assert fire(api) >= 2  # D's 到期催办 and 要求汇报, E's 分流期限 催办
    return cases


def urges(api: ApiClient, iid: int) -> list[tuple[str, str | None]]:
    """(kind, recipient group) of the case's 催办 notices, oldest first."""
    from sqlalchemy import select

    from service.store.models import Notice

    with api.app.extensions["govflow"].db.read() as session:
        found = session.scalars(select(Notice).where(Notice.instance_id == iid, Notice.kind == "urge")
                                .order_by(Notice.id))
        return [(n.kind, n.recipient_group) for n in found]


def row(unit: str | None, name: str, received: int, handled: int = 0, on_time: int = 0, overdue: int = 0,
        extended: int = 0, urged: int = 0, average_days: float | None = None) -> dict[str, Any]:
    return {"unit": unit, "unit_name": name, "received": received, "handled": handled, "on_time": on_time,
            "overdue": overdue, "extended": extended, "urged": urged, "average_days": average_days}


def report(api: ApiClient, query: str, user: str = "xfk1") -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/reports/petitions?{query}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the figures


def test_quarter_and_year_figures_per_unit(api: ApiClient, figures: dict[str, int]) -> None:
    assert report(api, "quarter=2026-Q4") == [
        row("dept_cjw", "财政经济委员会", received=2, handled=1, on_time=1, overdue=1, urged=1, average_days=2.0),
        row("dept_fgw", "法制工作委员会", received=2, handled=3, on_time=2, overdue=1, extended=1, urged=1,
            average_days=31.7),  # (22.04 + 12.04 + 61.04) / 3
        row(None, "未交办", received=2, urged=1),
    ]
    assert report(api, "year=2026") == [
        row("dept_cjw", "财政经济委员会", received=3, handled=2, on_time=2, overdue=1, urged=1, average_days=1.5),
        row("dept_fgw", "法制工作委员会", received=3, handled=3, on_time=2, overdue=1, extended=1, urged=1,
            average_days=31.7),
        row(None, "未交办", received=2, urged=1),
    ]
    # Q3: received by received_at, handled by the acceptance; D's deadline (12-11) was not yet due.
    assert report(api, "quarter=2026-Q3") == [
        row("dept_cjw", "财政经济委员会", received=1, handled=1, on_time=1, average_days=1.0),
        row("dept_fgw", "法制工作委员会", received=1),
    ]
    assert report(api, "quarter=2026-Q2") == []
    # the leaders read it too
    for user in ("bgs", "msz", "zr", "admin"):
        assert len(report(api, "quarter=2026-Q4", user)) == 3, user


def test_excel_export_has_the_header_block_rows_and_total(api: ApiClient, figures: dict[str, int]) -> None:
    from openpyxl import load_workbook

    r = api.get("xfk1", "/api/v1/reports/petitions?quarter=2026-Q4&format=xlsx")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == XLSX
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="petitions-2026-Q4.xlsx"; ')
    assert disposition.endswith("filename*=UTF-8''" + quote(f"{NAME}（2026年第四季度）.xlsx", safe=""))
    book = load_workbook(io.BytesIO(r.data))
    assert book.sheetnames == [NAME]
    sheet = book[NAME]
    assert [sheet.cell(row=n, column=1).value for n in (1, 2, 3, 4)] == ["本机关", NAME, "统计期间：2026年第四季度",
                                                                         "制表时间"]
    made = sheet["B4"]
    assert made.is_date and isinstance(made.value, datetime)
    assert made.value.date() == date(2026, 12, 20) and made.number_format == "yyyy-mm-dd hh:mm"
    titles = [c.value for c in sheet[5]]
    assert titles == ["办理单位", "收件数", "办结数", "按期办结", "超期", "延期", "被催办", "平均办理天数", "单位代码"]
    assert all(c.font.b for c in sheet[5])
    body = [[c.value for c in line] for line in sheet.iter_rows(min_row=6)]
    assert body == [
        ["财政经济委员会", 2, 1, 1, 1, 0, 1, 2.0, "dept_cjw"],
        ["法制工作委员会", 2, 3, 2, 1, 1, 1, 31.7, "dept_fgw"],
        ["未交办", 2, 0, 0, 0, 0, 1, None, None],
        ["合计", 6, 4, 3, 2, 1, 3, 24.3, None],  # (2.0 + 95.125) / 4
    ]
    assert all(c.font.b for c in sheet[9])
    assert sheet.column_dimensions["A"].width == 26 and sheet.column_dimensions["H"].width == 13
    assert sheet["H6"].number_format == "0.0"


# ---------------------------------------------------------------- who may read, bad periods


def test_non_readers_get_403_unknown_ledger_404_bad_period_422(api: ApiClient) -> None:
    for user in ("fgw1", "web1", "cjw1"):
        r = api.get(user, "/api/v1/reports/petitions?quarter=2026-Q4")
        assert r.status_code == 403, user
        assert r.get_json()["error"] == "forbidden" and NAME in r.get_json()["message"]
    r = api.get("fgw1", "/api/v1/reports/petitions?quarter=2026-Q4&format=xlsx")
    assert r.status_code == 403
    assert api.get("xfk1", "/api/v1/reports/nothing?quarter=2026-Q4").status_code == 404
    assert api.client.get("/api/v1/reports/petitions?quarter=2026-Q4").status_code == 401

    def invalid(query: str) -> dict[str, Any]:
        r = api.get("xfk1", f"/api/v1/reports/petitions{query}")
        assert r.status_code == 422, (query, r.get_json())
        body = r.get_json()
        assert body["error"] == "invalid"
        return body  # type: ignore[no-any-return]

    body = invalid("?quarter=2026-Q5")
    assert body["message"] == "统计期间“2026-Q5”格式不正确"
    assert body["details"] == [{"field": "quarter", "message": "季度格式应为 YYYY-Qn（n 为 1–4），例如 2026-Q4"}]
    assert invalid("")["details"] == [{"field": "quarter",
                                       "message": "请指定统计期间：quarter=YYYY-Qn（按季度）、year=YYYY（按年度）"}]
    assert invalid("?year=26")["details"][0]["field"] == "year"
    assert invalid("?year=1999")["message"] == "统计年份 1999 超出范围"
    assert invalid("?month=2026-12")["message"] == "该报表不支持按月份统计"
    assert invalid("?quarter=2026-Q4&year=2026")["details"] == [
        {"field": "year", "message": "季度、年度、月份只能指定其中一个"}]
    assert invalid("?quarter=2026-Q4&format=csv")["details"][0]["field"] == "format"
    assert api.get("xfk1", "/api/v1/reports/petitions?quarter=2026-q4").status_code == 200


# ---------------------------------------------------------------- the generic mechanism


def test_periods_and_their_labels() -> None:
    from service.ledgers import Period, parse_period

    q4 = parse_period({"quarter": "2026-Q4"})
    assert (q4.start, q4.end, q4.label, q4.arg) == (at(10, 1, 0), at(1, 1, 0, 2027), "2026年第四季度", "2026-Q4")
    month = parse_period({"month": "2026-12"})
    assert (month.start, month.end, month.label) == (at(12, 1, 0), at(1, 1, 0, 2027), "2026年12月")
    year = parse_period({"year": "2026"})
    assert (year.start, year.end, year.label, year.query) == (at(1, 1, 0), at(1, 1, 0, 2027), "2026年",
                                                              {"year": "2026"})
    assert parse_period({"month": "2026-02"}).end == at(3, 1, 0)
    assert Period.containing("quarter", at(12, 31, 23)) == q4
    assert not q4.contains(at(1, 1, 0, 2027)) and q4.contains(at(12, 31, 23))
    assert q4.start.utcoffset() == timedelta(hours=8)


def test_a_ledger_masks_personal_data_and_writes_real_dates(api: ApiClient) -> None:
    """A procedure's ledger with personal data: masked in the JSON and in the Excel file alike
    (by the procedure's maskers), dates typed as dates; month periods where declared."""
    from openpyxl import load_workbook

    from service import procedure
    from service.ledgers import Column, Ledger
    from service.procedure import Numbering, PersonalData, Procedure, Registry
    from workflows.petition import MASKERS

    def build(session: Any, period: Any, names: dict[str, str]) -> list[dict[str, Any]]:
        return [{"petitioner_name": "张三", "petitioner_id_number": "530102199001071234", "note": "秘密",
                 "day": "2026-12-03", "moment": "2026-12-03T14:30:00+08:00", "period": period.label}]

    ledger = Ledger("register-demo", "登记簿（测试）", frozenset({"xfk"}), (
        Column("petitioner_name", "姓名", "text", 10), Column("petitioner_id_number", "身份证号", "text", 22),
        Column("note", "备注", "text", 8), Column("day", "登记日期", "date", 12),
        Column("moment", "登记时间", "datetime", 18), Column("period", "期间", "text", 14),
    ), build, periods=("month",), masked=("petitioner_name", "petitioner_id_number", "note"))
    extra = Procedure("ledger_demo", "台账测试", Numbering("LD"), ledgers=(ledger,),
                      personal=PersonalData(maskers=MASKERS, readers=frozenset({"xfk"})))
    before = procedure.registry()
    procedure.install(Registry([*before, extra], before.organisation))
    try:
        r = api.get("xfk1", "/api/v1/reports/register-demo?month=2026-12")
        assert r.status_code == 200, r.get_json()
        assert r.get_json() == [{"petitioner_name": "张*", "petitioner_id_number": "5301**********1234",
                                 "note": "**", "day": "2026-12-03", "moment": "2026-12-03T14:30:00+08:00",
                                 "period": "2026年12月"}]
        assert api.get("xfk1", "/api/v1/reports/register-demo?quarter=2026-Q4").status_code == 422
        r = api.get("xfk1", "/api/v1/reports/register-demo?month=2026-12&format=xlsx")
        assert r.status_code == 200 and r.headers["Content-Type"] == XLSX
        sheet = load_workbook(io.BytesIO(r.data)).active
        assert sheet["A3"].value == "统计期间：2026年12月"
        assert [c.value for c in sheet[6][:3]] == ["张*", "5301**********1234", "**"]
        day, moment = sheet["D6"], sheet["E6"]
        assert day.is_date and day.value == datetime(2026, 12, 3) and day.number_format == "yyyy-mm-dd"
        assert moment.is_date and moment.value == datetime(2026, 12, 3, 14, 30)
        assert moment.number_format == "yyyy-mm-dd hh:mm"
        assert sheet.column_dimensions["B"].width == 22
    finally:
        procedure.install(before)


def test_the_report_module_restates_the_petition_constants() -> None:
    """petition_report cannot import workflows.petition (which imports it): its copies agree."""
    from workflows import petition, petition_report

    assert petition_report.PROCESS_KEY == petition.PROCESS_KEY
    assert petition_report.READERS == petition.CHAIN_GROUPS
    assert petition.PROCEDURE.ledgers == (petition_report.LEDGER,)


# ---------------------------------------------------------------- the page


def _login(app: Any, username: str) -> Any:
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": "govflow-demo"})
    assert r.status_code == 302, username
    return client


def test_report_page_for_readers_only(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = start(api, received_at="2026-12-01T09:00:00+08:00")
    hand_over(api, iid, "dept_fgw")

    client = _login(page_app, "xfk1")
    r = client.get("/reports/petitions?quarter=2026-Q4")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for text in (NAME, "本机关", "统计期间：2026年第四季度", "法制工作委员会", "合计", "导出Excel", "按季度", "按年度",
                 'href="/reports/petitions"', "统计报表", "report.css"):
        assert text in html, text
    assert 'href="/reports/petitions?format=xlsx&amp;quarter=2026-Q4"' in html
    r = client.get("/reports/petitions?format=xlsx&quarter=2026-Q4")
    assert r.status_code == 200 and r.headers["Content-Type"] == XLSX
    assert client.get("/reports").headers["Location"].endswith("/reports/petitions")
    default = client.get("/reports/petitions").get_data(as_text=True)
    assert "2026年第四季度" in default and '<option value="2026-Q4" selected>' in default
    bad = client.get("/reports/petitions?quarter=2026-Q5")
    assert bad.status_code == 422 and "季度格式应为 YYYY-Qn" in bad.get_data(as_text=True)

    other = _login(page_app, "fgw1")
    assert other.get("/reports/petitions?quarter=2026-Q4").status_code == 403
    assert "统计报表" not in other.get("/tasks").get_data(as_text=True)
