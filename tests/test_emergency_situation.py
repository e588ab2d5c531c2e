"""The situation page of an emergency (应急处置态势): what the commander sees — level, 指挥长 and
现场指挥部, the 演练/迟报 marks, a timeline to the minute, the next deadline with its countdown,
who was notified — its htmx fragment, its JSON twin, who may open it, its print view, and the
big red 报告突发事件 button every logged-in user has on every page.

Emergencies are driven through the API as a client of API.md would: anyone reports, zzb1
verifies, msz decides (major, 指挥长), the virtual clock opens the hourly 续报 that zzb1 files."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import ApiClient, done, login, text

REPORT = {
    "type": "群体性事件", "occurred_at": "2026-12-01T09:40:00+08:00", "discovered_at": "2026-12-01T09:50:00+08:00",
    "place": "市政府南门广场", "people_count": 40, "cause": "某小区业主聚集反映停水问题",
    "demands": "尽快恢复供水", "measures_taken": "门卫已劝导并维持秩序", "trend": "人数仍在增加", "drill": False,
}
VERIFIED = {"facts": "约40人聚集，情绪激动", "proposed_level": "major", "handling_group": "dept_jsw"}
DECIDED = {"level": "major", "commander": "王秘书长"}
COMMAND = {"members": "秘书长、综治办主任、监察和司法委员会负责人", "location": "市政府南门值班室"}


@pytest.fixture
def virtual(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")


def report(api: ApiClient, user: str = "cjw1", **changes: Any) -> int:
    r = api.post(user, "/api/v1/instances", json={"process": "emergency_response", "data": {**REPORT, **changes}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def advance(api: ApiClient, duration: str) -> None:
    moved = api.post("admin", "/api/v1/admin/clock", json={"advance": duration})
    assert moved.status_code == 200, moved.get_json()
    api._tokens.clear()  # tokens expire by the (now moved) clock


def situation(api: ApiClient, user: str, iid: int) -> dict[str, Any]:
    r = api.get(user, f"/api/v1/emergencies/{iid}/situation")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def major(api: ApiClient) -> int:
    """Reported by cjw1 at 10:00, verified at once, decided major at 10:05, command set up."""
    iid = report(api)
    done(api, "zzb1", iid, "verify", VERIFIED)
    advance(api, "PT5M")
    done(api, "msz", iid, "decide_level", DECIDED)
    done(api, "msz", iid, "command", COMMAND)
    return iid


def test_countdown_targets_the_verification_then_the_upward_report(api: ApiClient, virtual: None) -> None:
    iid = report(api)
    before = situation(api, "zzb1", iid)
    data = api.instance("zzb1", iid)["data"]
    assert before["next_due"]["bpmn_id"] == "verify"
    assert before["next_due"]["due_at"] == data["verify_due_at"]
    assert before["next_due"]["due_at"].startswith("2026-12-01T10:15")
    assert before["level"] is None and before["level_label"] == ""
    done(api, "zzb1", iid, "verify", VERIFIED)
    advance(api, "PT5M")
    done(api, "msz", iid, "decide_level", DECIDED)
    after = situation(api, "zzb1", iid)
    data = api.instance("zzb1", iid)["data"]
    assert after["next_due"]["bpmn_id"] == "report_upward"
    assert after["next_due"]["due_at"] == data["upward_due_at"]
    assert after["next_due"]["due_at"].startswith("2026-12-01T12:05")  # 2 hours after the decision
    assert after["level"] == "major" and after["commander"] == "王秘书长"
    # the hourly 续报 timer is listed among what falls due, after the deadline it does not replace
    assert any(d["source"] == "timer" and d["due_at"].startswith("2026-12-01T11:05") for d in after["due"])


def test_the_page_shows_level_commander_command_post_and_a_timeline_to_the_minute(
        sqlite_api: ApiClient, virtual: None) -> None:
    api = sqlite_api
    iid = major(api)
    api.app.config["WTF_CSRF_ENABLED"] = False
    page = text(login(api.app, "msz").get(f"/emergencies/{iid}/situation"))
    assert "重大（启动预案）" in page and "王秘书长" in page
    assert "市政府南门值班室" in page and "秘书长、综治办主任、监察和司法委员会负责人" in page
    events = re.findall(r'<time class="sit-ev-time" datetime="[^"]+">([^<]+)</time>', page)
    assert events[0] == "2026-12-01 10:00" and "2026-12-01 10:05" in events  # the report, the decision
    assert events == sorted(events)  # newest last
    assert "响应级别确定" in page and "现场指挥" in page
    # the countdown: the next deadline's time in the page (no script needed), the script counts down
    assert 'data-due="' + situation(api, "msz", iid)["next_due"]["due_at"] + '"' in page
    assert "剩余 2小时00分" in page or "剩余 1小时59分" in page
    assert f'hx-get="/emergencies/{iid}/situation/fragment"' in page and 'hx-trigger="every 10s"' in page
    assert "此时段未排班" in page  # the roster exists but has no 2026-12-01 白班


def test_the_page_names_who_is_on_duty_now(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    shifts = [{"day": "2026-12-01", "kind": "day", "officer": "zzb1", "leader": "zr", "note": ""}]
    put = api.client.put("/api/v1/duty-roster?month=2026-12", headers=api.headers("zzb1"), json={"shifts": shifts})
    assert put.status_code == 200, put.get_json()
    iid = report(api)
    s = situation(api, "msz", iid)
    assert [(p["username"], p["role"]) for p in s["on_duty"]] == [("zzb1", "值班人员"), ("zr", "带班领导")]
    api.app.config["WTF_CSRF_ENABLED"] = False
    duty = re.search(r'<section class="panel" id="sit-duty">(.*?)</section>',
                     text(login(api.app, "msz").get(f"/emergencies/{iid}/situation")), re.S)
    assert duty is not None and "值班人员" in duty.group(1) and "带班领导" in duty.group(1)


def test_the_page_names_who_was_on_duty_at_the_report_beside_who_is_on_duty_now(sqlite_api: ApiClient) -> None:
    """Reported at 19:50 (白班: zzb1, zr, told first); at 20:30 the 夜班 (jsw1, msz) holds the duty."""
    from conftest import pin_clock

    from service import clock

    api = sqlite_api
    shifts = [{"day": "2026-12-01", "kind": "day", "officer": "zzb1", "leader": "zr", "note": ""},
              {"day": "2026-12-01", "kind": "night", "officer": "jsw1", "leader": "msz", "note": ""}]
    put = api.client.put("/api/v1/duty-roster?month=2026-12", headers=api.headers("zzb1"), json={"shifts": shifts})
    assert put.status_code == 200, put.get_json()
    pin_clock(clock.parse_datetime("2026-12-01T19:50:00+08:00"))
    iid = report(api, occurred_at="2026-12-01T19:40:00+08:00", discovered_at="2026-12-01T19:45:00+08:00")
    pin_clock(clock.parse_datetime("2026-12-01T20:30:00+08:00"))
    api._tokens.clear()
    s = situation(api, "msz", iid)
    assert [(p["username"], p["role"], p["shift"]) for p in s["on_duty_at_report"]] == [
        ("zzb1", "值班人员", "白班"), ("zr", "带班领导", "白班")]
    assert [(p["username"], p["shift"]) for p in s["on_duty"]] == [("jsw1", "夜班"), ("msz", "夜班")]
    [first] = [n for n in s["notified"] if n["kind"] == "emergency_report"]
    assert [r["key"] for r in first["recipients"]][:2] == ["user:zzb1", "user:zr"]  # the shift first
    api.app.config["WTF_CSRF_ENABLED"] = False
    duty = re.search(r'<section class="panel" id="sit-duty">(.*?)</section>',
                     text(login(api.app, "msz").get(f"/emergencies/{iid}/situation")), re.S)
    assert duty is not None
    now_part, report_part = duty.group(1).split("接报时值班（已首先通知）")
    assert "主任" not in now_part and "主任" in report_part and "秘书长" in now_part


def test_json_twin_names_who_was_notified_and_the_marks(api: ApiClient, virtual: None) -> None:
    iid = report(api, occurred_at="2026-12-01T09:20:00+08:00", discovered_at="2026-12-01T09:30:00+08:00",
                 drill=True)  # reported 30 minutes after discovery
    s = situation(api, "zzb1", iid)
    assert s["report_late"] is True and s["drill"] is True
    first = next(n for n in s["notified"] if n["kind"] == "emergency_report")
    assert {"zzb", "emergency_group"} <= {r["key"] for r in first["recipients"]}
    assert "迟报" in first["text"] and "演练" in first["text"]
    assert any(e["kind"] == "notice" and e["action"] == "emergency_report" for e in s["timeline"])
    assert s["timeline"][0]["action"] == "start" and s["timeline"][0]["minute"] == "2026-12-01 10:00"
    assert {"type": "群体性事件", "place": "市政府南门广场"} == {r["name"]: r["value"] for r in s["report"]
                                                          if r["name"] in ("type", "place")}


def test_fragment_changes_after_a_progress_report(sqlite_api: ApiClient, virtual: None) -> None:
    api = sqlite_api
    iid = major(api)
    api.app.config["WTF_CSRF_ENABLED"] = False
    client = login(api.app, "zzb1")
    before = client.get(f"/emergencies/{iid}/situation/fragment")
    assert before.status_code == 200 and before.headers["Cache-Control"] == "no-store"
    assert "<html" not in text(before) and "现场秩序已基本恢复" not in text(before)
    advance(api, "PT61M")  # the hourly tick after the decision opens a 续报 task
    done(api, "zzb1", iid, "progress_report", {"situation": "现场秩序已基本恢复，聚集人员已疏散一半"})
    after = text(client.get(f"/emergencies/{iid}/situation/fragment"))
    assert "现场秩序已基本恢复，聚集人员已疏散一半" in after
    assert re.search(r'datetime="2026-12-01T11:0\d[^"]*">2026-12-01 11:0\d</time>', after)


def test_a_user_who_may_not_see_the_case_gets_403(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = report(api)
    api.app.config["WTF_CSRF_ENABLED"] = False
    client = login(api.app, "web1")  # the website administrator takes no part in it
    assert client.get(f"/emergencies/{iid}/situation").status_code == 403
    assert client.get(f"/emergencies/{iid}/situation/fragment").status_code == 403
    refused = api.get("web1", f"/api/v1/emergencies/{iid}/situation")
    assert refused.status_code == 403 and "无权" in refused.get_json()["message"]
    assert api.get("cjw1", f"/api/v1/emergencies/{iid}/situation").status_code == 200  # the reporter does
    assert api.client.get(f"/api/v1/emergencies/{iid}/situation").status_code == 401
    assert api.get("zzb1", "/api/v1/emergencies/99999/situation").status_code == 404


def test_a_case_that_is_no_emergency_has_no_situation(sqlite_api: ApiClient) -> None:
    from conftest import start

    iid = start(sqlite_api)
    r = sqlite_api.get("xfk1", f"/api/v1/emergencies/{iid}/situation")
    assert r.status_code == 404 and "不是突发事件" in r.get_json()["message"]


def test_print_view_hides_navigation_and_buttons(page_app: Any) -> None:
    iid = report(ApiClient(page_app), occurred_at="2026-12-01T09:20:00+08:00",
                 discovered_at="2026-12-01T09:30:00+08:00",
                 drill=True)
    page = text(login(page_app, "zzb1").get(f"/emergencies/{iid}/situation"))
    assert '>演练</span>' in page and 'id="sit-late"' in page  # the marks, on screen and on paper
    rules = re.search(r"@media print \{(.*?)\n\}", page, re.S)
    assert rules is not None
    hidden = re.search(r"([^{}]+)\{ display: none !important; \}", rules.group(1))
    assert hidden is not None
    assert {".topbar", ".mainnav", ".footer", ".no-print", ".prominent-starts"} <= {
        part.strip() for part in hidden.group(1).split(",")}
    assert 'class="sit-actions no-print"' in page and 'class="prominent-starts no-print"' in page


DEMO_USERS = ("admin", "xfk1", "xfk2", "bgs", "msz", "zr", "fgw1", "cjw1", "jsw1", "linxiang1", "zzb1",
              "web1", "lxweb1", "lxld1")


def test_every_logged_in_user_has_the_red_report_button_on_every_page(page_app: Any) -> None:
    for user in DEMO_USERS:
        client = login(page_app, user)
        for path in ("/tasks", "/instances", "/search", "/notices"):
            page = text(client.get(path))
            button = re.search(r'<a class="prominent-start" href="([^"]+)" data-process="emergency_response">'
                               r'.*?报告突发事件</a>', page)
            assert button is not None, (user, path)
            assert button.group(1) == "/emergencies/new"
    # not on its own start page (the form is there), which works for a reporter
    start_page = login(page_app, "cjw1").get("/emergencies/new")
    assert start_page.status_code == 200 and 'class="prominent-start"' not in text(start_page)


def test_no_report_button_when_logged_out(page_app: Any) -> None:
    client = page_app.test_client()
    assert 'class="prominent-start"' not in text(client.get("/login"))
    assert client.get("/emergencies/new").status_code == 302  # to the login page


def test_case_page_links_to_the_situation_page(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = report(api)
    page = text(login(page_app, "zzb1").get(f"/instances/{iid}"))
    assert f'href="/emergencies/{iid}/situation"' in page and "响应级别待确定" in page
