"""The situation page in Chromium: it counts down to the next deadline and refreshes itself (htmx)
when zzb1 files a progress report through the API meanwhile — no reload; the 报告突发事件 button
and the start form on a phone (390 px). Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, done, serve
from test_emergency_situation import COMMAND, DECIDED, VERIFIED, advance, report

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, ApiClient]]:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    app = browser_app(tmp_path, "situation")
    with serve(app) as base:
        yield base, ApiClient(app)


def _login(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "govflow-demo")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")


def test_situation_page_refreshes_itself_when_a_progress_report_is_filed(
        served: tuple[str, ApiClient], page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, api = served
    iid = report(api)
    done(api, "zzb1", iid, "verify", VERIFIED)
    advance(api, "PT5M")
    done(api, "msz", iid, "decide_level", DECIDED)
    done(api, "msz", iid, "command", COMMAND)

    _login(page, base, "zzb1")
    page.goto(f"{base}/emergencies/{iid}/situation")
    expect(page.locator("#sit-level")).to_contain_text("重大")
    expect(page.locator("#sit-commander")).to_contain_text("王秘书长")
    expect(page.locator("#sit-command")).to_contain_text("市政府南门值班室")
    countdown = page.locator("#sit-countdown .cd-left")
    expect(countdown).to_have_text(re.compile(r"^剩余 1小时\d\d分\d\d秒$"))  # to 12:05
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)  # the script counts the seconds
    page.evaluate("window.situationLoaded = true")  # gone if the page were reloaded
    page.screenshot(path=str(artifacts_dir / "emergency_situation_before.png"), full_page=True)

    advance(api, "PT61M")  # the hourly tick opens a 续报 task; zzb1 files it through the API
    done(api, "zzb1", iid, "progress_report", {"situation": "聚集人员已疏散一半，供水抢修中"})
    expect(page.locator("#sit-timeline")).to_contain_text("聚集人员已疏散一半，供水抢修中", timeout=25_000)
    assert page.evaluate("window.situationLoaded") is True
    expect(page.locator("#sit-now")).to_contain_text("2026-12-01 11:")
    page.screenshot(path=str(artifacts_dir / "emergency_situation_after.png"), full_page=True)
    assert page.js_errors == []
    page.emulate_media(media="print")  # on paper (专题报告 basis): the situation alone
    for chrome in (".topbar", ".footer", "a.prominent-start", ".sit-actions"):
        expect(page.locator(chrome)).to_be_hidden()
    expect(page.locator(".print-only")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "emergency_situation_print.png"), full_page=True)
    page.emulate_media(media="screen")

    # on a phone: the red button spans the screen, the start form fits without scrolling sideways
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/tasks")
    button = page.locator("a.prominent-start")
    expect(button).to_be_visible()
    assert button.bounding_box()["width"] >= 340
    button.click()
    expect(page.locator("h1")).to_contain_text("突发事件")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "emergency_start_phone.png"), full_page=True)
    page.goto(f"{base}/emergencies/{iid}/situation")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts_dir / "emergency_situation_phone.png"), full_page=True)
