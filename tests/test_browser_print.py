"""The printed 交办单 in Chromium (Playwright): 信访科 (xfk1) opens a routed petition's case page,
clicks the 交办单's 打印 button and prints the page to PDF with Chromium's own print (page.pdf(),
print media). The PDF has the letterhead, the document number, the 统一编号 and the handling unit —
and nothing of the site around the sheet (navigation bar, toolbar). Screenshots and the PDF go to
tests/artifacts/."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, done, serve, start

pytestmark = pytest.mark.browser


def pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages))


def test_xfk_prints_the_assignment_sheet_from_the_case_page(tmp_path: Path, page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "print")
    api = ApiClient(app)
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve", "comment": "同意"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve", "comment": "同意"})
    key = api.instance("xfk1", iid)["business_key"]

    with serve(app) as base:
        page.goto(f"{base}/login")
        page.fill("#username", "xfk1")
        page.fill("#password", "govflow-demo")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")

        page.goto(f"{base}/instances/{iid}")
        item = page.locator("#case-documents li[data-doc='assignment']")
        expect(item).to_contain_text("交办单")
        item.get_by_role("link", name="打印").click()
        expect(page.locator("#document .doc-title")).to_have_text("信访事项交办单")
        expect(page.locator("#doc-number")).to_have_text("临人大信〔2026〕1号")
        expect(page.locator("#doc-print")).to_be_visible()  # on screen: the 打印 button and the nav
        expect(page.locator(".topbar")).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "print_assignment_screen.png"), full_page=True)

        page.emulate_media(media="print")  # what the printer gets: the sheet alone
        expect(page.locator(".topbar")).to_be_hidden()
        expect(page.locator("#doc-print")).to_be_hidden()

        body = page.pdf(format="A4", print_background=True)  # Chromium's print, print media
        (artifacts_dir / "print_assignment_chromium.pdf").write_bytes(body)
        assert page.js_errors == []

    printed = pdf_text(body)
    for expected in ("临沧市人大常委会办公室", "临人大信〔2026〕1号", key, "法制工作委员会", "信访事项交办单"):
        assert expected in printed, (expected, printed[:400])
    # nothing of the site around the sheet: no navigation bar, no user box, no toolbar
    for absent in ("我的待办", "案件列表", "退出", "下载PDF", "返回案件", "GovFlow"):
        assert absent not in printed, (absent, printed[:400])
