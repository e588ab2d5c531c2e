"""故障案件 in Chromium (Playwright): the administrator opens /admin/incidents, sees a case whose
timer failed (with its error) and a case whose task reaches nobody, retries the first with the
corrected value (the timer fires), ends the second with a reason, and the page fits a phone.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

DIAGRAM = Path(__file__).resolve().parent / "diagrams" / "incident_test.bpmn"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The demo app with two incident_test cases: one whose timer failed three times (its script
    divides by `parts`, 0), one offered to a group without members."""
    from sqlalchemy import select

    from service import clock
    from service.actors import Actor
    from service.bootstrap import deploy_bytes
    from service.runtime.firing import FAILURE_LIMIT
    from service.store.models import HumanTask

    app = browser_app(tmp_path)
    svc = app.extensions["govflow"]
    deploy_bytes(svc.runtime, DIAGRAM.read_bytes(), DIAGRAM.name, "admin")
    admin = Actor("admin", "系统管理员", frozenset({"admin"}))
    base = {"fire_at": (clock.now() + timedelta(hours=1)).isoformat(), "total": 100, "check_divisor": 1}
    failing = svc.runtime.start("incident_test", {**base, "unit": "xfk", "parts": 0}, admin)
    stuck = svc.runtime.start("incident_test", {**base, "unit": "county_fengqing_web", "parts": 2}, admin)
    with svc.db.read() as session:
        task_id = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == failing["id"])).one()
    svc.runtime.complete(task_id, {"proposal": "材料齐全"}, Actor("xfk1", "信访科", frozenset({"xfk"})))
    clock.advance(timedelta(hours=2))
    for _ in range(FAILURE_LIMIT):
        svc.runtime.fire_due_timers()
    with serve(app) as url:
        yield url, failing, stuck


def test_admin_sees_incidents_retries_a_failed_timer_and_ends_a_stuck_case(
        server: tuple[str, dict[str, Any], dict[str, Any]], page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, failing, stuck = server
    walk = Walk(page, base, artifacts_dir, "incidents")
    walk.login("admin")
    page.goto(f"{base}/admin/incidents")
    expect(page.locator(".page-head h1")).to_have_text("故障案件")
    timer_card = page.locator(f"section[data-business-key='{failing['business_key']}']")
    stuck_card = page.locator(f"section[data-business-key='{stuck['business_key']}']")
    expect(timer_card.locator("li[data-kind='timer_failed']")).to_contain_text("定时器“等待到期”已连续失败 3 次")
    expect(timer_card).to_contain_text("ZeroDivisionError")
    expect(stuck_card.locator("li[data-kind='stuck']")).to_contain_text(
        "办理组 凤庆县人大网站管理员（county_fengqing_web）没有成员，任务无人办理")
    expect(stuck_card.locator("form.ic-retry")).to_have_count(0)  # nothing to retry: add members or end it
    walk.shot("list")

    timer_card.locator("textarea[name=data]").fill('{"parts": 4}')
    timer_card.get_by_role("button", name="重试").click()
    expect(page.locator(".flash-success")).to_have_text("已重试，定时器已触发，案件继续办理")
    expect(page.locator(f"section[data-business-key='{failing['business_key']}']")).to_have_count(0)
    walk.shot("retried")

    page.once("dialog", lambda dialog: dialog.accept())
    stuck_card.locator("form.ic-end input[name=reason]").fill("办理组已撤销，案件不再办理")
    stuck_card.get_by_role("button", name="终止").click()
    expect(page.locator(".flash-success")).to_have_text("案件已终止")
    expect(page.locator("#no-incidents")).to_have_text("没有故障案件")
    page.goto(f"{base}/instances/{stuck['id']}")
    expect(page.locator("body")).to_contain_text("办理组已撤销，案件不再办理")
    assert "终止" in page.locator(".tl-action").all_inner_texts()  # the history's action label
    walk.shot("terminated_case")
    assert page.js_errors == []


def test_the_incidents_page_fits_a_phone(server: tuple[str, dict[str, Any], dict[str, Any]], page: Any,
                                         artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, failing, _stuck = server
    phone_context = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                     locale="zh-CN")
    try:
        phone = phone_context.new_page()
        Walk(phone, base, artifacts_dir, "incidents_phone").login("admin")
        phone.goto(f"{base}/admin/incidents")
        expect(phone.locator(f"section[data-business-key='{failing['business_key']}']")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.screenshot(path=str(artifacts_dir / "incidents_phone_01_list.png"), full_page=True)
    finally:
        phone_context.close()
