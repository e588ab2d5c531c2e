"""The public site in Chromium: an anonymous reader on a desktop and on a 390 px phone (nothing
wider than the screen, the column bar scrolls inside itself), no Content-Security-Policy
violation (the style sheet is the site's own file, no inline script or style), and the printed
article without the navigation (screenshots and a PDF in tests/artifacts/)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import ApiClient, browser_app, browser_page, done, serve
from test_public_site import published, register, to_publish, upload

pytestmark = pytest.mark.browser


def _png(width: int = 160, height: int = 90) -> bytes:
    """A real PNG (a red band over blue), so that the browser decodes what the site serves."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + (b"\xb3\x12\x0f" if y < height // 3 else b"\x1a\x4c\x9c") * width
                    for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    app = browser_app(tmp_path, "site")
    api = ApiClient(app)
    for n in range(6):
        published(api, title=f"市人大常委会开展执法检查（{n + 1}）", column="监督纵横")
    iid = register(api, title="市人大常委会召开第十五次会议暨全市人大代表履职能力提升专题培训班开班仪式")
    image = upload(api, iid, "会场.png", _png())
    body = ("<h2>会议概况</h2><p>会议听取和审议了市人民政府关于2026年国民经济和社会发展计划执行情况的报告。</p>"
            f'<p><img src="/site/files/{image}" alt="会场" width="800" height="450"></p>'
            "<table><tr><th>议程</th><th>报告人</th><th>时间</th><th>地点</th><th>备注</th></tr>"
            "<tr><td>审议计划执行情况的报告</td><td>市发展改革委主任</td><td>上午</td><td>常委会会议室</td>"
            "<td>列席人员参加</td></tr></table><p>会议由常委会主任主持。</p>")
    to_publish(api, iid, body=body)
    done(api, "web1", iid, "publish", {})
    with serve(app) as base:
        yield base, iid


def _fits(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide"


def _csp_errors(page: Any) -> list[str]:
    found: list[str] = []
    page.on("console", lambda msg: found.append(msg.text) if "Content Security Policy" in msg.text else None)
    return found


def test_a_reader_reads_the_site_on_a_desktop_and_a_phone(site: tuple[str, int], chromium_path: str,
                                                         artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, iid = site
    with browser_page(chromium_path) as page:
        blocked = _csp_errors(page)
        page.goto(f"{base}/site/")
        band = page.evaluate("getComputedStyle(document.querySelector('.site-band')).backgroundColor")
        assert band == "rgb(179, 18, 15)"  # the style sheet loaded under the CSP
        expect(page.locator(".site-nav")).to_contain_text("人大要闻")
        page.screenshot(path=str(artifacts_dir / "site_01_home.png"), full_page=True)
        page.click(".site-nav >> text=监督纵横")
        expect(page.locator("h1.box-title")).to_have_text("监督纵横")
        page.click(".article-list a >> nth=0")
        expect(page.locator("h1.article-title")).to_contain_text("执法检查（6）")  # the newest first
        page.goto(f"{base}/site/articles/{iid}")
        expect(page.locator("h1.article-title")).to_contain_text("第十五次会议")
        # the body's image came from /site/files under the CSP and decoded
        assert page.evaluate("document.querySelector('.article-body img').naturalWidth") == 160
        page.screenshot(path=str(artifacts_dir / "site_02_article.png"), full_page=True)
        assert not blocked, blocked
        assert not page.js_errors
    with browser_page(chromium_path, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                      is_mobile=True, has_touch=True) as phone:
        blocked = _csp_errors(phone)
        for path in ("/site/", "/site/columns/监督纵横", f"/site/articles/{iid}", "/site/columns/无此栏目"):
            phone.goto(f"{base}{path}")
            _fits(phone, 390)
        nav = phone.locator(".site-nav-items")
        assert nav.evaluate("e => e.scrollWidth > e.clientWidth")  # the bar scrolls sideways, inside itself
        phone.goto(f"{base}/site/articles/{iid}")
        title = phone.locator("h1.article-title").bounding_box()
        assert title is not None and title["x"] >= 0 and title["x"] + title["width"] <= 390
        phone.screenshot(path=str(artifacts_dir / "site_03_phone_article.png"), full_page=True)
        phone.goto(f"{base}/site/")
        phone.screenshot(path=str(artifacts_dir / "site_04_phone_home.png"), full_page=True)
        assert not blocked, blocked


def test_a_printed_article_has_no_navigation(site: tuple[str, int], chromium_path: str, artifacts_dir: Path) -> None:
    base, iid = site
    with browser_page(chromium_path) as page:
        page.goto(f"{base}/site/articles/{iid}")
        page.emulate_media(media="print")
        for hidden in (".site-nav", ".crumbs"):
            assert page.locator(hidden).evaluate("e => getComputedStyle(e).display") == "none", hidden
        assert page.locator("h1.article-title").is_visible()
        assert page.locator(".article-body").is_visible()
        assert page.locator(".site-name").is_visible()
        page.pdf(path=str(artifacts_dir / "site_05_article_print.pdf"), format="A4")
        page.screenshot(path=str(artifacts_dir / "site_05_article_print.png"), full_page=True)


def test_admin_adds_a_topic_column_on_the_settings_page_and_the_site_shows_it(
        tmp_path: Path, chromium_path: str, artifacts_dir: Path) -> None:
    """第五条 活动专题栏目 将视情况适时调整: `admin` edits the columns on /admin/settings (the long list
    wraps in its cells, the page no wider than the screen); the public site's column bar and the
    register form offer the new column at once."""
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "columns")
    with serve(app) as base, browser_page(chromium_path) as page:
        walk = Walk(page, base, artifacts_dir, "site_columns")
        walk.login("admin")
        page.goto(f"{base}/admin/settings")
        _fits(page, 1360)
        field = page.locator("input[name='article_publication.columns']")
        old = field.input_value()
        assert old.startswith("人大要闻,公告通知") and old.endswith("代表为民办实事说实话")
        field.fill(old + ",专题：乡村振兴")
        page.locator("#group-article_publication button[type=submit]").click()
        expect(page.locator(".flash-success")).to_contain_text("网站栏目")
        _fits(page, 1360)
        expect(page.locator("#s-article_publication-columns-current")).to_contain_text("专题：乡村振兴")
        page.locator("#group-article_publication").screenshot(path=str(artifacts_dir / "site_06_columns_setting.png"))
        walk.login("web1")
        page.goto(f"{base}/articles/new")
        expect(page.locator("select[name='column'] option", has_text="专题：乡村振兴")).to_have_count(1)
        page.context.clear_cookies()
        page.goto(f"{base}/site/")
        expect(page.locator(".site-nav")).to_contain_text("专题：乡村振兴")
        page.click(".site-nav >> text=专题：乡村振兴")
        expect(page.locator("h1.box-title")).to_have_text("专题：乡村振兴")
        assert not page.js_errors
