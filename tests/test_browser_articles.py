"""A website article walked through the pages in Chromium (Playwright; issue 11 item 10): 网站管理员
`web1` registers it in the Quill editor (one word bold) and previews it in a new tab, edits it;
办公室分管领导 `bgs` fails 保密 with a comment and sends it back; `web1` sees why above the 编辑 form,
fixes the body; `bgs` approves with all five points passed; nobody reads it on the site until
`web1` has done 上传发布; then an anonymous browser (no cookies) finds it in its column on the public
site and reads the fixed text, on a desktop and on a 390 px phone. Screenshots go to
tests/artifacts/ (articles_NN_name.png)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser_walk
import pytest
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

TITLE = "市人大常委会召开第十六次会议"
COLUMN = "人大要闻"
AUTHOR = "李明"
SOURCE = "临沧人大网"
SECRECY_COMMENT = "第二段涉及尚未公开的会议材料，请删除"
FIXED_TEXT = "会议审议通过了关于加强生态环境保护的决定。"
POINTS = ("wording", "secrecy", "ideology", "ethnic_religion", "border")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    app = browser_app(tmp_path, "articles")
    with serve(app) as base:
        yield app, base


class Walk(browser_walk.Walk):
    """The shared walk, plus the article's rich-text editor."""

    def editor(self) -> Any:
        from playwright.sync_api import expect

        box = self.page.locator(".richtext[data-richtext='body'][data-mounted='1']")
        expect(box).to_have_count(1)  # Quill mounted over the textarea
        return box.locator(".ql-editor")

    def review(self, failed: dict[str, str], decision: str, comment: str = "") -> None:
        for point in POINTS:
            verdict = "false" if point in failed else "true"
            self.page.check(f"input[type=radio][name='checks-{point}'][value='{verdict}']")
            if point in failed:
                self.page.fill(f"[name='check_comments-{point}']", failed[point])
        if comment:
            self.page.fill("[name='comment']", comment)
        self.page.select_option("[name='decision']", decision)


def test_an_article_is_registered_sent_back_fixed_approved_published_and_read_anonymously(
        served: tuple[Any, str], page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _app, base = served
    walk = Walk(page, base, artifacts_dir, "articles")

    # 登记: web1 fills the register form, the body typed in Quill with one word bold
    walk.login("web1")
    page.goto(f"{base}/articles/new")
    expect(page.locator(".page-head h1")).to_have_text("登记稿件")
    page.fill("[name='title']", TITLE)
    page.select_option("[name='column']", COLUMN)
    page.fill("[name='author']", AUTHOR)
    page.fill("[name='source']", SOURCE)
    page.select_option("[name='department']", "dept_fgw")
    body = walk.editor()
    body.click()
    page.keyboard.type("会议听取了")
    page.keyboard.press("Control+b")
    page.keyboard.type("重要")
    page.keyboard.press("Control+b")
    page.keyboard.type("报告。")
    page.keyboard.press("Enter")
    page.keyboard.type("会议材料第二段尚未公开。")
    expect(body.locator("strong")).to_have_text("重要")
    walk.shot("web1_register_form")

    # 预览: a new tab shows the article as the site will, marked 预览（未发布）
    with page.context.expect_page() as opened:
        page.click("button.rt-preview")
    preview = opened.value
    preview.wait_for_load_state()
    expect(preview.locator(".preview-mark")).to_contain_text("预览（未发布）")
    expect(preview.locator("h1.article-title")).to_have_text(TITLE)
    expect(preview.locator(".article-meta")).to_contain_text(f"作者：{AUTHOR}")
    expect(preview.locator(".article-body strong")).to_have_text("重要")
    expect(preview.locator(".article-body")).to_contain_text("会议听取了重要报告。")
    walk.shot("web1_register_preview", preview)
    preview.close()

    page.click("button:has-text('登记')")
    expect(page.locator(".flash-success")).to_contain_text("已登记")
    flash = page.locator(".flash-success").inner_text()
    found = re.search(r"GJ-2026-\d{5}", flash)
    assert found, flash
    walk.business_key = found.group(0)
    match = re.search(r"/instances/(\d+)", page.url)
    assert match, page.url
    iid = int(match.group(1))
    walk.shot("web1_registered_case")

    # 编辑: the body comes back in the editor; its 预览 shows the registered author and source too
    walk.open_task("编辑")
    expect(walk.editor()).to_contain_text("会议听取了重要报告。")
    with page.context.expect_page() as opened:
        page.click("button.rt-preview")
    preview = opened.value
    preview.wait_for_load_state()
    expect(preview.locator(".article-meta")).to_contain_text(f"作者：{AUTHOR}")
    expect(preview.locator(".article-meta")).to_contain_text(f"来源：{SOURCE}")
    preview.close()
    walk.shot("web1_edit_form")
    walk.submit()

    # 审核: bgs fails 保密 with a comment, passes the others and sends the article back
    walk.login("bgs")
    walk.open_task("审核")
    walk.review({"secrecy": SECRECY_COMMENT}, "return", "请按保密意见修改后再报")
    walk.shot("bgs_review_return")
    walk.submit()

    # 编辑 again: web1 sees why it came back, fixes the body
    walk.login("web1")
    walk.open_task("编辑")
    notes = page.locator(".step-notes")
    expect(notes).to_contain_text("审核退回意见")
    expect(notes).to_contain_text("保密")
    expect(notes).to_contain_text(SECRECY_COMMENT)
    expect(notes).to_contain_text("请按保密意见修改后再报")
    walk.shot("web1_edit_returned")
    body = walk.editor()
    body.click()
    page.keyboard.press("Control+a")
    page.keyboard.type(FIXED_TEXT)
    expect(body).to_have_text(FIXED_TEXT)
    page.fill("[name='edit_note']", "已按审核意见删除未公开的会议材料")
    walk.submit()

    # 审核 again: all five points passed, approved
    walk.login("bgs")
    walk.open_task("审核")
    walk.review({}, "approve")
    walk.shot("bgs_review_approve")
    walk.submit()

    # approved, not yet published: the site does not carry it (404, for anyone)
    browser = page.context.browser
    assert browser is not None
    anonymous = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    anonymous.set_default_timeout(15_000)
    try:
        reader = anonymous.new_page()
        assert anonymous.cookies() == []
        response = reader.goto(f"{base}/site/articles/{iid}")
        assert response is not None and response.status == 404
        expect(reader.locator("body")).to_contain_text("您访问的页面不存在或已撤下")
        walk.shot("anonymous_before_publish_404", reader)

        # 上传发布
        walk.login("web1")
        walk.open_task("上传发布")
        walk.shot("web1_publish_form")
        walk.submit()

        # the anonymous reader finds it in its column on the home page and reads the fixed text
        reader.goto(f"{base}/site/")
        box = reader.locator(".columns-grid .box").filter(
            has=reader.get_by_role("link", name=COLUMN, exact=True))
        link = box.get_by_role("link", name=TITLE)
        expect(link).to_have_count(1)
        walk.shot("anonymous_site_home", reader)
        link.click()
        expect(reader.locator("h1.article-title")).to_have_text(TITLE)
        meta = reader.locator(".article-meta")
        expect(meta).to_contain_text(f"作者：{AUTHOR}")
        expect(meta).to_contain_text(f"来源：{SOURCE}")
        expect(reader.locator(".article-body")).to_contain_text(FIXED_TEXT)
        expect(reader.locator(".article-body")).not_to_contain_text("尚未公开")
        expect(reader.locator(".preview-mark")).to_have_count(0)
        assert reader.url.endswith(f"/site/articles/{iid}")
        walk.shot("anonymous_article", reader)
        reader.set_viewport_size({"width": 390, "height": 844})
        expect(reader.locator("h1.article-title")).to_be_visible()
        width = reader.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the article page is {width}px wide on a phone"
        walk.shot("anonymous_article_phone", reader)
        assert anonymous.cookies() == []  # read without ever logging in
    finally:
        anonymous.close()
    assert page.js_errors == []
