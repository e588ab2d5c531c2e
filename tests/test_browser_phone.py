"""On a phone (390×844, touch): the top bar wraps, nothing is wider than the screen, and a
clerk registers a petition and taps through its first task from the inbox (the 办理 button is
reachable, not covered)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, browser_page, serve

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(chromium_path: str) -> Iterator[Any]:
    with browser_page(chromium_path, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                      is_mobile=True, has_touch=True) as page:
        yield page


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serve(browser_app(tmp_path, "phone")) as base:
        yield base


def _fits(page: Any) -> None:
    """Nothing on the page is wider than the phone's screen (no sideways scrolling of the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width}px wide"


def test_a_clerk_registers_and_handles_a_task_on_a_phone(server: str, phone: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service import clock
    from workflows.petition_sample import START_BASE

    page = phone
    page.goto(f"{server}/login")
    page.fill("#username", "xfk1")
    page.fill("#password", "govflow-demo")
    page.tap("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")
    _fits(page)
    # the top bar wraps: the navigation sits below the brand, inside the screen
    nav = page.locator("nav.mainnav").bounding_box()
    brand = page.locator(".brand").bounding_box()
    assert nav is not None and brand is not None and nav["y"] >= brand["y"] + brand["height"] - 1
    page.tap("nav >> text=登记信访")
    expect(page.locator("h1")).to_have_text("信访件登记")
    _fits(page)
    page.fill("#f_received_at", clock.now().strftime("%Y-%m-%dT09:00"))
    page.select_option("#f_channel", "来信")
    page.fill("#f_people_count", "1")
    for name in ("petitioner_name", "petitioner_id_number", "petitioner_phone", "petitioner_address", "subject",
                 "content"):
        page.fill(f"#f_{name}", str(START_BASE[name]))
    page.screenshot(path=str(artifacts_dir / "phone_01_register.png"), full_page=True)
    page.tap("button:has-text('登记')")
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text("已登记，编号 XF-")
    business_key = re.search(r"XF-\d{4}-\d{6}", flash.inner_text()).group(0)
    _fits(page)
    page.goto(f"{server}/tasks")
    row = page.locator(f"tr[data-business-key='{business_key}']")
    expect(row).to_have_count(1)
    _fits(page)
    page.screenshot(path=str(artifacts_dir / "phone_02_inbox.png"), full_page=True)
    button = row.get_by_role("link", name="办理")
    box = button.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    button.tap()  # fails if another element covers it
    expect(page.locator(".page-head h1")).to_have_text("归纳分类")
    _fits(page)
    page.select_option("#f_category", "行政")
    page.select_option("#f_route", "dept")
    page.select_option("#f_handling_group", "dept_fgw")
    page.screenshot(path=str(artifacts_dir / "phone_03_task.png"), full_page=True)
    page.tap("button:has-text('提交办理')")
    expect(page.locator(".flash-success")).to_contain_text("已办理")
    page.goto(f"{server}/tasks")
    expect(page.locator(f"tr[data-business-key='{business_key}']")).to_contain_text("拟办意见")
