"""An emergency (突发事件应急处置) walked through the pages in Chromium (Playwright; issue 12 item 9):
财政经济委员会 `cjw1` reports an incident from the red 报告突发事件 button on a 390 px phone (type,
times, place, people, cause…); 综治办 `zzb1` verifies it (核实); 秘书长 `msz` decides 重大 with a
commander; the situation page shows the level, the commander and the countdowns (向上级报告 due two
hours after the decision), and — while it stays open — updates by itself when the virtual clock
moves one hour (the hourly timer opens a 续报 task) and `zzb1` files that progress report. No
reload, no sleeps: expect(...) waits for the page's own polling. Screenshots go to
tests/artifacts/ (emergency_NN_name.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, serve

pytestmark = pytest.mark.browser

PASSWORD = "govflow-demo"
PLACE = "市行政中心南门广场"
CAUSE = "四十余名务工人员因工资拖欠聚集，情绪激动，拉横幅堵门。"
COMMANDER = "秘书长 马某某"
PROGRESS = "现场已劝离大部分人员，仍有十余人聚集，劳动监察部门正在核对欠薪名单。"
POLL_WAIT_MS = 30_000  # the page polls its fragment every 10 s


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")  # the administrator may move the clock
    app = browser_app(tmp_path, "emergency")
    with serve(app) as base:
        yield app, base


@pytest.fixture
def phone(page: Any) -> Iterator[Any]:
    """A 390 px touch phone: a second context of the desktop page's browser (one Playwright)."""
    ctx = page.context.browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                           is_mobile=True, has_touch=True, locale="zh-CN")
    ctx.set_default_timeout(15_000)
    opened = ctx.new_page()
    try:
        yield opened
    finally:
        ctx.close()


class Walk:
    def __init__(self, base: str, shots: Path) -> None:
        self.base, self.shots, self.n = base, shots, 0
        self.business_key = ""

    def shot(self, page: Any, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.shots / f"emergency_{self.n:02d}_{name}.png"), full_page=True)

    def login(self, page: Any, username: str) -> None:
        from playwright.sync_api import expect

        page.context.clear_cookies()
        page.goto(f"{self.base}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")

    def open_task(self, page: Any, task_name: str) -> None:
        from playwright.sync_api import expect

        page.goto(f"{self.base}/tasks")
        row = page.locator(f"tr[data-business-key='{self.business_key}']").filter(has_text=task_name)
        expect(row).to_have_count(1)
        row.get_by_role("link", name="办理").click()
        expect(page.locator(".page-head h1")).to_have_text(task_name)

    def submit(self, page: Any) -> None:
        from playwright.sync_api import expect

        page.click("button:has-text('提交办理')")
        expect(page.locator(".flash-success")).to_contain_text("已办理")


def _fits(page: Any) -> None:
    """Nothing on the page is wider than the phone's screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide"


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def test_a_reported_incident_is_verified_decided_major_and_its_situation_page_follows_by_itself(
        served: tuple[Any, str], phone: Any, page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service import clock

    app, base = served
    api = ApiClient(app)
    walk = Walk(base, artifacts_dir)

    # 财政经济委员会 reports from the red button, on a phone
    walk.login(phone, "cjw1")
    button = phone.locator("a.prominent-start[data-process='emergency_response']")
    expect(button).to_have_text(re.compile("报告突发事件"))
    box = button.bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 44  # big: the phone's full width
    _fits(phone)
    walk.shot(phone, "cjw1_phone_button")
    button.tap()
    expect(phone.locator("h1")).to_have_text("报告突发事件")
    expect(phone.locator("a.prominent-start")).to_have_count(0)  # not on its own page
    now = clock.now()
    phone.select_option("#f_type", "群体性事件")
    phone.fill("#f_occurred_at", _minute(now - timedelta(minutes=12)))
    phone.fill("#f_discovered_at", _minute(now - timedelta(minutes=6)))
    phone.fill("#f_place", PLACE)
    phone.fill("#f_people_count", "40")
    phone.fill("#f_cause", CAUSE)
    phone.fill("#f_demands", "要求当场结清拖欠的工资")
    phone.fill("#f_measures_taken", "门卫已报告值班室，保安维持秩序")
    phone.fill("#f_trend", "人数仍在增加，有冲击大门的可能")
    _fits(phone)
    walk.shot(phone, "cjw1_phone_report_form")
    phone.tap("button:has-text('登记')")
    flash = phone.locator(".flash-success")
    expect(flash).to_contain_text("已登记，编号 YJ-2026-")
    walk.business_key = re.search(r"YJ-\d{4}-\d{4}", flash.inner_text()).group(0)
    assert walk.business_key == "YJ-2026-0001"
    _fits(phone)
    walk.shot(phone, "cjw1_phone_reported")
    [row] = api.get("zzb1", "/api/v1/instances?process=emergency_response").get_json()
    iid = row["id"]
    reported = api.instance("zzb1", iid)["data"]
    assert reported["report_late"] is False and reported["people_count"] == 40 and reported["place"] == PLACE
    [verify] = api.instance("zzb1", iid)["open_tasks"]
    assert verify["bpmn_id"] == "verify"
    assert verify["due_at"] == (clock.parse_datetime(reported["reported_at"]) + timedelta(minutes=15)).isoformat()

    # 综治办 verifies
    walk.login(page, "zzb1")
    walk.open_task(page, "核实")
    page.fill("#f_facts", "经电话和现场核实，约40人聚集，诉求为结清欠薪，现场秩序尚可控。")
    page.select_option("#f_proposed_level", "major")
    page.select_option("#f_handling_group", "dept_cjw")
    walk.shot(page, "zzb1_verify")
    walk.submit(page)

    # 秘书长 decides 重大 and names the commander
    walk.login(page, "msz")
    walk.open_task(page, "响应级别确定")
    page.select_option("#f_level", "major")
    page.fill("#f_commander", COMMANDER)
    walk.shot(page, "msz_decide_major")
    walk.submit(page)
    decided = api.instance("zzb1", iid)
    upward_due = decided["data"]["upward_due_at"]
    assert upward_due == (clock.parse_datetime(decided["data"]["decided_at"]) + timedelta(hours=2)).isoformat()
    assert sorted(t["bpmn_id"] for t in decided["open_tasks"]) == [
        "call_services", "command", "declare_end", "report_upward"]

    # the situation page: level, commander, the 向上级报告 countdown
    walk.login(page, "zzb1")
    page.goto(f"{base}/emergencies/{iid}/situation")
    expect(page.locator("#sit-level")).to_contain_text("重大")
    expect(page.locator("#sit-commander")).to_contain_text(COMMANDER)
    upward = page.locator("#sit-dues li").filter(has_text="向上级报告")
    expect(upward).to_have_count(1)
    expect(upward.locator("[data-due]")).to_have_attribute("data-due", upward_due)
    expect(upward.locator(".cd-left")).to_have_text(re.compile(r"剩余 1小时5\d分\d\d秒"))  # counting by the second
    expect(page.locator("#sit-next .cd-left")).to_have_text(re.compile(r"剩余 "))
    expect(page.locator("#sit-timeline")).to_contain_text("响应级别确定")
    expect(page.locator("#sit-timeline")).not_to_contain_text(PROGRESS)
    assert page.js_errors == []
    walk.shot(page, "situation_major")
    page.evaluate("window.__notReloaded = true")

    # one hour later (the administrator moves the virtual clock): the hourly timer opens a 续报
    moved = api.post("admin", "/api/v1/admin/clock", json={"advance": "PT1H"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["fired"] >= 1
    api._tokens.clear()  # tokens expire by the (now moved) clock
    [progress] = [t for t in api.instance("zzb1", iid)["open_tasks"] if t["bpmn_id"] == "progress_report"]
    expect(page.locator("#sit-dues")).to_contain_text("续报", timeout=POLL_WAIT_MS)
    expect(upward.locator(".cd-left")).to_have_text(re.compile(r"剩余 5\d分\d\d秒"), timeout=POLL_WAIT_MS)
    walk.shot(page, "situation_progress_due")

    # zzb1 files the progress report (API) while the page stays open: the timeline shows it by itself
    done = api.post("zzb1", f"/api/v1/tasks/{progress['id']}/complete", json={"data": {"situation": PROGRESS}})
    assert done.status_code == 200, done.get_json()
    expect(page.locator("#sit-timeline")).to_contain_text(PROGRESS, timeout=POLL_WAIT_MS)
    event = page.locator("#sit-timeline li").filter(has_text=PROGRESS)
    expect(event).to_contain_text("续报")
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the fragment, no reload
    assert page.js_errors == []
    walk.shot(page, "situation_after_progress")
