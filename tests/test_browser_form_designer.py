"""The form editor in Chromium (Playwright): 流程设计员 sjy1 opens the 分管领导签阅 form of the
petition from the definitions list's modeler link target, adds a field with a 标题 without
touching JSON, sees it in the live preview (drawn by the server with the task page's code), is
told at once when a field lacks its 标题, saves it into the draft, and finds it there after a
reload; on a phone the field list reads as cards. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

EDITOR = "/designer/petition/forms/petition_leader_sign"
UNLOAD_BLOCKED = """() => { const ev = new Event('beforeunload', {cancelable: true});
                           window.dispatchEvent(ev); return ev.defaultPrevented; }"""


def test_designer_adds_a_field_sees_it_in_the_preview_and_saves_it(tmp_path: Path, page: Any,
                                                                    artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service import drafts

    app = browser_app(tmp_path, "form_designer")
    with serve(app) as base:
        walk = Walk(page, base, artifacts_dir, "form_designer")
        walk.login("sjy1")
        page.goto(f"{base}{EDITOR}")
        expect(page.locator(".page-head h1")).to_have_text("编辑表单：分管领导签阅")
        expect(page.locator("#fd-source")).to_have_text("当前版本的表单")
        rows = page.locator("#fd-rows tr.fd-row")
        expect(rows).to_have_count(2)
        expect(rows.nth(0).locator(".fd-name")).to_have_value("decision")
        expect(rows.nth(0).locator(".fd-kind")).to_have_value("choice")
        expect(rows.nth(0).locator(".fd-choices")).to_have_value("approve=同意\nreturn=退回修改")
        expect(rows.nth(0).locator(".fd-required")).to_be_checked()
        expect(page.locator("#fd-preview label[for='f_decision']")).to_contain_text("签阅意见")
        walk.shot("opened")

        # 添加字段: 字段名, 标题, 类型 多行文本, 必填 — no JSON typed
        page.click("#fd-add")
        added = rows.nth(2)
        added.locator(".fd-name").fill("basis")
        added.locator(".fd-field-title").fill("签阅依据")
        added.locator(".fd-kind").select_option(label="多行文本")
        added.locator(".fd-required").check()
        expect(page.locator("#fd-status")).to_have_text("有未保存的修改")
        preview_label = page.locator("#fd-preview label[for='f_basis']")
        expect(preview_label).to_contain_text("签阅依据")
        expect(page.locator("#fd-preview textarea#f_basis")).to_be_attached()
        expect(preview_label.locator(".req")).to_be_visible()  # 必填: the task page's * marker
        assert page.evaluate(UNLOAD_BLOCKED)  # leaving with unsaved changes asks first
        walk.shot("field_added")

        # a field without 标题: the server's problem shows on its row and in the preview
        added.locator(".fd-field-title").fill("")
        expect(page.locator("#fd-preview .fd-preview-problems")).to_contain_text("字段 basis 缺少标题")
        expect(added).to_have_class(re.compile(r"\bhas-error\b"))
        expect(added.locator(".fd-row-error")).to_have_text("字段 basis 缺少标题")
        walk.shot("missing_title")
        added.locator(".fd-field-title").fill("签阅依据")
        expect(preview_label).to_contain_text("签阅依据")
        expect(added).not_to_have_class(re.compile(r"\bhas-error\b"))

        # a choice's options edited as lines
        rows.nth(0).locator(".fd-choices").fill("approve=同意\nreturn=退回修改\nhold=暂缓")
        expect(page.locator("#fd-preview select#f_decision option[value='hold']")).to_have_text("暂缓")

        page.click("#fd-save")
        expect(page.locator("#fd-status")).to_have_text(re.compile(r"^已保存到草稿 \d\d:\d\d$"))
        expect(page.locator("#fd-source")).to_have_text("草稿中的修改（尚未部署）")
        assert not page.evaluate(UNLOAD_BLOCKED)
        with app.extensions["govflow"].db.read() as session:
            saved = drafts.draft_forms(drafts.get(session, "petition"))["petition_leader_sign"]
        assert saved["properties"]["basis"] == {"title": "签阅依据", "type": "string", "x-widget": "textarea"}
        assert saved["required"] == ["decision", "basis"]
        assert saved["properties"]["decision"]["x-enum-titles"] == ["同意", "退回修改", "暂缓"]
        assert saved["allOf"][0]["then"]["required"] == ["comment"]  # what the list does not edit is kept
        assert list(saved["properties"]) == ["decision", "comment", "basis"]
        walk.shot("saved")

        # the JSON view holds the same form; after a reload the draft's form is back
        page.click("#tab-json")
        expect(page.locator("#fd-json-text")).to_have_value(re.compile(r'"basis": \{\s*"title": "签阅依据"'))
        walk.shot("json")
        page.click("#tab-fields")
        page.reload()
        expect(page.locator("#fd-source")).to_have_text("草稿中的修改（尚未部署）")
        expect(rows).to_have_count(3)
        expect(rows.nth(2).locator(".fd-field-title")).to_have_value("签阅依据")
        expect(page.locator("#fd-preview label[for='f_basis']")).to_contain_text("签阅依据")
        assert page.js_errors == []

        # on a phone: the field list as cards, the preview below it
        ctx = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                               has_touch=True, locale="zh-CN")
        try:
            phone = ctx.new_page()
            errors: list[str] = []
            phone.on("pageerror", lambda exc: errors.append(str(exc)))
            Walk(phone, base, artifacts_dir, "form_designer_phone").login("sjy1")
            phone.goto(f"{base}{EDITOR}")
            expect(phone.locator("#fd-rows tr.fd-row")).to_have_count(3)
            expect(phone.locator("#fd-preview label[for='f_basis']")).to_contain_text("签阅依据")
            width = phone.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 400, width
            phone.screenshot(path=str(artifacts_dir / "form_designer_phone.png"), full_page=True)
            assert errors == []
        finally:
            ctx.close()
