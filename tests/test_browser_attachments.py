"""附件 in Chromium (Playwright): xfk1 uploads the scanned letter on the case page, the handling
department (fgw1, the petition routed to dept_fgw) downloads the same bytes, and a department
outside the case (cjw1) gets 403 on the download URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, done, serve, start

from workflows.petition_sample import dept_route

pytestmark = pytest.mark.browser

PASSWORD = "govflow-demo"
LETTER = (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
          + bytes(range(256)) * 40 + b"\ntrailer\n<<>>\n%%EOF\n")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, ApiClient]]:
    app = browser_app(tmp_path, "attachments")
    with serve(app) as base:
        yield base, ApiClient(app)


def _login(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")


def test_letter_uploaded_by_xfk_is_downloaded_by_the_handling_unit_only(
        served: tuple[str, ApiClient], page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, api = served
    iid = start(api)

    # xfk1 uploads the scanned letter on the case page
    _login(page, base, "xfk1")
    page.goto(f"{base}/instances/{iid}")
    panel = page.locator("#attachments")
    expect(panel).to_contain_text("暂无附件")
    page.select_option("#att-kind", "来信扫描件")
    page.set_input_files("#att-file", files=[{"name": "来信.pdf", "mimeType": "application/pdf", "buffer": LETTER}])
    page.click("#attachment-upload button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("已上传附件：来信.pdf")
    row = panel.locator(".att-item")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("来信扫描件")
    expect(row).to_contain_text("信访科 张科员")
    expect(page.locator(".timeline")).to_contain_text("上传附件（来信扫描件）")
    page.screenshot(path=str(artifacts_dir / "attachments_uploaded.png"), full_page=True)
    href = row.get_by_role("link", name="来信.pdf").get_attribute("href")

    # handed over to 法制工作委员会: its user downloads the very bytes
    for user, bpmn_id, data in dept_route()[:4]:
        done(api, user, iid, bpmn_id, data)
    _login(page, base, "fgw1")
    page.goto(f"{base}/instances/{iid}")
    with page.expect_download() as info:
        page.locator("#attachments").get_by_role("link", name="来信.pdf").click()
    download = info.value
    assert download.suggested_filename == "来信.pdf"
    assert Path(download.path()).read_bytes() == LETTER

    # a department the case was never given to may not have it
    _login(page, base, "cjw1")
    response = page.goto(f"{base}{href}")
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_contain_text("您无权查看此案件")
    assert page.js_errors == []
