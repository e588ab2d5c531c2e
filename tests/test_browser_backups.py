"""The backup page in Chromium, on a phone: `admin` taps 「立即备份」, sees the result (成功, the file,
its size) as the last backup and in the record, the page fits the screen and prints without the
button (screenshots in tests/artifacts/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, browser_page, serve

from service import backup_schedule, config_store

pytestmark = pytest.mark.browser


@pytest.fixture
def phone(chromium_path: str) -> Iterator[Any]:
    with browser_page(chromium_path, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                      is_mobile=True, has_touch=True) as page:
        yield page


def test_the_administrator_backs_up_now_on_a_phone_and_sees_the_result(phone: Any, tmp_path: Path,
                                                                       artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "backups")
    with app.extensions["govflow"].db.write() as session:
        config_store.put(session, backup_schedule.DIRECTORY_KEY, str(tmp_path / "backups"))
    page = phone
    with serve(app) as base:
        page.goto(f"{base}/login")
        page.fill("#username", "admin")
        page.fill("#password", "govflow-demo")
        page.tap("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto(f"{base}/admin/backups")
        expect(page.locator("h1")).to_have_text("数据库备份")
        expect(page.locator("#last .empty")).to_have_text("尚未备份过")
        page.tap("#backup-now")
        expect(page.locator(".flash-success")).to_contain_text("备份完成：govflow-")
        (file,) = (tmp_path / "backups").glob("govflow-*.db")
        expect(page.locator("#last-status")).to_contain_text("成功")
        expect(page.locator("#last-file")).to_have_text(str(file))
        expect(page.locator("#runs tbody tr")).to_have_count(1)
        expect(page.locator(f'#files tr[data-file="{file.name}"]')).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts_dir / "backups_phone.png"), full_page=True)
        page.emulate_media(media="print")
        expect(page.locator("#backup-now")).to_be_hidden()
        page.screenshot(path=str(artifacts_dir / "backups_print.png"), full_page=True)
        assert page.js_errors == []
    app.extensions["govflow"].db.dispose()
