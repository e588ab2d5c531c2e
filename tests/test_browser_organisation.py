"""组织管理 in Chromium, on a phone: `admin` creates a group (with its kind), creates a user with a
generated initial password, puts the user in the group from the group's page, and sees the
membership on the user's page; the pages fit the screen and print without their forms
(screenshots in tests/artifacts/)."""

from __future__ import annotations

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


def test_the_administrator_creates_a_user_and_a_group_and_adds_the_membership(phone: Any, tmp_path: Path,
                                                                                artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service.identity import password_problems

    app = browser_app(tmp_path, "organisation")
    page = phone
    with serve(app) as base:
        page.goto(f"{base}/login")
        page.fill("#username", "admin")
        page.fill("#password", "govflow-demo")
        page.tap("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)

        page.goto(f"{base}/admin/groups")
        expect(page.locator("h1")).to_have_text("组管理")
        page.fill("#f_key", "dept_jjw")
        page.fill("#f_name", "教育科学文化卫生委员会")
        page.select_option("#f_kind", "department")
        page.tap("#create-group")
        expect(page.locator(".flash-success")).to_contain_text("已创建组 教育科学文化卫生委员会（dept_jjw）")
        expect(page.locator("#group-kind")).to_have_text("部门")

        page.goto(f"{base}/admin/users")
        page.tap("#new-user")
        page.fill("#f_username", "zhao6")
        page.fill("#f_name", "赵六")
        page.fill("#f_phone", "0883-2123456")
        page.tap("#generate-password")
        password = page.input_value("#f_password")
        assert password_problems("zhao6", password) == []
        page.tap("#create-user")
        expect(page.locator(".flash-success")).to_contain_text("已创建用户 赵六（zhao6）")
        expect(page.locator("#groups .empty")).to_have_text("未加入任何组")

        page.goto(f"{base}/admin/groups/dept_jjw")
        page.fill("#add-member", "zhao6")
        page.tap("#add-member-button")
        expect(page.locator(".flash-success")).to_contain_text("已将 zhao6 加入本组")
        expect(page.locator('#members tr[data-username="zhao6"]')).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts_dir / "organisation_group_phone.png"), full_page=True)

        page.goto(f"{base}/admin/users/zhao6")
        expect(page.locator('#groups tr[data-group="dept_jjw"]')).to_contain_text("教育科学文化卫生委员会")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto(f"{base}/admin/users?q=zhao6")
        expect(page.locator('#users tr[data-username="zhao6"]')).to_contain_text("教育科学文化卫生委员会")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts_dir / "organisation_users_phone.png"), full_page=True)
        page.emulate_media(media="print")
        expect(page.locator("#excel")).to_be_hidden()
        expect(page.locator("#new-user")).to_be_hidden()
        page.screenshot(path=str(artifacts_dir / "organisation_users_print.png"), full_page=True)
        assert page.js_errors == []
    app.extensions["govflow"].db.dispose()
