"""The legal calendar (民法典 201/203) with real 2025/2026 dates, the provisional rule past
chinesecalendar's data (2027 onward), and the admin page that loads a year's notice.

Expected dates were checked against chinesecalendar's 2025/2026 data (the State
Council notices) and a printed calendar: 2025-10-01..08 and 2026-10-01..07 are the
National Day holidays, 2025-10-11 (Sat), 2026-02-28 (Sat) and 2026-10-10 (Sat) are
调休 working days; 2027-02-06 is 正月初一 (除夕 2027-02-05), 2027-10-01 is a Friday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from conftest import login, make_app

PASSWORD = "govflow-demo"

NOTICE_2027 = """\
# 国务院办公厅关于2027年部分节假日安排的通知（测试用）
2027-01-01 休 元旦
2027-02-05~2027-02-11 休 春节
2027-02-20 班 春节调休
2027-09-26 班 国庆节调休
2027-10-01~2027-10-07 休 国庆节
"""


@pytest.fixture(autouse=True)
def calendar_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty override snapshot, and chinesecalendar's data pinned to end with 2026
    (as it does today) so the 2027 cases stay provisional after a package update."""
    from service import calendar as legal

    official = legal.CALENDAR.official_years
    assert official.start <= 2025 and official.stop >= 2027, "chinesecalendar lacks 2025/2026 data"
    monkeypatch.setattr(legal.CALENDAR, "official_years", range(official.start, 2027))
    legal.CALENDAR.clear()
    yield legal
    legal.CALENDAR.clear()


def iso(day: str) -> str:
    return f"{day}T23:59:59+08:00"


# ----- 2025/2026: chinesecalendar's official data -----------------------------------------------------


def test_start_day_not_counted_and_result_format(calendar_state: Any) -> None:
    legal = calendar_state
    assert legal.add_days("2026-03-02T09:00:00+08:00", 1) == iso("2026-03-03")
    assert legal.add_days(date(2026, 3, 2), 15) == iso("2026-03-17")
    # 2026-03-02 + 60 = 2026-05-01, inside 劳动节 (05-01..05): rolls to Wednesday 05-06.
    assert legal.add_days("2026-03-02T09:00:00+08:00", 60) == iso("2026-05-06")
    # A late-evening UTC time is already the next day in Beijing.
    assert legal.add_days("2026-03-01T20:00:00+00:00", 1) == iso("2026-03-03")


def test_2025_period_ending_in_national_day_rolls_to_first_working_day(calendar_state: Any) -> None:
    legal = calendar_state
    for d in range(1, 9):
        info = legal.day_info(date(2025, 10, d))
        assert not info.working and info.source == "official"
    assert legal.day_info(date(2025, 10, 6)).name == "中秋节"
    # 2025-09-01 + 30 = 2025-10-01 → first working day after the holiday: Thursday 10-09.
    assert legal.add_days("2025-09-01T10:00:00+08:00", 30) == iso("2025-10-09")
    assert legal.last_day(date(2025, 9, 5), 30) == date(2025, 10, 9)
    detail = legal.add_days_detail("2025-09-01", 30)
    assert detail.isoformat() == iso("2025-10-09") and detail.provisional is False


def test_2026_period_ending_in_national_day_rolls_to_first_working_day(calendar_state: Any) -> None:
    legal = calendar_state
    # 2026-09-03 + 30 = 2026-10-03 (holiday 10-01..07) → Thursday 2026-10-08.
    assert legal.add_days("2026-09-03T09:00:00+08:00", 30) == iso("2026-10-08")
    # 2026-08-26 + 30 = 2026-09-25, 中秋节 (09-25..27) → Monday 09-28.
    assert legal.add_days("2026-08-26", 30) == iso("2026-09-28")
    assert legal.day_info(date(2026, 10, 3)).name == "国庆节"


def test_2026_tiaoxiu_working_weekend_is_not_rolled(calendar_state: Any) -> None:
    legal = calendar_state
    sat = legal.day_info(date(2026, 10, 10))
    assert date(2026, 10, 10).weekday() == 5
    assert sat.working and sat.source == "official" and sat.name == "国庆节调休"
    # 2026-09-10 + 30 = Saturday 2026-10-10, a 调休 working day: the deadline stays.
    assert legal.add_days("2026-09-10", 30) == iso("2026-10-10")
    # 2026-01-29 + 30 = Saturday 2026-02-28, the 春节 调休 working day.
    assert legal.add_days("2026-01-29", 30) == iso("2026-02-28")
    # An ordinary Saturday rolls to Monday: 2026-03-05 + 30 = Saturday 04-04 → 清明 04-04..06 → 04-07.
    assert legal.add_days("2026-03-05", 30) == iso("2026-04-07")
    assert legal.add_days("2026-03-12", 30) == iso("2026-04-13")  # Saturday 04-11 → Monday 04-13


def test_working_day_periods_skip_weekends_and_holidays(calendar_state: Any) -> None:
    legal = calendar_state
    # From Wed 2026-09-30: 10-01..07 holiday; 08 Thu(1) 09 Fri(2) 10 Sat 调休(3) 12 Mon(4) 13 Tue(5).
    assert legal.add_days("2026-09-30", 5, "working") == iso("2026-10-13")
    # From Tue 2025-09-30: 10-01..08 holiday; 09 Thu(1) 10 Fri(2) 11 Sat 调休(3).
    assert legal.add_days("2025-09-30", 3, kind="working") == iso("2025-10-11")
    # Ordinary week: Mon 2026-03-02 + 5 working days = Mon 03-09.
    assert legal.add_days("2026-03-02", 5, "working") == iso("2026-03-09")
    assert legal.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)
    assert legal.is_working_day(date(2026, 10, 10)) and not legal.is_working_day(date(2026, 10, 11))


def test_override_snapshot_without_database(calendar_state: Any) -> None:
    legal = calendar_state
    legal.CALENDAR.set_snapshot({date(2026, 10, 8): (False, "地方安排")})
    info = legal.day_info(date(2026, 10, 8))
    assert (info.working, info.name, info.source) == (False, "地方安排", "override")
    assert legal.add_days("2026-09-03", 30) == iso("2026-10-09")
    legal.CALENDAR.clear()
    assert legal.add_days("2026-09-03", 30) == iso("2026-10-08")


# ----- 2027 onward: the provisional rule ---------------------------------------------------------------


def test_provisional_holidays_2027(calendar_state: Any) -> None:
    legal = calendar_state
    assert {d.isoformat(): n for d, n in legal.provisional_holidays(2027).items()} == {
        "2027-01-01": "元旦",
        "2027-02-05": "春节", "2027-02-06": "春节", "2027-02-07": "春节", "2027-02-08": "春节",
        "2027-04-05": "清明节",
        "2027-05-01": "劳动节", "2027-05-02": "劳动节",
        "2027-06-09": "端午节",
        "2027-09-15": "中秋节",
        "2027-10-01": "国庆节", "2027-10-02": "国庆节", "2027-10-03": "国庆节",
    }
    # 2028: 中秋 (八月十五) is 10-03, inside 国庆节; 除夕 2028-01-25.
    h2028 = legal.provisional_holidays(2028)
    assert h2028[date(2028, 1, 25)] == "春节" and h2028[date(2028, 1, 26)] == "春节"
    assert "中秋节" in h2028[date(2028, 10, 3)] and "国庆节" in h2028[date(2028, 10, 3)]


def test_2027_dates_are_provisional_and_roll_past_weekends_and_fixed_holidays(calendar_state: Any) -> None:
    legal = calendar_state
    info = legal.day_info(date(2027, 10, 1))
    assert (info.working, info.name, info.source) == (False, "国庆节", "provisional")
    assert legal.is_provisional(date(2027, 3, 1)) and not legal.is_provisional(date(2026, 12, 31))
    # 2027-09-02 + 30 = Saturday 2027-10-02 (国庆节 Fri 10-01..Sun 10-03) → Monday 10-04.
    d = legal.add_days_detail("2027-09-02", 30)
    assert d.isoformat() == iso("2027-10-04") and d.provisional is True
    assert legal.add_days("2027-09-02", 30) == iso("2027-10-04")
    # A petition received in December 2026: +60 days = 2027-02-05 (除夕) → 春节 to 02-08 → Tue 02-09.
    d = legal.add_days_detail("2026-12-07T09:00:00+08:00", 60)
    assert d.isoformat() == iso("2027-02-09") and d.provisional is True
    # 2026-11-20 + 60 = Tuesday 2027-01-19: no roll, but provisional.
    d = legal.add_days_detail("2026-11-20T09:00:00+08:00", 60)
    assert d.isoformat() == iso("2027-01-19") and d.provisional is True
    # Working days across the year end: Dec 21-25, 28-31 (9), 2027-01-01 元旦, Mon 01-04 (10).
    d = legal.add_days_detail("2026-12-20", 10, "working")
    assert d.isoformat() == iso("2027-01-04") and d.provisional is True
    # Ordinary weekend in 2027: 2027-03-01 + 5 = Saturday 03-06 → Monday 03-08.
    assert legal.add_days("2027-03-01", 5) == iso("2027-03-08")
    assert legal.add_days_detail("2026-03-02", 60).provisional is False


def test_deadline_is_provisional(calendar_state: Any) -> None:
    legal = calendar_state
    assert legal.deadline_is_provisional(iso("2027-01-19")) is True
    assert legal.deadline_is_provisional(iso("2026-12-31")) is False
    assert legal.deadline_is_provisional("2026-12-31T20:00:00+00:00") is True  # 2027-01-01 in Beijing
    assert legal.deadline_is_provisional(None) is False
    assert legal.deadline_is_provisional("") is False
    assert legal.deadline_is_provisional("不是日期") is False
    legal.CALENDAR.set_snapshot(loaded_years=[2027])
    assert legal.deadline_is_provisional(iso("2027-01-19")) is False


def test_far_future_dates_never_crash(calendar_state: Any) -> None:
    legal = calendar_state
    for day in (date(2099, 12, 31), date(2100, 2, 1), date(2150, 10, 1), date(9999, 12, 1)):
        info = legal.day_info(day)
        assert info.source == "provisional"
    assert legal.add_days("2099-12-01", 60) == iso("2100-02-01")  # Saturday 2100-01-30 → Monday
    assert legal.add_days("2150-09-01", 30, "working").startswith("2150-10-")
    assert legal.day_info(date(2150, 10, 1)).name == "国庆节"


# ----- parsing a notice ------------------------------------------------------------------------------------


def test_parse_notice_ranges_and_errors(calendar_state: Any) -> None:
    legal = calendar_state
    days = legal.parse_notice(NOTICE_2027, 2027)
    assert len(days) == 17
    assert days[1].day == date(2027, 2, 5) and days[1].working is False and days[1].name == "春节"
    assert [d for d in days if d.working] == [
        legal.NoticeDay(4, date(2027, 2, 20), True, "春节调休"),
        legal.NoticeDay(5, date(2027, 9, 26), True, "国庆节调休"),
    ]
    assert legal.parse_notice("2027-05-01 至 2027-05-05 放假 劳动节")[-1].day == date(2027, 5, 5)
    with pytest.raises(legal.NoticeError) as exc:
        legal.parse_notice("2027-01-01 休 元旦\n2027-02-30 休 春节\n\n2027-03-01 放 x\n2028-01-01 休 元旦\n"
                           "2027-01-01 班 重复", 2027)
    assert [n for n, _ in exc.value.errors] == [2, 4, 5, 6]
    assert "第 2、4、5、6 行" in str(exc.value)
    with pytest.raises(legal.NoticeError):
        legal.parse_notice("# 只有注释\n\n", 2027)


# ----- the admin page --------------------------------------------------------------------------------------


@pytest.fixture
def cal_app(db_url: str) -> Iterator[Any]:
    from service.web.calendar_admin import calendar_admin

    app = make_app(db_url)
    if "calendar_admin" not in app.blueprints:
        app.register_blueprint(calendar_admin)
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["TESTING"] = True
    yield app
    app.extensions["govflow"].db.dispose()


def db_rows(app: Any) -> tuple[list[Any], list[Any]]:
    from sqlalchemy import select

    from service.store.calendar_models import CalendarDay, CalendarYear

    with app.extensions["govflow"].db.read() as session:
        days = session.execute(select(CalendarDay).order_by(CalendarDay.day)).scalars().all()
        years = session.execute(select(CalendarYear)).scalars().all()
        return list(days), list(years)


def test_loading_a_years_notice_makes_it_final(cal_app: Any, calendar_state: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    legal = calendar_state
    runtime = cal_app.extensions["govflow"].runtime
    calls: list[bool] = []

    def recompute() -> int:
        calls.append(legal.CALENDAR.is_loaded(2027))  # called after the reload
        return 3

    monkeypatch.setattr(runtime, "recompute_deadlines", recompute, raising=False)
    client = login(cal_app, "admin")

    page = client.get("/admin/calendar/?year=2027").get_data(as_text=True)
    assert "2027 年尚未载入国务院放假通知，日期为暂定" in page
    before = legal.add_days_detail("2027-01-06", 30)  # 2027-02-05 → provisional 春节 → 02-09
    assert before.isoformat() == iso("2027-02-09") and before.provisional

    r = client.post("/admin/calendar/notice", data={
        "year": "2027", "text": NOTICE_2027, "source": "国办发明电〔2026〕测试号", "replace": "1"})
    assert r.status_code == 302
    assert calls == [True]

    after = legal.add_days_detail("2027-01-06", 30)  # 春节 02-05..11 → Friday 02-12
    assert after.isoformat() == iso("2027-02-12") and after.provisional is False
    assert legal.add_days("2027-09-02", 30) == iso("2027-10-08")  # 国庆节 10-01..07
    assert legal.add_days("2027-08-27", 30) == iso("2027-09-26")  # Sunday 调休 working day
    assert legal.add_days("2027-05-01", 0) == iso("2027-05-03")  # 劳动节 not in this notice: weekend only
    assert not legal.deadline_is_provisional(iso("2027-10-08"))
    assert legal.day_info(date(2027, 2, 20)) == legal.DayInfo(True, "春节调休", "override")

    days, years = db_rows(cal_app)
    assert len(days) == 17 and {d.updated_by for d in days} == {"admin"}
    assert [(y.year, y.loaded_by, y.source) for y in years] == [(2027, "admin", "国办发明电〔2026〕测试号")]

    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "尚未载入" not in page
    assert "已载入 2027 年放假安排（17 天）" in page
    assert "3 件案件的期限发生变化" in page
    assert 'data-day="2027-02-20" data-working="1" data-source="override"' in page

    data = client.get("/admin/calendar/days.json?year=2027").get_json()
    assert data["provisional"] is False and data["loaded"] is True
    assert {"day": "2027-10-04", "working": False, "name": "国庆节", "source": "override"} in data["days"]

    # Undo: the year is provisional again.
    r = client.post("/admin/calendar/year/unload", data={"year": "2027"})
    assert r.status_code == 302
    assert db_rows(cal_app) == ([], [])
    assert legal.add_days_detail("2027-01-06", 30) == before


def test_invalid_notice_line_is_refused_and_nothing_written(cal_app: Any, calendar_state: Any) -> None:
    legal = calendar_state
    client = login(cal_app, "admin")
    text = "2027-01-01 休 元旦\n2027-02-30 休 春节\n2027-02-20 班 春节调休\n2027-03-01 放 某节\n2026-12-31 休 错年"
    r = client.post("/admin/calendar/notice", data={"year": "2027", "text": text, "replace": "1"})
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert "第 2、4、5 行有误，未作任何修改" in body
    assert "2027-02-20 班 春节调休" in body  # the text is kept for correction
    assert db_rows(cal_app) == ([], [])
    assert legal.is_provisional(date(2027, 2, 20))
    assert not legal.is_working_day(date(2027, 2, 20))


def test_set_and_delete_one_day(cal_app: Any, calendar_state: Any) -> None:
    legal = calendar_state
    client = login(cal_app, "admin")
    r = client.post("/admin/calendar/day", data={"day": "2026-10-08", "working": "0", "name": "地方安排"})
    assert r.status_code == 302
    assert legal.add_days("2026-09-03", 30) == iso("2026-10-09")
    assert legal.is_provisional(date(2026, 10, 8)) is False
    page = client.get("/admin/calendar/?year=2026").get_data(as_text=True)
    assert "地方安排" in page and "尚未载入" not in page
    r = client.post("/admin/calendar/day", data={"day": "2026-13-01", "working": "0"})
    assert r.status_code == 302 and len(db_rows(cal_app)[0]) == 1
    r = client.post("/admin/calendar/day/delete", data={"day": "2026-10-08"})
    assert r.status_code == 302
    assert db_rows(cal_app) == ([], [])
    assert legal.add_days("2026-09-03", 30) == iso("2026-10-08")


def test_post_without_csrf_token_is_refused(cal_app: Any, calendar_state: Any) -> None:
    client = login(cal_app, "admin")
    cal_app.config["WTF_CSRF_ENABLED"] = True
    r = client.post("/admin/calendar/notice", data={"year": "2027", "text": NOTICE_2027})
    assert r.status_code == 400
    assert db_rows(cal_app) == ([], [])
    assert calendar_state.is_provisional(date(2027, 2, 20))
    page = client.get("/admin/calendar/?year=2027").get_data(as_text=True)
    assert 'name="csrf_token"' in page


def test_non_admin_gets_403_and_anonymous_is_sent_to_login(cal_app: Any) -> None:
    client = login(cal_app, "xfk1")
    r = client.get("/admin/calendar/")
    assert r.status_code == 403
    assert "只有系统管理员可以管理节假日日历" in r.get_data(as_text=True)
    assert client.post("/admin/calendar/notice", data={"year": "2027", "text": NOTICE_2027}).status_code == 403
    assert client.post("/admin/calendar/day", data={"day": "2027-01-04", "working": "0"}).status_code == 403
    assert db_rows(cal_app) == ([], [])
    anonymous = cal_app.test_client().get("/admin/calendar/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_other_workers_changes_are_picked_up(cal_app: Any, calendar_state: Any) -> None:
    """Rows written elsewhere (another worker) reach this process's snapshot on its next refresh."""
    from service import clock
    from service.store.calendar_models import CalendarYear

    legal = calendar_state
    with cal_app.extensions["govflow"].db.write() as session:
        session.add(CalendarYear(year=2027, loaded_at=clock.now(), loaded_by="admin", source="其他进程"))
    legal.CALENDAR.clear()  # stale: the next request reloads
    client = login(cal_app, "admin")
    client.get("/admin/calendar/?year=2027")
    assert legal.CALENDAR.is_loaded(2027)
    assert not legal.deadline_is_provisional(iso("2027-03-01"))
    with cal_app.test_request_context():
        from flask import render_template_string

        assert render_template_string("{{ deadline_is_provisional(v) }}", v=iso("2028-01-05")) == "True"


def test_admin_page_shows_official_and_provisional_years(cal_app: Any) -> None:
    client = login(cal_app, "admin")
    page = client.get("/admin/calendar/?year=2026").get_data(as_text=True)
    assert "尚未载入" not in page
    assert 'data-day="2026-10-10" data-working="1" data-source="official"' in page
    assert "国庆节调休" in page
    page = client.get("/admin/calendar/?year=2028").get_data(as_text=True)
    assert "2028 年尚未载入国务院放假通知，日期为暂定" in page
    assert 'data-day="2028-01-26" data-working="0" data-source="provisional"' in page
    r = client.get("/admin/calendar/?year=abc")
    assert r.status_code == 200


def test_loading_the_notice_recomputes_an_open_petition(cal_app: Any, calendar_state: Any) -> None:
    """End to end with the runtime's recompute_deadlines: a petition received 2026-12-07 is due
    2027-02-09 (provisional 春节); once the 2027 notice is loaded it is due 2027-02-12."""
    from datetime import datetime, timedelta

    from conftest import PETITION, ApiClient

    from service import clock

    # registered on its day of receipt (the clock is moved there; the fixture resets it)
    clock.advance(datetime(2026, 12, 7, 10, 0, tzinfo=clock.BEIJING) - clock.now()
                  if clock.now() < datetime(2026, 12, 7, 10, 0, tzinfo=clock.BEIJING) else timedelta(0))
    api = ApiClient(cal_app)
    r = api.post("xfk1", "/api/v1/instances", json={
        "process": "petition", "data": {**PETITION, "received_at": "2026-12-07T09:00:00+08:00"}})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    assert api.instance("xfk1", iid)["due_at"] == iso("2027-02-09")

    client = login(cal_app, "admin")
    r = client.post("/admin/calendar/notice", data={"year": "2027", "text": NOTICE_2027}, follow_redirects=True)
    assert r.status_code == 200
    assert "1 件案件的期限发生变化" in r.get_data(as_text=True)
    assert api.instance("xfk1", iid)["due_at"] == iso("2027-02-12")
