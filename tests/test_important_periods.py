"""重要时期 (important periods, PROCEDURES.md §2b, API.md `dispute_screening_daily`): admin and 综治办
keep them through the JSON API and the page /important-periods; a reversed or unreal range is a
422 in Chinese that writes nothing; anyone else gets a 403; every change is recorded; the daily
round's schedule starts on the legal calendar's working days inside them only."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest
from conftest import ApiClient, login, text

from service.clock import BEIJING
from workflows import dispute_periods

PATH = "/api/v1/important-periods"
NATIONAL_DAY = {"name": "2026年国庆节", "first_day": "2026-09-28", "last_day": "2026-10-10"}


def with_periods(app: Any) -> Any:
    """The periods' blueprint on `app`, as the daily procedure's `blueprints` register it (added here
    while the app has served nothing yet, unless the installed procedures registered it already)."""
    for blueprint in dispute_periods.BLUEPRINTS:
        if blueprint.name not in app.blueprints:
            app.register_blueprint(blueprint)
    return app


@pytest.fixture
def periods_api(app: Any) -> ApiClient:
    return ApiClient(with_periods(app))


@pytest.fixture
def sqlite_periods_api(sqlite_app: Any) -> ApiClient:
    return ApiClient(with_periods(sqlite_app))


@pytest.fixture
def periods_page_app(page_app: Any) -> Any:
    return with_periods(page_app)


def delete(api: ApiClient, username: str, period_id: int) -> Any:
    return api.client.delete(f"{PATH}/{period_id}", headers=api.headers(username))


def changes(app: Any) -> list[tuple[str, str | None, str]]:
    """The recorded changes of the periods: (who, before, after)."""
    from sqlalchemy import select

    from service.important_periods import CHANGE_KEY
    from service.store.models import SettingChange

    with app.extensions["govflow"].db.read() as session:
        rows = session.scalars(select(SettingChange).where(SettingChange.key == CHANGE_KEY).order_by(SettingChange.id))
        return [(r.username, r.before, r.after) for r in rows]


# ----- the JSON API ------------------------------------------------------------------------------------


def test_zzb_and_admin_create_list_and_delete_periods(periods_api: ApiClient) -> None:
    r = periods_api.post("zzb1", PATH, json=NATIONAL_DAY)
    assert r.status_code == 201, r.get_json()
    national = r.get_json()
    assert national == {"id": national["id"], **NATIONAL_DAY}
    # overlapping periods are allowed; the list is ordered by first day, whoever declared them
    r = periods_api.post("admin", PATH, json={"name": "  全国两会 ", "first_day": "2026-03-01", "last_day": "2026-03-15"})
    assert r.status_code == 201, r.get_json()
    sessions = r.get_json()
    assert sessions["name"] == "全国两会"
    r = periods_api.post("zzb1", PATH, json={"name": "国庆安保", "first_day": "2026-10-01", "last_day": "2026-10-03"})
    assert r.status_code == 201
    guard = r.get_json()

    listed = periods_api.get("zzb1", PATH)
    assert listed.status_code == 200
    assert [(p["id"], p["name"], p["first_day"], p["last_day"], p["created_by"]) for p in listed.get_json()] == [
        (sessions["id"], "全国两会", "2026-03-01", "2026-03-15", "admin"),
        (national["id"], "2026年国庆节", "2026-09-28", "2026-10-10", "zzb1"),
        (guard["id"], "国庆安保", "2026-10-01", "2026-10-03", "zzb1"),
    ]
    assert periods_api.get("admin", PATH).get_json() == listed.get_json()

    r = delete(periods_api, "admin", guard["id"])  # the administrator removes 综治办's period
    assert r.status_code == 200 and r.get_json() == guard
    assert [p["id"] for p in periods_api.get("zzb1", PATH).get_json()] == [sessions["id"], national["id"]]
    r = delete(periods_api, "zzb1", guard["id"])
    assert r.status_code == 404 and r.get_json()["message"] == "重要时期不存在或已删除"

    assert changes(periods_api.app) == [
        ("zzb1", None, f'"#{national["id"]} 2026年国庆节（2026-09-28 至 2026-10-10）"'),
        ("admin", None, f'"#{sessions["id"]} 全国两会（2026-03-01 至 2026-03-15）"'),
        ("zzb1", None, f'"#{guard["id"]} 国庆安保（2026-10-01 至 2026-10-03）"'),
        ("admin", f'"#{guard["id"]} 国庆安保（2026-10-01 至 2026-10-03）"', '"已删除"'),
    ]


@pytest.mark.parametrize(("body", "field", "message"), [
    ({**NATIONAL_DAY, "last_day": "2026-09-27"}, "last_day", "结束日期不能早于开始日期"),
    ({**NATIONAL_DAY, "first_day": "2026-02-30"}, "first_day", "开始日期 2026-02-30 不是有效的日期"),
    ({**NATIONAL_DAY, "last_day": "2026/10/10"}, "last_day", "结束日期格式应为 YYYY-MM-DD（如 2026-03-01）"),
    ({**NATIONAL_DAY, "first_day": "20260928"}, "first_day", "开始日期格式应为 YYYY-MM-DD（如 2026-03-01）"),
    ({**NATIONAL_DAY, "first_day": 20260928}, "first_day", "开始日期格式应为 YYYY-MM-DD（如 2026-03-01）"),
    ({**NATIONAL_DAY, "last_day": ""}, "last_day", "请填写结束日期"),
    ({**NATIONAL_DAY, "name": " "}, "name", "请填写名称（如：全国两会）"),
    ({**NATIONAL_DAY, "name": "期" * 101}, "name", "名称不能超过100个字"),
    ({**NATIONAL_DAY, "first_day": "2026-01-01", "last_day": "2027-01-02"}, "last_day",
     "重要时期不能超过366天，请分段设置"),
])
def test_a_bad_period_is_refused_in_chinese_and_writes_nothing(sqlite_periods_api: ApiClient, body: dict[str, Any],
                                                               field: str, message: str) -> None:
    r = sqlite_periods_api.post("zzb1", PATH, json=body)
    assert r.status_code == 422
    answer = r.get_json()
    assert answer["error"] == "invalid" and answer["message"] == "重要时期设置有误，请检查标出的字段"
    assert answer["details"] == [{"field": field, "message": message}]
    assert sqlite_periods_api.get("zzb1", PATH).get_json() == []
    assert changes(sqlite_periods_api.app) == []


def test_a_period_of_366_days_is_accepted(sqlite_periods_api: ApiClient) -> None:
    r = sqlite_periods_api.post("zzb1", PATH, json={"name": "全年", "first_day": "2028-01-01", "last_day": "2028-12-31"})
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize("username", ["fgw1", "xfk1"])
def test_only_admin_and_zzb_may_keep_periods(sqlite_periods_api: ApiClient, username: str) -> None:
    made = sqlite_periods_api.post("zzb1", PATH, json=NATIONAL_DAY).get_json()
    refusal = "只有系统管理员和机关综治办可以管理重要时期"
    for r in (sqlite_periods_api.get(username, PATH),
              sqlite_periods_api.post(username, PATH, json={**NATIONAL_DAY, "name": "他人添加"}),
              delete(sqlite_periods_api, username, made["id"])):
        assert r.status_code == 403 and r.get_json() == {"error": "forbidden", "message": refusal, "details": []}
    assert [p["name"] for p in sqlite_periods_api.get("admin", PATH).get_json()] == ["2026年国庆节"]


def test_a_repeated_idempotency_key_creates_one_period(sqlite_periods_api: ApiClient) -> None:
    headers = {**sqlite_periods_api.headers("zzb1"), "Idempotency-Key": "ip-1"}
    first = sqlite_periods_api.client.post(PATH, json=NATIONAL_DAY, headers=headers)
    again = sqlite_periods_api.client.post(PATH, json=NATIONAL_DAY, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert len(sqlite_periods_api.get("zzb1", PATH).get_json()) == 1


# ----- the page ----------------------------------------------------------------------------------------


def test_the_page_adds_and_lists_periods_with_their_working_days(periods_page_app: Any) -> None:
    client = login(periods_page_app, "zzb1")
    assert "尚未设置重要时期" in text(client.get("/important-periods"))
    r = client.post("/important-periods", data={**NATIONAL_DAY, "submission_token": "tok-1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/important-periods")
    again = client.post("/important-periods", data={**NATIONAL_DAY, "submission_token": "tok-1"})  # a double click
    assert again.status_code == 302
    page = text(client.get("/important-periods"))
    assert "已添加重要时期「2026年国庆节」（2026-09-28 至 2026-10-10）" in page
    rows = re.findall(r'<tr data-period-id="\d+">(.*?)</tr>', page, re.S)
    assert len(rows) == 1
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)]
    # 13 days; working: 28–30 Sep, 8–9 Oct and the 调休 Saturday 10 Oct (1–7 Oct are 国庆节)
    assert cells[:6] == ["2026年国庆节", "2026-09-28（一）", "2026-10-10（六）", "13", "6", "已结束"]
    headers = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", page)
    assert headers == ["名称", "开始日期", "结束日期", "天数", "工作日数", "状态", "值班安排", "操作"]
    assert "确认删除重要时期「2026年国庆节」" in page


def test_the_page_shows_a_field_error_next_to_the_field(periods_page_app: Any) -> None:
    client = login(periods_page_app, "admin")
    r = client.post("/important-periods", data={"name": "全国两会", "first_day": "2027-03-15", "last_day": "2027-03-01"})
    assert r.status_code == 422
    page = text(r)
    assert re.search(r'<div class="field has-error">\s*<label for="ip_last">.*?'
                     r'<div class="field-error" data-field="last_day">结束日期不能早于开始日期</div>', page, re.S)
    assert 'value="全国两会"' in page and 'value="2027-03-15"' in page  # what was typed stays
    assert "尚未设置重要时期" in page
    assert changes(periods_page_app) == []


def test_the_page_deletes_a_period(periods_page_app: Any) -> None:
    from service import important_periods

    made = important_periods.create(periods_page_app.extensions["govflow"].db, "zzb1", NATIONAL_DAY)
    client = login(periods_page_app, "zzb1")
    r = client.post(f"/important-periods/{made['id']}/delete", follow_redirects=True)
    assert r.status_code == 200
    page = text(r)
    assert "已删除重要时期「2026年国庆节」" in page and "尚未设置重要时期" in page
    r = client.post(f"/important-periods/{made['id']}/delete", follow_redirects=True)
    assert "重要时期不存在或已删除" in text(r)


def test_the_page_is_refused_to_others_in_chinese(periods_page_app: Any) -> None:
    client = login(periods_page_app, "fgw1")
    for r in (client.get("/important-periods"), client.post("/important-periods", data=NATIONAL_DAY)):
        assert r.status_code == 403 and "只有系统管理员和机关综治办可以管理重要时期" in text(r)


def test_the_period_form_needs_its_csrf_token(sqlite_app: Any) -> None:
    with_periods(sqlite_app)
    client = sqlite_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "zzb1", "password": "govflow-demo", "csrf_token": token})
    assert client.post("/important-periods", data=NATIONAL_DAY).status_code == 400
    page = text(client.get("/important-periods"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/important-periods", data={**NATIONAL_DAY, "csrf_token": token}).status_code == 302


# ----- the daily round's schedule ------------------------------------------------------------------------


def test_within_returns_the_stored_ranges(sqlite_app: Any) -> None:
    from service import important_periods

    db = sqlite_app.extensions["govflow"].db
    important_periods.create(db, "zzb1", NATIONAL_DAY)
    important_periods.create(db, "admin", {"name": "全国两会", "first_day": "2026-03-01", "last_day": "2026-03-15"})
    important_periods.create(db, "zzb1", {"name": "2020年国庆节", "first_day": "2020-10-01", "last_day": "2020-10-08"})
    with db.read() as session:
        assert dispute_periods.within(session) == [
            (date(2026, 3, 1), date(2026, 3, 15), "全国两会"),
            (date(2026, 9, 28), date(2026, 10, 10), "2026年国庆节"),
        ]  # 2020's ended long before the schedule's catch-up window: not read
        assert important_periods.ranges(session)[0] == (date(2020, 10, 1), date(2020, 10, 8), "2020年国庆节")


def test_the_daily_schedule_starts_on_working_days_inside_a_period_only(sqlite_app: Any) -> None:
    from service import important_periods
    from service.procedure import Numbering, Procedure
    from service.schedule import WorkingDays

    db = sqlite_app.extensions["govflow"].db
    important_periods.create(db, "zzb1", NATIONAL_DAY)
    important_periods.create(db, "zzb1", {"name": "国庆安保", "first_day": "2026-10-09", "last_day": "2026-10-12"})
    daily = Procedure("test_daily_round", "每日排查（测试）", Numbering("RB", by_period=True))
    schedule = WorkingDays(within=dispute_periods.within, at_minute=8 * 60)
    with db.read() as session:
        found = schedule.periods(daily, datetime(2026, 9, 1, tzinfo=BEIJING), datetime(2026, 11, 1, tzinfo=BEIJING),
                                 lambda: session)
    # 国庆节 1–7 October (Sunday 4 October among them) start nothing; Saturday 10 October is a 调休
    # working day; Sunday 11 October is not; a day inside both periods starts once, named after the first
    assert [(p.key, p.data["important_period"]) for p in found] == [
        ("2026-09-28", "2026年国庆节"), ("2026-09-29", "2026年国庆节"), ("2026-09-30", "2026年国庆节"),
        ("2026-10-08", "2026年国庆节"), ("2026-10-09", "2026年国庆节"), ("2026-10-10", "2026年国庆节"),
        ("2026-10-12", "国庆安保"),
    ]
    assert {p.starts_at.strftime("%H:%M%z") for p in found} == {"08:00+0800"}
    assert found[0].data == {"period": "2026-09-28", "important_period": "2026年国庆节"}


def test_the_daily_round_declares_this_schedule(sqlite_app: Any) -> None:
    """The daily round (workflows/dispute_rounds.py) reads these periods: its own schedule yields
    the same working days, at its 08:00 start setting, and its blueprints carry the page and API."""
    from service import important_periods
    from workflows import dispute_rounds

    db = sqlite_app.extensions["govflow"].db
    important_periods.create(db, "zzb1", NATIONAL_DAY)
    daily = dispute_rounds.DAILY
    assert any(b in daily.blueprints or b in dispute_rounds.MONTHLY.blueprints for b in dispute_periods.BLUEPRINTS)
    with db.read() as session:
        found = [p for s in daily.schedules
                 for p in s.periods(daily, datetime(2026, 9, 1, tzinfo=BEIJING), datetime(2026, 11, 1, tzinfo=BEIJING),
                                    lambda: session)]
    assert [(p.key, p.starts_at.strftime("%H:%M")) for p in found] == [
        ("2026-09-28", "08:00"), ("2026-09-29", "08:00"), ("2026-09-30", "08:00"),
        ("2026-10-08", "08:00"), ("2026-10-09", "08:00"), ("2026-10-10", "08:00"),
    ]


def test_the_calendar_page_links_to_the_periods_for_the_administrator(periods_page_app: Any) -> None:
    page = text(login(periods_page_app, "admin").get("/admin/calendar/"))
    assert '<a class="btn btn-small" id="important-periods-link" href="/important-periods">重要时期</a>' in page


@pytest.mark.browser
def test_zzb_keeps_the_periods_on_a_phone_and_prints_the_list(tmp_path: Any, chromium_path: str,
                                                              artifacts_dir: Any) -> None:
    from conftest import browser_app, browser_page, serve
    from playwright.sync_api import expect

    app = with_periods(browser_app(tmp_path, "periods"))
    with serve(app) as base, browser_page(chromium_path, viewport={"width": 390, "height": 844},
                                          is_mobile=True, has_touch=True) as page:
        page.goto(f"{base}/login")
        page.fill("#username", "zzb1")
        page.fill("#password", "govflow-demo")
        page.tap("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")
        page.goto(f"{base}/important-periods")
        expect(page.locator("h1")).to_have_text("重要时期")
        page.fill("#ip_name", "2026年国庆节")
        page.fill("#ip_first", "2026-10-10")
        page.fill("#ip_last", "2026-09-28")
        page.tap("#period-form button[type=submit]")
        expect(page.locator(".field-error[data-field=last_day]")).to_have_text("结束日期不能早于开始日期")
        page.fill("#ip_first", "2026-09-28")
        page.fill("#ip_last", "2026-10-10")
        page.tap("#period-form button[type=submit]")
        expect(page.locator(".flash-success")).to_contain_text("已添加重要时期「2026年国庆节」")
        row = page.locator("#important-periods tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("td[data-label=工作日数]")).to_have_text("6")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts_dir / "important_periods_phone.png"), full_page=True)

        page.emulate_media(media="print")
        expect(page.locator(".topbar")).to_be_hidden()
        expect(page.locator("#period-form")).to_be_hidden()
        expect(row.locator("form")).to_be_hidden()
        expect(row.locator("td[data-label=名称]")).to_have_text("2026年国庆节")
        page.emulate_media(media="screen")

        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button:has-text('删除')").tap()
        expect(page.locator(".flash-success")).to_contain_text("已删除重要时期「2026年国庆节」")
        expect(page.locator("#important-periods")).to_have_count(0)
        assert page.js_errors == []
    app.extensions["govflow"].db.dispose()
