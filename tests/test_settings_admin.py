"""Settings in a page and in the API: an administrator changes a number of the rules (the
petition's 办理期限, the ladder's offsets, the platform's thresholds) without editing code; bad
values are refused with the bound and the unit; every change is audited; other processes take
it at their next timer poll."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, SUITE_START, ApiClient, login, make_app, text

PASSWORD = "govflow-demo"
KEY = "petition.handling_days"
BOUNDS = "最小为 1 天，最大为 365 天"
LABEL = "办理期限：自收件次日起计算的日数（信访工作办法 第八条(一)）"
# Received Monday 2026-03-02 09:00: the day of receipt is not counted (民法典 第二百零一条), so day 1
# is 03-03 and day 45 is Thursday 2026-04-16, a working day (no 第二百零三条 extension); the
# period ends at 24:00 of that day.
DUE_IN_45 = "2026-04-16T23:59:59+08:00"
DUE_IN_60 = "2026-05-06T23:59:59+08:00"  # the default: day 60 is Wednesday 2026-05-06


def forget_values(tmp_path: Path) -> None:
    """Put this process's snapshot back to the declared defaults, as a process that has not
    polled any stored value yet: load() from an empty settings table."""
    from service import config_store
    from service.store.db import Database
    from service.store.models import Base

    db = Database(f"sqlite:///{tmp_path}/empty-settings.db")
    try:
        Base.metadata.create_all(db.engine)
        with db.read() as session:
            config_store.load(session)
    finally:
        db.dispose()


@pytest.fixture(autouse=True)
def _defaults_again(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """config_store's snapshot is shared by every app of the test process: what a test here
    changes must not reach the next test."""
    yield
    forget_values(tmp_path_factory.mktemp("defaults"))


def put(api: ApiClient, username: str, key: str, body: Any) -> Any:
    return api.client.put(f"/api/v1/settings/{key}", headers=api.headers(username), json=body)


def stored(app: Any) -> tuple[dict[str, str], list[tuple[str, str, str | None, str]]]:
    """The settings rows (clock excepted) and the SettingChange rows (key, username, before, after)."""
    from sqlalchemy import select

    from service.store.models import Setting, SettingChange

    with app.extensions["govflow"].db.read() as session:
        settings = {r.key: r.value for r in session.scalars(select(Setting)) if not r.key.startswith("clock.")}
        changes = [(c.key, c.username, c.before, c.after)
                   for c in session.scalars(select(SettingChange).order_by(SettingChange.id))]
    return settings, changes


def by_key(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for g in listing for s in g["settings"]}


def start_petition(api: ApiClient) -> dict[str, Any]:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.status_code == 201, r.get_json()
    return api.instance("xfk1", int(r.get_json()["id"]))


# ----- API -------------------------------------------------------------------------------------------


# 身份鉴别's settings (service/config_store.py), declared after the attachments'
IDENTITY_KEYS = ["identity.lockout_failures", "identity.lockout_address_failures", "identity.lockout_window_minutes", "identity.lockout_minutes",
                 "identity.password_min_length", "identity.password_history", "identity.password_max_days",
                 "identity.idle_minutes", "identity.session_hours", "identity.second_factor_groups"]


def test_api_lists_every_setting_grouped_by_procedure(api: ApiClient) -> None:
    from service import config_store, procedure

    r = api.get("admin", "/api/v1/settings")
    assert r.status_code == 200, r.get_json()
    groups = {g["group"]: g for g in r.get_json()}
    assert r.get_json()[0]["group"] == "通用"  # the platform's first
    assert groups["通用"]["procedure"] is None
    assert groups["信访件办理"]["procedure"] == "petition"
    assert [s["key"] for s in groups["通用"]["settings"]] == ["supervision.stalled_days", "tasks.warn_days",
                                                             "forms.future_tolerance_minutes",
                                                             "attachments.max_mb", "attachments.max_per_case",
                                                             *IDENTITY_KEYS,
                                                             "backup.at_minute", "backup.directory", "backup.keep",
                                                             "audit.keep_days", "ratelimit.login_per_minute",
                                                             "ratelimit.api_per_minute"]
    petition = {s["key"]: s for s in groups["信访件办理"]["settings"]}
    declared = procedure.get("petition")
    assert declared is not None
    # every declared setting, in declaration order, each with its declaration and current value
    assert list(petition.values()) == [
        {"key": f"petition.{s.key}", "label": s.label, "unit": s.unit, "default": s.default,
         "value": config_store.get(f"petition.{s.key}"), "minimum": s.minimum, "maximum": s.maximum,
         "group": "信访件办理"} for s in declared.settings]
    assert {"petition.handling_days", "petition.route_days", "petition.ladder.reminder_days_before",
            "petition.ladder.urge_days", "petition.ladder.report_days", "petition.ladder.proposal_days"} <= set(petition)
    assert petition[KEY] == {"key": KEY, "label": LABEL, "unit": "天", "default": 60, "value": 60,
                             "minimum": 1, "maximum": 365, "group": "信访件办理"}
    assert petition["petition.ladder.reminder_days_before"] == {
        "key": "petition.ladder.reminder_days_before", "label": "督办：办理期限前多少天发提醒", "unit": "天",
        "default": 10, "value": 10, "minimum": 1, "maximum": 60, "group": "信访件办理"}
    assert petition["petition.ladder.urge_days"]["minimum"] == 0  # 0 = 期满当时 is allowed there
    assert groups["通用"]["settings"][0] == {
        "key": "supervision.stalled_days", "label": "停滞天数：在办案件连续多少天无人办理任何环节即列为停滞",
        "unit": "天", "default": 15, "value": 15, "minimum": 1, "maximum": 365, "group": "通用"}


def test_changed_handling_days_gives_the_next_petition_its_deadline(api: ApiClient) -> None:
    from service import calendar, config_store

    assert start_petition(api)["due_at"] == DUE_IN_60
    r = put(api, "admin", KEY, {"value": 45})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"key": KEY, "value": 45, "before": 60, "changed": True}
    assert config_store.get(KEY) == 45
    assert by_key(api.get("admin", "/api/v1/settings").get_json())[KEY]["value"] == 45
    detail = start_petition(api)
    assert detail["due_at"] == calendar.add_days(PETITION["received_at"], 45) == DUE_IN_45
    settings, changes = stored(api.app)
    assert settings == {KEY: "45"}
    assert changes == [(KEY, "admin", "60", "45")]


@pytest.mark.parametrize(("value", "message"), [
    (0, f"不能设为 0 天：{BOUNDS}"),
    (-3, f"不能设为 -3 天：{BOUNDS}"),
    (366, f"不能设为 366 天：{BOUNDS}"),
    ("abc", f"应为整数（单位：天）：{BOUNDS}"),
    (True, f"应为整数（单位：天）：{BOUNDS}"),
    (45.5, f"应为整数（单位：天）：{BOUNDS}"),
    (None, f"应为整数（单位：天）：{BOUNDS}"),
    ("", f"请填写整数（单位：天）：{BOUNDS}"),
])
def test_bad_values_are_refused_and_nothing_is_stored(sqlite_api: ApiClient, value: Any, message: str) -> None:
    from service import config_store

    r = put(sqlite_api, "admin", KEY, {"value": value})
    assert r.status_code == 422, r.get_json()
    assert r.get_json() == {"error": "invalid", "message": "设置值不正确",
                            "details": [{"field": KEY, "message": message}]}
    assert config_store.get(KEY) == 60
    assert stored(sqlite_api.app) == ({}, [])


def test_a_negative_ladder_offset_is_refused(sqlite_api: ApiClient) -> None:
    r = put(sqlite_api, "admin", "petition.ladder.urge_days", {"value": -3})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "petition.ladder.urge_days",
                                        "message": "不能设为 -3 天：最小为 0 天，最大为 60 天"}]
    assert put(sqlite_api, "admin", "petition.ladder.urge_days", {"value": 0}).get_json() == {
        "key": "petition.ladder.urge_days", "value": 0, "before": 0, "changed": False}
    assert stored(sqlite_api.app) == ({}, [])


def test_missing_value_unknown_key_and_non_admin(sqlite_api: ApiClient) -> None:
    from service import config_store

    r = put(sqlite_api, "admin", KEY, {})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": KEY, "message": "请求体缺少 value"}]
    r = put(sqlite_api, "admin", "petition.no_such_days", {"value": 5})
    assert r.status_code == 404
    assert r.get_json() == {"error": "not_found", "message": "没有名为 petition.no_such_days 的设置项", "details": []}
    r = sqlite_api.get("xfk1", "/api/v1/settings")
    assert r.status_code == 403
    assert r.get_json() == {"error": "forbidden", "message": "只有系统管理员可以修改参数设置", "details": []}
    r = put(sqlite_api, "xfk1", KEY, {"value": 45})
    assert r.status_code == 403
    assert r.get_json()["message"] == "只有系统管理员可以修改参数设置"
    assert sqlite_api.client.get("/api/v1/settings").status_code == 401
    assert config_store.get(KEY) == 60
    assert stored(sqlite_api.app) == ({}, [])


def test_the_same_value_again_writes_nothing(sqlite_api: ApiClient) -> None:
    assert put(sqlite_api, "admin", KEY, {"value": 60}).get_json() == {
        "key": KEY, "value": 60, "before": 60, "changed": False}
    assert stored(sqlite_api.app) == ({}, [])
    assert put(sqlite_api, "admin", KEY, {"value": 45}).status_code == 200
    assert put(sqlite_api, "admin", KEY, {"value": 45}).get_json() == {
        "key": KEY, "value": 45, "before": 45, "changed": False}
    assert put(sqlite_api, "admin", KEY, {"value": 60}).get_json() == {
        "key": KEY, "value": 60, "before": 45, "changed": True}
    assert stored(sqlite_api.app) == ({KEY: "60"}, [(KEY, "admin", "60", "45"), (KEY, "admin", "45", "60")])


def test_a_change_reaches_another_process_at_its_next_poll(sqlite_url: str, tmp_path: Path) -> None:
    """Two app processes on one database: A takes the change; B, whose snapshot is older, has it
    after load() (what every timer poll runs), with no restart."""
    from service import config_store

    app_a, app_b = make_app(sqlite_url), make_app(sqlite_url)
    try:
        api_a, api_b = ApiClient(app_a), ApiClient(app_b)
        assert put(api_a, "admin", KEY, {"value": 45}).status_code == 200
        forget_values(tmp_path)  # process B: started before the change, has not polled since
        assert config_store.get(KEY) == 60
        with app_b.extensions["govflow"].db.read() as session:
            config_store.load(session)
        assert config_store.get(KEY) == 45
        assert start_petition(api_b)["due_at"] == DUE_IN_45
        # B's page and API show the stored value even before B's next poll.
        forget_values(tmp_path)
        assert by_key(api_b.get("admin", "/api/v1/settings").get_json())[KEY]["value"] == 45
    finally:
        app_a.extensions["govflow"].db.dispose()
        app_b.extensions["govflow"].db.dispose()


# ----- page ------------------------------------------------------------------------------------------


def input_value(page: str, key: str) -> str:
    found = re.search(rf'<input id="s-{re.escape(key.replace(".", "-"))}" name="{re.escape(key)}"[^>]*?value="([^"]*)"',
                      page, re.S)
    assert found, f"no input for {key}"
    return found.group(1)


def test_page_lists_settings_for_the_admin(page_app: Any) -> None:
    client = login(page_app, "admin")
    response = client.get("/admin/settings")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>参数设置</h1>" in page
    assert '>参数设置</a>' in page and 'class="active">参数设置</a>' in page  # the nav entry, current
    assert "<h2>通用</h2>" in page and "<h2>信访件办理</h2>" in page
    assert LABEL in page and "办理期限" in page
    assert input_value(page, KEY) == "60"
    assert input_value(page, "supervision.stalled_days") == "15"
    assert re.search(r'name="petition.handling_days" type="number" inputmode="numeric" step="1" required\s+'
                     r'min="1" max="365"', page)
    from service import procedure

    groups = 1 + sum(1 for p in procedure.registry() if p.settings)  # 通用 + one per procedure with settings
    assert page.count('name="csrf_token"') == 1 + groups  # logout + one form per group
    assert page.count(">保存") == groups
    assert "尚无修改记录。" in page
    assert "参数设置" not in text(login(page_app, "xfk1").get("/tasks"))


def test_page_refuses_a_bad_value_next_to_its_field(page_app: Any) -> None:
    from service import config_store

    client = login(page_app, "admin")
    response = client.post("/admin/settings", data={"group": "petition", KEY: "0", "petition.route_days": "15"})
    assert response.status_code == 422
    page = text(response)
    assert "「信访件办理」未保存：1 项设置值不正确，请按提示修改" in page
    assert f'<div class="field-error" id="s-petition-handling_days-error">不能设为 0 天：{BOUNDS}</div>' in page
    assert input_value(page, KEY) == "0"  # as typed
    assert 'aria-invalid="true"' in page
    response = client.post("/admin/settings", data={"group": "petition", KEY: "abc"})
    assert response.status_code == 422
    assert f"应为整数（单位：天）：{BOUNDS}" in text(response)
    assert config_store.get(KEY) == 60
    assert stored(page_app) == ({}, [])


def test_page_saves_flashes_and_shows_the_change(page_app: Any) -> None:
    from service import clock, config_store

    client = login(page_app, "admin")
    response = client.post("/admin/settings", data={
        "group": "petition", KEY: "45", "petition.route_days": "15", "petition.ladder.reminder_days_before": "10"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/settings")
    page = text(client.get("/admin/settings"))
    assert ("已保存「信访件办理」：办理期限：自收件次日起计算的日数 60 → 45 天。其他服务进程将在下次定时轮询时生效"
            in page)
    assert input_value(page, KEY) == "45"
    assert config_store.get(KEY) == 45
    assert stored(page_app) == ({KEY: "45"}, [(KEY, "admin", "60", "45")])
    history = re.search(r'<div class="panel" id="setting-changes">(.*?)</div>', page, re.S).group(1)
    row = re.search(rf'<tr data-key="{KEY}">(.*?)</tr>', history, re.S).group(1)
    cells = [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    with page_app.extensions["govflow"].db.read() as session:
        [change] = config_store.history(session, 10)
    at = clock.parse_datetime(change["at"])
    assert 0 <= (at - clock.parse_datetime(SUITE_START)).total_seconds() < 60
    assert cells == [at.strftime("%Y-%m-%d %H:%M"), "系统管理员（admin）", f"信访件办理 · {LABEL}", "60 → 45 天"]
    assert change == {"id": 1, "key": KEY, "at": change["at"], "username": "admin", "before": 60, "after": 45,
                      "label": LABEL, "unit": "天", "group": "信访件办理"}
    # the same values again: nothing written, and the page says so
    client.post("/admin/settings", data={"group": "petition", KEY: "45"})
    assert "「信访件办理」未修改：所填数值与当前设置相同" in text(client.get("/admin/settings"))
    assert len(stored(page_app)[1]) == 1


def test_page_is_for_admins_only(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    response = client.get("/admin/settings")
    assert response.status_code == 403
    assert "只有系统管理员可以修改参数设置" in text(response)
    assert client.post("/admin/settings", data={"group": "petition", KEY: "45"}).status_code == 403
    anonymous = page_app.test_client().get("/admin/settings")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert stored(page_app) == ({}, [])


def test_page_form_needs_its_csrf_token(sqlite_app: Any) -> None:
    """page_app turns CSRF off; here it is on, as in production: the token is in the form."""
    sqlite_app.config["TESTING"] = True
    client = sqlite_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)
    assert client.post("/login", data={"username": "admin", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    page = text(client.get("/admin/settings"))
    assert client.post("/admin/settings", data={"group": "petition", KEY: "45"}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/admin/settings", data={"group": "petition", KEY: "45", "csrf_token": token})
    assert response.status_code == 302
    assert stored(sqlite_app) == ({KEY: "45"}, [(KEY, "admin", "60", "45")])
