"""Rich text in Chromium (Playwright): `web1` registers an article in the Quill editor — text
typed bold with Ctrl+B, an <img onerror> pasted — and the case stores <strong>…</strong> and the
image without its script; on the edit page the editor starts from the stored body, its image
button uploads a picture to the case and inserts <img src="/site/files/<id>">; on a 390 px phone
the editor fits, and printed the toolbar is gone. Screenshots go to tests/artifacts/.
The test procedure: tests/kinds_procedure.py (own forms, so this runs whatever the article
procedure's state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, browser_page, serve
from kinds_procedure import KEY, installed

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PASTED = '<p>粘贴的<img src="/site/files/999" onerror="window.__pwned = 1">图片</p>'
PASTE = """([html]) => {
  const data = new DataTransfer();
  data.setData('text/html', html);
  data.setData('text/plain', '粘贴');
  document.querySelector('.ql-editor').dispatchEvent(
    new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
}"""


def _login(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", "govflow-demo")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")


def test_bold_typed_in_the_editor_is_stored_and_a_pasted_image_loses_its_script(
        chromium_path: str, tmp_path: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "richtext")
    with installed(app, tmp_path / "forms"), serve(app) as base, browser_page(chromium_path) as page:
        _login(page, base, "web1")
        page.goto(f"{base}/instances/new/{KEY}")
        editor = page.locator(".richtext .ql-editor")
        expect(editor).to_be_visible()
        expect(page.locator("textarea[name=body]")).to_be_hidden()  # the editor writes into it
        assert page.get_attribute(".ql-toolbar .ql-bold", "title") == "加粗"
        assert page.get_attribute(".ql-toolbar .ql-clean", "title") == "清除格式"
        expect(page.locator(".ql-toolbar .ql-image")).to_have_count(0)  # no case yet: no image button
        expect(page.locator(".rt-image-hint")).to_have_text("图片请在登记后的编辑环节插入")
        expect(page.locator("button.rt-preview")).to_have_attribute("formtarget", "_blank")
        page.fill("[name=title]", "人大常委会召开会议")
        page.select_option("[name=column]", "人大要闻")
        editor.click()
        page.keyboard.type("会议指出 ")
        page.keyboard.press("Control+B")
        page.keyboard.type("依法履职")
        page.keyboard.press("Control+B")
        page.keyboard.type(" 取得实效。")
        page.keyboard.press("Enter")
        page.evaluate(PASTE, [PASTED])
        expect(editor.locator("strong")).to_have_text("依法履职")
        page.screenshot(path=str(artifacts_dir / "rich_text_start.png"), full_page=True)
        assert page.evaluate("window.__pwned") is None
        page.click("button:has-text('登记')")
        expect(page.locator(".flash-success")).to_contain_text("已登记")
        iid = int(page.url.rstrip("/").rsplit("/", 1)[1])
        body = ApiClient(app).instance("web1", iid)["data"]["body"]
        assert "<strong>依法履职</strong>" in body and "会议指出 " in body and "&nbsp;" not in body
        assert '<img src="/site/files/999">' in body and "onerror" not in body and "__pwned" not in body
        expect(page.locator(".rich-value strong")).to_have_text("依法履职")  # the case page renders it

        # the edit page: the editor starts from the body; its image button uploads to the case
        task_id = ApiClient(app).task("web1", iid, "edit")["id"]
        page.goto(f"{base}/tasks/{task_id}")
        expect(editor.locator("strong")).to_have_text("依法履职")
        button = page.locator(".ql-toolbar .ql-image")
        assert button.get_attribute("title") == "图片"
        editor.click()
        page.keyboard.press("Control+End")
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(files=[{"name": "会场.png", "mimeType": "image/png", "buffer": PNG}])
        expect(page.locator(".rt-status")).to_contain_text("已上传图片：会场.png")
        files = ApiClient(app).get("web1", f"/api/v1/instances/{iid}/attachments").get_json()
        uploaded = [f["id"] for f in files if f["filename"] == "会场.png"]
        assert len(uploaded) == 1
        expect(editor.locator(f"img[src='/site/files/{uploaded[0]}']")).to_have_count(1)

        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        toolbar = page.locator(".ql-toolbar").bounding_box()
        assert toolbar and toolbar["x"] >= 0 and toolbar["x"] + toolbar["width"] <= 390
        page.screenshot(path=str(artifacts_dir / "rich_text_edit_phone.png"), full_page=True)
        page.set_viewport_size({"width": 1360, "height": 900})
        page.emulate_media(media="print")
        expect(page.locator(".ql-toolbar")).to_be_hidden()
        page.emulate_media(media="screen")

        page.click("button:has-text('提交办理')")
        expect(page.locator(".flash-success")).to_contain_text("已办理")
        body = ApiClient(app).instance("web1", iid)["data"]["body"]
        assert f'<img src="/site/files/{uploaded[0]}">' in body and "<strong>依法履职</strong>" in body
        assert page.js_errors == []
