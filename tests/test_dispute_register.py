"""纠纷登记簿 (seed 003 纠纷登记制度): every dispute case registered in the month is one row — its
number, type, risk, the unit handling it, where it stands, when it closed, the satisfaction of
the follow-up visit — with the parties masked for everyone (a ledger is a list); the Excel file
names the office and 2026年12月 in its header and keeps dates as dates. Only 综治办 and the
leaders read it."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from conftest import ApiClient, login, pin_clock, text

from service.clock import BEIJING

LAND = {"parties": "张三、李四", "type": "土地纠纷", "place": "临翔区忙畔街道", "summary": "承包地边界争议",
        "risk": "一般"}
WAGES = {"parties": "王五与赵六", "type": "劳资纠纷", "place": "临翔区工业园区", "summary": "拖欠工资三个月",
         "risk": "较大"}


def _register(api: ApiClient, data: dict[str, Any]) -> int:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": data})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def _settled(api: ApiClient) -> int:
    """A land dispute registered, assigned to 法制工作委员会, resolved and visited: closed, 满意."""
    iid = _register(api, LAND)
    _done(api, "zzb1", iid, "assign", {"handling_group": "dept_fgw", "basis": "归口管理"})
    _done(api, "fgw1", iid, "handle", {"result": "双方签订调解协议，重新确认地界", "resolved": True, "escalate": False})
    _done(api, "zzb1", iid, "follow_up", {"visited_at": "2026-12-01", "satisfaction": "满意",
                                          "opinions": "双方对调解结果满意"})
    assert api.instance("zzb1", iid)["status"] == "completed"
    return iid


def _month(api: ApiClient, user: str = "zzb1", month: str = "2026-12") -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/reports/disputes?month={month}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_each_dispute_registered_in_the_month_is_one_row_with_its_parties_masked(api: ApiClient) -> None:
    pin_clock(datetime(2026, 11, 20, 9, 0, tzinfo=BEIJING))
    november = _register(api, {**WAGES, "parties": "孙七"})
    pin_clock(datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING))
    settled = _settled(api)
    waiting = _register(api, WAGES)
    rows = _month(api)
    assert [r["business_key"] for r in rows] == [api.instance("zzb1", i)["business_key"] for i in (settled, waiting)]
    done, open_ = rows
    assert {k: done[k] for k in ("type", "risk", "handling_group", "handling_group_name", "status", "satisfaction",
                                 "parties")} == {
        "type": "土地纠纷", "risk": "一般", "handling_group": "dept_fgw", "handling_group_name": "法制工作委员会",
        "status": "completed", "satisfaction": "满意", "parties": "张*、李*"}
    assert done["registered_at"].startswith("2026-12-01T10:0") and done["registered_at"].endswith("+08:00")
    assert done["closed_at"].startswith("2026-12-01T10:0")
    assert {k: open_[k] for k in ("parties", "handling_group", "status", "closed_at", "satisfaction")} == {
        "parties": "王*与赵*", "handling_group": None, "status": "running", "closed_at": None, "satisfaction": None}
    assert open_["handling_group_name"] == "未指派" and open_["status_name"].startswith("办理中")
    # the clear names appear nowhere in the register, not even for 综治办
    assert "张三" not in str(rows) and "王五" not in str(rows)
    # November's case is November's
    assert [r["business_key"] for r in _month(api, month="2026-11")] == [
        api.instance("zzb1", november)["business_key"]]
    assert _month(api, month="2026-11")[0]["parties"] == "孙*"


def test_the_register_as_excel_names_office_and_month_and_keeps_dates(sqlite_app: Any) -> None:
    from openpyxl import load_workbook

    api = ApiClient(sqlite_app)
    _settled(api)
    r = api.get("zr", "/api/v1/reports/disputes?month=2026-12&format=xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert sheet.title == "纠纷登记簿"
    assert sheet["A1"].value == "本机关" and sheet["A2"].value == "纠纷登记簿"
    assert sheet["A3"].value == "统计期间：2026年12月"
    titles = [c.value for c in sheet[5]]
    assert titles[:4] == ["编号", "登记时间", "当事人", "纠纷类型"]
    row = {title: cell.value for title, cell in zip(titles, sheet[6], strict=True)}
    assert row["编号"].startswith("JF-2026-") and row["当事人"] == "张*、李*"
    assert isinstance(row["登记时间"], datetime) and row["登记时间"].date().isoformat() == "2026-12-01"
    assert isinstance(row["办结时间"], datetime)
    assert sheet.cell(row=6, column=2).number_format == "yyyy-mm-dd hh:mm"
    assert (row["调处单位"], row["回访满意度"], row["风险等级"]) == ("法制工作委员会", "满意", "一般")


def test_only_the_office_and_the_leaders_read_the_register(page_app: Any) -> None:
    api = ApiClient(page_app)
    _settled(api)
    for user in ("zzb1", "zr", "msz", "bgs"):
        assert api.get(user, "/api/v1/reports/disputes?month=2026-12").status_code == 200, user
    for user in ("fgw1", "xfk1", "linxiang1"):
        r = api.get(user, "/api/v1/reports/disputes?month=2026-12")
        assert (r.status_code, r.get_json()["error"]) == (403, "forbidden"), user
    bad = api.get("zzb1", "/api/v1/reports/disputes?month=2026-13")
    assert bad.status_code == 422 and bad.get_json()["details"][0]["field"] == "month"
    page = login(page_app, "zzb1").get("/reports/disputes?month=2026-12")
    assert page.status_code == 200
    html = text(page)
    assert "纠纷登记簿" in html and "2026年12月" in html and "张*、李*" in html and "张三" not in html
    assert login(page_app, "fgw1").get("/reports/disputes").status_code == 403
