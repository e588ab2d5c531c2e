"""值班表 (duty roster, seeds 000–003: 24-hour duty and 领导带班): 机关综治办 and the administrator keep
it (API, page, Excel import all-or-nothing with each bad row named in Chinese), everyone logged in
reads it and exports it; the night shift of day D covers D 20:00 to D+1 08:00; an emergency report
notifies whoever holds the shift of that minute; each important period shows whether every day
has both shifts with officer and leader; migration 0016 upgrades a 0015 database and downgrades."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import pytest
from conftest import ApiClient, login, pin_clock, text

from service.clock import BEIJING

PATH = "/api/v1/duty-roster"
HEADER = ["日期", "班次", "值班人员（用户名）", "带班领导（用户名）", "备注"]
# 12月1日 both shifts, with different people than the groups an emergency notice reaches anyway
DECEMBER_1 = [{"day": "2026-12-01", "kind": "day", "officer": "xfk1", "leader": "bgs", "note": "值班电话 0883-2120000"},
              {"day": "2026-12-01", "kind": "night", "officer": "jsw1", "leader": "zr", "note": ""}]
REPORT = {"type": "群体性事件", "place": "机关大院门口", "people_count": 12, "cause": "讨薪",
          "demands": "支付工资", "measures_taken": "劝导", "trend": "平稳", "drill": False}


def put(api: ApiClient, user: str, shifts: list[dict[str, Any]], month: str = "2026-12") -> Any:
    return api.client.put(f"{PATH}?month={month}", headers=api.headers(user), json={"shifts": shifts})


def roster(api: ApiClient, month: str = "2026-12") -> list[tuple[str, str, str, str | None, str]]:
    r = api.get("cjw1", f"{PATH}?month={month}")
    assert r.status_code == 200, r.get_json()
    return [(s["day"], s["kind"], s["officer"], s["leader"], s["note"]) for s in r.get_json()["shifts"]]


def deactivate(app: Any, username: str) -> None:
    from sqlalchemy import select

    from service.store.models import User

    with app.extensions["govflow"].db.write() as session:
        session.scalars(select(User).where(User.username == username)).one().active = False


def workbook(rows: list[list[Any]], preamble: int = 2) -> bytes:
    """An .xlsx as an office fills one in: a title line or two, the column titles, the rows."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for n in range(preamble):
        sheet.append([f"临沧市人大常委会机关值班表 {n + 1}"])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(api: ApiClient, user: str, content: bytes) -> Any:
    return api.client.post(f"{PATH}/import", headers=api.headers(user),
                           data={"file": (io.BytesIO(content), "值班表.xlsx")}, content_type="multipart/form-data")


# ----- the shifts' hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "shift"), [
    ("2026-12-01T08:00:00", ("2026-12-01", "day")),
    ("2026-12-01T19:59:59", ("2026-12-01", "day")),
    ("2026-12-01T20:00:00", ("2026-12-01", "night")),
    ("2026-12-01T21:30:00", ("2026-12-01", "night")),
    ("2026-12-02T07:59:59", ("2026-12-01", "night")),
    ("2026-12-31T23:59:00", ("2026-12-31", "night")),
    ("2027-01-01T03:00:00", ("2026-12-31", "night")),
])
def test_the_night_shift_of_a_day_covers_20_00_to_08_00_next_morning(moment: str, shift: tuple[str, str]) -> None:
    from service import duty_roster

    day, kind = duty_roster.shift_at(datetime.fromisoformat(moment).replace(tzinfo=BEIJING))
    assert (day.isoformat(), kind) == shift


# ----- the API: who keeps it, who reads it -------------------------------------------------------------


def test_zzb_and_admin_set_a_month_and_every_user_reads_it(api: ApiClient) -> None:
    r = put(api, "zzb1", DECEMBER_1)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["month"] == "2026-12" and body["label"] == "2026年12月"
    assert [(s["kind_label"], s["officer_name"], s["leader_name"]) for s in body["shifts"]] == [
        ("白班", "信访科 张科员", "办公室分管领导"), ("夜班", "监察和司法委员会", "主任")]
    assert roster(api) == [("2026-12-01", "day", "xfk1", "bgs", "值班电话 0883-2120000"),
                           ("2026-12-01", "night", "jsw1", "zr", "")]
    # what GET gives may be PUT back (the admin replaces the month: the day shift only now)
    got = api.get("admin", f"{PATH}?month=2026-12").get_json()
    assert put(api, "admin", got["shifts"][:1]).status_code == 200
    assert roster(api) == [("2026-12-01", "day", "xfk1", "bgs", "值班电话 0883-2120000")]
    assert roster(api, "2027-01") == []
    # a reader may not change it
    r = put(api, "cjw1", DECEMBER_1)
    assert r.status_code == 403 and r.get_json()["message"] == "只有机关综治办和系统管理员可以编排值班表"
    r = put(api, "msz", DECEMBER_1)
    assert r.status_code == 403
    assert roster(api) == [("2026-12-01", "day", "xfk1", "bgs", "值班电话 0883-2120000")]


def test_a_bad_roster_is_refused_in_chinese_and_changes_nothing(app: Any, api: ApiClient) -> None:
    assert put(api, "zzb1", DECEMBER_1).status_code == 200
    deactivate(app, "fgw1")
    r = put(api, "zzb1", [
        {"day": "2026-12-02", "kind": "day", "officer": "nobody", "leader": "zr"},
        {"day": "2026-12-02", "kind": "night", "officer": "fgw1", "leader": ""},
        {"day": "2026-12-02", "kind": "day", "officer": "zzb1", "leader": "msz"},
        {"day": "2026-02-30", "kind": "夜班", "officer": "zzb1"},
        {"day": "2027-01-01", "kind": "白班", "officer": "zzb1"},
        {"day": "2026-12-03", "kind": "早班", "officer": "zzb1", "leader": "zzb1"},
    ])
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == "值班表有误（共 7 处），未保存任何班次，请修改后重试"
    assert [d["message"] for d in body["details"]] == [
        "第1条：值班人员的用户名“nobody”不存在",
        "第2条：值班人员 fgw1（法制工作委员会）已停用，不能排班",
        "第3条：2026-12-02 白班与第1条重复",
        "第4条：日期“2026-02-30”不是有效的日期",
        "第5条：日期 2027-01-01 不在2026年12月内",
        "第6条：班次“早班”不正确，应为 白班 或 夜班",
        "第6条：值班人员和带班领导不能是同一人",
    ]
    assert roster(api)[0][2] == "xfk1" and len(roster(api)) == 2  # untouched
    r = api.get("zzb1", f"{PATH}?month=2026-13")
    assert r.status_code == 422 and r.get_json()["details"][0]["message"].startswith("月份格式应为 YYYY-MM")


def test_on_duty_at_names_the_officer_then_the_leader_of_the_shift_of_that_moment(app: Any, api: ApiClient) -> None:
    from service import duty_roster

    assert put(api, "zzb1", DECEMBER_1).status_code == 200
    db = app.extensions["govflow"].db

    def at(moment: str) -> list[tuple[str, str, str]]:
        with db.read() as session:
            found = duty_roster.on_duty_at(session, datetime.fromisoformat(moment).replace(tzinfo=BEIJING))
        return [(p["username"], p["role"], p["shift"]) for p in found]

    assert at("2026-12-01T10:00") == [("xfk1", "值班人员", "白班"), ("bgs", "带班领导", "白班")]
    assert at("2026-12-02T07:30") == [("jsw1", "值班人员", "夜班"), ("zr", "带班领导", "夜班")]
    assert at("2026-12-02T08:00") == []  # nobody rostered for the 2nd
    deactivate(app, "jsw1")
    assert at("2026-12-01T21:30") == [("zr", "带班领导", "夜班")]  # nobody to call at a deactivated account


# ----- Excel ------------------------------------------------------------------------------------------


def test_import_then_export_round_trips_and_reads_back_with_openpyxl(api: ApiClient) -> None:
    from openpyxl import load_workbook

    content = workbook([
        [datetime(2026, 12, 1), "白班", "xfk1", "bgs", "值班电话 0883-2120000"],
        ["2026-12-01", "夜班", "jsw1", "zr", None],
        [],  # a blank line between weeks is no error
        ["2026/12/2", "白班", "zzb1", None, "无带班领导"],
    ])
    r = upload(api, "zzb1", content)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"saved": 3, "cleared": 0, "rows": 3, "first_day": "2026-12-01", "last_day": "2026-12-02"}
    r = api.get("cjw1", f"{PATH}/export?month=2026-12")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''%E5%80%BC%E7%8F%AD%E8%A1%A8" in r.headers["Content-Disposition"]  # 值班表（2026年12月）
    from service.ledgers import office_name

    sheet = load_workbook(io.BytesIO(r.data)).active
    assert sheet["A1"].value == office_name()  # the ledgers' header block: office, title, month
    assert sheet["A2"].value == "值班表"
    assert sheet["A3"].value == "值班月份：2026年12月"
    assert sheet["A4"].value == "制表时间" and sheet["B4"].value.date() == date(2026, 12, 1)
    assert [c.value for c in sheet[5]][:5] == HEADER
    assert [[c.value for c in row][:7] for row in sheet.iter_rows(min_row=6)] == [
        [datetime(2026, 12, 1), "白班", "xfk1", "bgs", "值班电话 0883-2120000", "信访科 张科员", "办公室分管领导"],
        [datetime(2026, 12, 1), "夜班", "jsw1", "zr", None, "监察和司法委员会", "主任"],
        [datetime(2026, 12, 2), "白班", "zzb1", None, "无带班领导", "机关综治办", None],
    ]
    # the exported file, edited (the night shift's leader changed) and imported again
    book = load_workbook(io.BytesIO(r.data))
    book.active["D7"] = "msz"
    edited = io.BytesIO()
    book.save(edited)
    r = upload(api, "admin", edited.getvalue())
    assert r.status_code == 200, r.get_json()
    assert roster(api) == [("2026-12-01", "day", "xfk1", "bgs", "值班电话 0883-2120000"),
                           ("2026-12-01", "night", "jsw1", "msz", ""),
                           ("2026-12-02", "day", "zzb1", None, "无带班领导")]


def test_an_import_with_a_bad_row_names_each_row_and_imports_nothing(app: Any, api: ApiClient) -> None:
    deactivate(app, "fgw1")
    content = workbook([
        ["2026-12-05", "白班", "zzb1", "zr", ""],            # row 4: fine
        ["2026-12-05", "夜班", "nobody", "zr", ""],          # row 5: unknown user
        ["2026-12-06", "白班", "fgw1", "", ""],              # row 6: deactivated
        ["2026-12-05", "白班", "xfk1", "bgs", ""],           # row 7: twice 12-05 白班
        ["2026-12-32", "夜班", "xfk1", "", ""],              # row 8: no such day
        ["12月7日", "夜班", "xfk1", "", ""],                 # row 9: not a date
    ])
    r = upload(api, "zzb1", content)
    assert r.status_code == 422
    body = r.get_json()
    assert body["message"] == "导入失败，未导入任何班次：共 5 处错误，请修改后重新导入"
    assert [(d["row"], d["message"]) for d in body["details"]] == [
        (5, "第5行：值班人员的用户名“nobody”不存在"),
        (6, "第6行：值班人员 fgw1（法制工作委员会）已停用，不能排班"),
        (7, "第7行：2026-12-05 白班与第4行重复"),
        (8, "第8行：日期“2026-12-32”不是有效的日期"),
        (9, "第9行：日期“12月7日”格式不正确，应为 YYYY-MM-DD（如 2026-12-01）"),
    ]
    assert roster(api) == []  # all or nothing: not even row 4
    r = upload(api, "zzb1", b"<html>not a workbook</html>")
    assert r.status_code == 422 and r.get_json()["message"] == "文件不是有效的 Excel 文件（.xlsx），请使用导出的值班表格式"
    from openpyxl import Workbook

    book, out = Workbook(), io.BytesIO()
    book.active.append(["日期", "值班人员"])
    book.save(out)
    r = upload(api, "zzb1", out.getvalue())
    assert r.status_code == 422 and r.get_json()["message"].startswith("未找到表头")
    r = upload(api, "cjw1", workbook([["2026-12-05", "白班", "zzb1", "zr", ""]]))
    assert r.status_code == 403
    assert roster(api) == []


# ----- the page -----------------------------------------------------------------------------------------


def test_the_page_shows_the_month_to_everyone_and_lets_zzb_edit_a_shift(page_app: Any) -> None:
    zzb = login(page_app, "zzb1")
    r = zzb.post("/duty-roster/shift", data={"day": "2026-12-01", "kind": "night", "officer": "jsw1",
                                             "leader": "zr", "note": "带班电话 13800000000"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/duty-roster?month=2026-12")
    page = text(zzb.get("/duty-roster?month=2026-12"))
    assert "已保存 2026-12-01 夜班 的值班安排" in page
    assert "值班表 <span class=\"muted\">2026年12月</span>" in page and "已排 1 个班次" in page
    assert 'id="shift-form"' in page and 'id="import-form"' in page
    # a bad shift: the form again, 422, the Chinese error at its field, nothing saved
    r = zzb.post("/duty-roster/shift", data={"day": "2026-12-02", "kind": "day", "officer": "nobody", "leader": ""})
    assert r.status_code == 422
    assert '<div class="field-error" data-field="officer">值班人员的用户名“nobody”不存在</div>' in text(r)
    # an empty officer clears the shift
    r = zzb.post("/duty-roster/shift", data={"day": "2026-12-01", "kind": "night", "officer": "", "leader": ""})
    assert r.status_code == 302
    assert "已清除 2026-12-01 夜班 的值班安排" in text(zzb.get("/duty-roster?month=2026-12"))
    assert zzb.post("/duty-roster/shift", data={"day": "2026-12-01", "kind": "night", "officer": "jsw1",
                                                "leader": "zr"}).status_code == 302
    # a reader sees the roster, without the forms, and may export it; may not post
    cjw = login(page_app, "cjw1")
    page = text(cjw.get("/duty-roster?month=2026-12"))
    assert "监察和司法委员会<small>jsw1</small>" in page and "主任<small>zr</small>" in page
    assert 'id="shift-form"' not in page and 'id="import-form"' not in page
    assert cjw.get("/duty-roster/export?month=2026-12").status_code == 200
    assert cjw.post("/duty-roster/shift", data={"day": "2026-12-01", "kind": "day", "officer": "cjw1"}).status_code == 403
    assert cjw.get("/duty-roster?month=12-2026").status_code == 422
    # the top bar: the emergency office, the leading group and the leaders; not a department
    assert '<a href="/duty-roster"' in text(login(page_app, "msz").get("/tasks"))
    assert '<a href="/duty-roster"' in text(zzb.get("/tasks"))
    assert '<a href="/duty-roster"' not in text(cjw.get("/tasks"))


def test_the_page_imports_an_excel_file_or_lists_its_bad_rows(page_app: Any) -> None:
    zzb = login(page_app, "zzb1")
    bad = workbook([["2026-12-05", "白班", "nobody", "", ""]])
    r = zzb.post("/duty-roster/import", data={"month": "2026-12", "file": (io.BytesIO(bad), "值班表.xlsx")},
                 content_type="multipart/form-data")
    assert r.status_code == 422
    page = text(r)
    assert "导入失败，未导入任何班次：共 1 处错误" in page and "<li>第4行：值班人员的用户名“nobody”不存在</li>" in page
    good = workbook([["2026-12-05", "白班", "zzb1", "zr", ""], ["2026-12-05", "夜班", "xfk1", "msz", ""]])
    r = zzb.post("/duty-roster/import", data={"month": "2026-12", "file": (io.BytesIO(good), "值班表.xlsx")},
                 content_type="multipart/form-data")
    assert r.status_code == 302
    page = text(zzb.get(r.headers["Location"]))
    assert "已导入 2 个班次（2026-12-05 至 2026-12-05）" in page and "已排 2 个班次" in page


# ----- important periods: is every day covered? ---------------------------------------------------------


def test_each_important_period_shows_whether_every_day_has_officer_and_leader(page_app: Any) -> None:
    api = ApiClient(page_app)
    for name, first, last in (("全国两会", "2026-12-01", "2026-12-02"), ("元旦", "2026-12-03", "2026-12-04")):
        assert api.post("zzb1", "/api/v1/important-periods",
                        json={"name": name, "first_day": first, "last_day": last}).status_code == 201
    shifts = [{"day": d, "kind": k, "officer": "zzb1", "leader": "zr"}
              for d in ("2026-12-01", "2026-12-02", "2026-12-03") for k in ("day", "night")]
    shifts[-1]["leader"] = ""  # 12-03 夜班 without its leader; 12-04 nobody
    assert put(api, "zzb1", shifts).status_code == 200
    page = text(login(page_app, "zzb1").get("/important-periods"))
    sessions, new_year = page.split('data-period-id=')[1:3]
    assert "全国两会" in sessions and 'data-complete="yes"' in sessions and "值班齐全" in sessions
    assert "元旦" in new_year and 'data-complete="no"' in new_year and "2 天值班不全" in new_year
    assert "12月3日（四）缺夜班带班领导" in new_year and "12月4日（五）未排班" in new_year
    assert 'href="/duty-roster?month=2026-12"' in new_year


def test_coverage_lists_the_days_and_what_each_lacks(app: Any, api: ApiClient) -> None:
    from service import duty_roster

    assert put(api, "zzb1", [{"day": "2026-12-01", "kind": "day", "officer": "zzb1", "leader": "zr"},
                             {"day": "2026-12-01", "kind": "night", "officer": "zzb1", "leader": "zr"},
                             {"day": "2026-12-02", "kind": "day", "officer": "zzb1"}]).status_code == 200
    with app.extensions["govflow"].db.read() as session:
        found = duty_roster.coverage(session, date(2026, 12, 1), date(2026, 12, 2))
    assert found == {"complete": False, "days": 2, "missing": [
        {"day": "2026-12-02", "label": "12月2日（三）", "lacks": ["白班带班领导", "夜班值班人员", "夜班带班领导"]}]}


# ----- the emergency report reaches whoever is on duty at its minute -------------------------------------


def _report_at(api: ApiClient, moment: datetime) -> int:
    pin_clock(moment)
    stamp = moment.isoformat(timespec="seconds")
    r = api.post("cjw1", "/api/v1/instances", json={"process": "emergency_response", "data": {
        **REPORT, "occurred_at": stamp, "discovered_at": stamp}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _user_notices(app: Any, instance_id: int) -> set[str]:
    from sqlalchemy import select

    from service.store.models import Notice

    with app.extensions["govflow"].db.read() as session:
        return set(session.scalars(select(Notice.recipient_user).where(
            Notice.instance_id == instance_id, Notice.kind == "emergency_report", Notice.recipient_user.is_not(None))))


def test_an_emergency_at_21_30_notifies_the_night_shift_and_at_10_00_the_day_shift(app: Any, api: ApiClient) -> None:
    assert put(api, "zzb1", DECEMBER_1).status_code == 200
    night = _report_at(api, datetime(2026, 12, 1, 21, 30, tzinfo=BEIJING))
    assert _user_notices(app, night) == {"jsw1", "zr"}
    early = _report_at(api, datetime(2026, 12, 2, 7, 59, tzinfo=BEIJING))  # still the 1st's night shift
    assert _user_notices(app, early) == {"jsw1", "zr"}
    day = _report_at(api, datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING))
    assert _user_notices(app, day) == {"xfk1", "bgs"}
    nobody = _report_at(api, datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING))  # the 2nd has no roster
    assert _user_notices(app, nobody) == set()
    # the groups are told as before, whoever is on duty
    r = api.get("zzb1", "/api/v1/notices").get_json()
    assert any(n["instance_id"] == day and "【突发事件报告】" in n["text"] for n in r)


def test_the_shift_on_duty_is_texted_first_through_the_senders(app: Any, api: ApiClient) -> None:
    """The report's notice reaches the officer and the leader on duty (by SMS and e-mail, as each
    has an address) before the emergency office's members: their deliveries are queued first."""
    from sqlalchemy import select

    from service import senders
    from service.store.models import User

    with app.extensions["govflow"].db.write() as session:
        for username, phone, mail in (("xfk1", "13800000001", None), ("bgs", None, "bgs@example.gov.cn"),
                                      ("zzb1", "13800000003", None)):
            user = session.scalars(select(User).where(User.username == username)).one()
            user.phone, user.email = phone, mail
    assert put(api, "zzb1", DECEMBER_1).status_code == 200
    sent: list[tuple[str, str, str]] = []
    for channel in ("sms", "email"):
        senders.register(channel, lambda address, subject, body, c=channel: sent.append((c, address, body)))
    try:
        iid = _report_at(api, datetime(2026, 12, 1, 10, 0, tzinfo=BEIJING))
        assert senders.deliver_pending(app.extensions["govflow"].db) == 3
    finally:
        senders.unregister("sms")
        senders.unregister("email")
    assert [(c, a) for c, a, _body in sent] == [("sms", "13800000001"), ("email", "bgs@example.gov.cn"),
                                                ("sms", "13800000003")]
    key = api.instance("zzb1", iid)["business_key"]
    assert all(body.startswith(f"【突发事件报告】{key} 群体性事件（机关大院门口）") for _c, _a, body in sent)


# ----- the migration ----------------------------------------------------------------------------------


def test_migration_0016_upgrades_a_0015_database_and_downgrades(db_url: str) -> None:
    """`govflow init` on a database of the previous version: Database.migrate brings it to 0016."""
    from migration_steps import move_to
    from sqlalchemy import inspect

    from service.store.db import Database

    db = Database(db_url)
    try:
        move_to(db, db_url, "0015")
        assert "duty_shifts" not in inspect(db.engine).get_table_names()
        db.migrate()
        inspector = inspect(db.engine)
        assert "duty_shifts" in inspector.get_table_names()
        unique = inspector.get_unique_constraints("duty_shifts")
        assert [u["column_names"] for u in unique] == [["day", "kind"]]
        move_to(db, db_url, "0015", down=True)
        assert "duty_shifts" not in inspect(db.engine).get_table_names()
    finally:
        db.dispose()
