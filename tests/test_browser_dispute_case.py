"""A dispute case on the pages in Chromium (Playwright): 综治办 registers a 重大 dispute on its
start page (/dispute-cases/new) and assigns it; the case page draws bpmn/dispute_case.bpmn with
the steps done marked; the chosen department finds 调处 in its inbox. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, serve

pytestmark = pytest.mark.browser


def test_case_registered_and_assigned_on_the_pages_shows_its_diagram(tmp_path: Path, page: Any,
                                                                      artifacts_dir: Path) -> None:
    """zzb1 registers a 重大 dispute on its start page and assigns it; the case page draws the
    diagram with the steps done marked, and fgw1 finds 调处 in its inbox."""
    from playwright.sync_api import expect

    def login(base: str, username: str) -> None:
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", "govflow-demo")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")

    with serve(browser_app(tmp_path, "dispute")) as base:
        login(base, "zzb1")
        page.goto(f"{base}/dispute-cases/new")
        expect(page.locator("h1")).to_have_text("矛盾纠纷登记")
        page.fill("#f_parties", "张三、李四")
        page.fill("#f_type", "土地纠纷")
        page.fill("#f_place", "临翔区忙畔街道某村")
        page.fill("#f_summary", "两户村民因承包地边界发生争执，多次调解未果")
        page.select_option("#f_risk", "重大")
        page.select_option("#f_reported_by", "dept_cjw")
        page.screenshot(path=str(artifacts_dir / "dispute_case_01_register.png"), full_page=True)
        page.click("button:has-text('登记')")
        flash = page.locator(".flash-success")
        expect(flash).to_contain_text("JF-")
        key = re.search(r"JF-\d{4}-\d{4}", flash.inner_text()).group(0)

        page.goto(f"{base}/tasks")
        page.locator(f"tr[data-business-key='{key}']").filter(has_text="分流指派").get_by_role(
            "link", name="办理").click()
        expect(page.locator(".page-head h1")).to_have_text("分流指派")
        expect(page.locator("#f_handling_group option[value='xfk']")).to_have_count(0)
        page.select_option("#f_handling_group", "dept_fgw")
        page.select_option("#f_basis", "归口管理")
        page.click("button:has-text('提交办理')")
        expect(page.locator(".flash-success")).to_contain_text("已办理")
        expect(page.locator(f"tr[data-business-key='{key}']").filter(has_text="报告市维稳办")).to_have_count(1)

        page.goto(f"{base}/instances?q={key}")
        page.get_by_role("link", name=key).click()
        expect(page.locator("#diagram.diagram-ready")).to_be_attached()
        assert page.locator("#diagram .djs-element.done").count() >= 4
        expect(page.locator("#diagram")).to_contain_text("督查回访")
        page.screenshot(path=str(artifacts_dir / "dispute_case_02_case.png"), full_page=True)
        assert page.js_errors == []

        page.click(".userbox button:has-text('退出')")
        login(base, "fgw1")
        expect(page.locator(f"tr[data-business-key='{key}']").filter(has_text="调处")).to_have_count(1)
