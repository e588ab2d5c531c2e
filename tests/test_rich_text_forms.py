"""Rich text in a form (`"contentMediaType": "text/html"`): one sanitiser (service/html_clean.py,
nh3) decides what an article body may hold; the server stores only its output, an editor's empty
body counts as not filled in; the page draws a Quill editor over a textarea with 预览 and — where
the case exists — an image button that uploads to the case's attachments; the case page shows
the value as HTML, cleaned again on the way out. The test procedure: tests/kinds_procedure.py."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, login, text
from kinds_procedure import KEY, case_count, installed, register

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DIRTY = ('<p style="color:red" onclick="steal()">您好 <strong>加粗</strong> <em>斜体</em> '
         '<a href="javascript:alert(1)">坏链接</a> <a href="https://www.lincang.gov.cn/" target="_blank">好链接</a></p>'
         '<script>alert("x")</script><style>p { display: none }</style>'
         '<iframe src="https://evil.example/"></iframe>'
         '<img src="/site/files/1" onerror="alert(2)" alt="图"><img src="javascript:alert(3)">'
         '<p><span style="font-size:40px">大字</span></p>')


@pytest.fixture
def kinds_app(page_app: Any, tmp_path: Path) -> Iterator[Any]:
    with installed(page_app, tmp_path / "forms") as app:
        yield app


def _edit_task(app: Any, body: str = "<p>正文</p>") -> tuple[int, str]:
    api = ApiClient(app)
    r = register(api, body=body)
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    return iid, api.task("web1", iid, "edit")["id"]


# ---- the sanitiser ---------------------------------------------------------------------------


def test_the_sanitiser_removes_scripts_styles_event_and_style_attributes_javascript_links_and_frames() -> None:
    from service.html_clean import clean

    cleaned = clean(DIRTY)
    for gone in ("<script", "alert(", "<style", "display: none", "<iframe", "evil.example", "onerror", "onclick",
                 "style=", "javascript:", "target=", "steal()"):
        assert gone not in cleaned, gone
    assert cleaned.count("<img") == 1  # the one whose source was a script is dropped whole


def test_the_sanitiser_keeps_paragraphs_bold_links_and_the_sites_images() -> None:
    from service.html_clean import clean

    assert clean(DIRTY) == (
        '<p>您好 <strong>加粗</strong> <em>斜体</em> <a rel="noopener noreferrer">坏链接</a> '
        '<a href="https://www.lincang.gov.cn/" rel="noopener noreferrer">好链接</a></p>'
        '<img src="/site/files/1" alt="图"><p><span>大字</span></p>')
    kept = ('<h2>标题</h2><ul><li>一</li></ul><ol><li>二</li></ol><blockquote>引文</blockquote>'
            '<table><thead><tr><th>栏</th></tr></thead><tbody><tr><td>值</td></tr></tbody></table>'
            '<p><u>下划线</u><s>删除线</s><b>b</b><i>i</i><br><a href="mailto:web@lincang.gov.cn" '
            'title="来信" rel="noopener noreferrer">写信</a><a href="/site/articles/3" rel="noopener noreferrer">站内</a>'
            '<img src="/site/files/2" alt="" width="300" height="200"></p>')
    assert clean(kept) == kept
    assert clean(clean(DIRTY)) == clean(DIRTY)  # cleaning what is clean changes nothing


def test_plain_text_of_a_body_puts_each_block_on_its_own_line() -> None:
    from service.html_clean import clean, is_blank, text_of

    assert text_of(clean(DIRTY)) == "您好 加粗 斜体 坏链接 好链接\n大字"
    assert text_of("<h2>通知</h2><p>A &amp; B</p><ul><li>一</li><li>二</li></ul>") == "通知\nA & B\n一\n二"
    assert is_blank("<p><br></p>") and is_blank(clean("<script>x</script>")) and not is_blank('<img src="/site/files/1">')


# ---- stored through the API ------------------------------------------------------------------


def test_a_rich_text_field_is_stored_as_the_sanitiser_leaves_it(app: Any, tmp_path: Path) -> None:
    from service.html_clean import clean

    with installed(app, tmp_path / "forms"):
        api = ApiClient(app)
        r = register(api, body=DIRTY)
        assert r.status_code == 201, r.get_json()
        iid = int(r.get_json()["id"])
        case = api.instance("web1", iid)
        assert case["data"]["body"] == clean(DIRTY)
        # the step's history holds the same cleaned text, never what was posted
        assert "<script" not in str(case["history"]) and "onerror" not in str(case["history"])
        r = api.complete("web1", iid, "edit", {"body": '<p>改后<img src="x" onerror="alert(1)"></p>'})
        assert r.status_code == 200, r.get_json()
        assert api.instance("web1", iid)["data"]["body"] == '<p>改后<img src="x"></p>'


def test_an_empty_editor_or_a_body_that_is_only_script_counts_as_not_filled_in(kinds_app: Any) -> None:
    api = ApiClient(kinds_app)
    before = case_count(kinds_app)
    for body in ("<p><br></p>", "<script>alert(1)</script>", "<p> </p><style>p{}</style>"):
        r = register(api, body=body)
        assert r.status_code == 422, body
        assert {"field": "body", "message": "此项为必填项"} in r.get_json()["details"], r.get_json()
    assert case_count(kinds_app) == before  # nothing registered


# ---- the pages -------------------------------------------------------------------------------


def test_the_start_page_draws_the_editor_over_a_textarea_with_preview_and_the_image_hint(kinds_app: Any) -> None:
    page = text(login(kinds_app, "web1").get(f"/instances/new/{KEY}"))
    box = re.search(r'<div class="richtext" data-richtext="body"[^>]*>.*?</div>\s*<script', page, re.S)
    assert box, "no rich-text widget"
    html = box.group(0)
    assert "data-upload-url" not in html and 'data-no-image="1"' in html
    assert re.search(r'<textarea id="f_body" name="body" rows="12" class="rt-source" required maxlength="20000">'
                     r"</textarea>", html)
    assert ('<button type="submit" class="btn btn-small rt-preview" formaction="/site/preview" formtarget="_blank" '
            'formmethod="post" formenctype="application/x-www-form-urlencoded" formnovalidate>预览</button>') in html
    assert '<div class="hint rt-image-hint">图片请在登记后的编辑环节插入</div>' in html
    assert "/static/vendor/quill/quill.js" in page and "/static/richtext.js" in page
    assert "/static/vendor/quill/quill.snow.css" in page and "/static/form_widgets.css" in page
    assert 'name="csrf_token"' in page  # the preview posts the whole form, its token with it


def test_the_edit_page_starts_from_the_current_body_and_its_editor_uploads_images_to_the_case(kinds_app: Any) -> None:
    iid, task_id = _edit_task(kinds_app, "<p>原文<strong>加粗</strong></p>")
    page = text(login(kinds_app, "web1").get(f"/tasks/{task_id}"))
    assert f'data-upload-url="/instances/{iid}/attachments" data-upload-task="{task_id}"' in page
    assert "图片请在登记后的编辑环节插入" not in page and "rt-preview" not in page
    # `x-prefill`: the body as the case holds it (escaped in the textarea the editor reads)
    assert ">&lt;p&gt;原文&lt;strong&gt;加粗&lt;/strong&gt;&lt;/p&gt;</textarea>" in page
    assert 'name="edit_note" type="text" value=""' in page  # fields without it start empty


def test_a_refused_form_shows_the_posted_body_again_escaped_in_its_textarea(kinds_app: Any) -> None:
    client = login(kinds_app, "web1")
    r = client.post(f"/instances/new/{KEY}", data={"title": "", "column": "人大要闻",
                                                   "body": "<p>草稿<strong>加粗</strong></p>"})
    assert r.status_code == 422
    page = text(r)
    assert "&lt;p&gt;草稿&lt;strong&gt;加粗&lt;/strong&gt;&lt;/p&gt;</textarea>" in page
    assert 'id="err_title">此项为必填项<' in page


def test_the_editors_image_upload_answers_json_with_the_src_the_article_uses(kinds_app: Any) -> None:
    iid, task_id = _edit_task(kinds_app)
    client = login(kinds_app, "web1")
    r = client.post(f"/instances/{iid}/attachments", headers={"Accept": "application/json"},
                    data={"file": (io.BytesIO(PNG), "现场.png"), "kind": "其他", "task_id": task_id},
                    content_type="multipart/form-data")
    assert r.status_code == 201, text(r)
    files = r.get_json()["files"]
    assert len(files) == 1 and files[0]["filename"] == "现场.png"
    assert files[0]["src"] == f"/site/files/{files[0]['id']}"
    listed = ApiClient(kinds_app).get("web1", f"/api/v1/instances/{iid}/attachments").get_json()
    assert [(a["id"], a["filename"], a["media_type"]) for a in listed] == [(files[0]["id"], "现场.png", "image/png")]
    # not an image: refused in JSON, nothing stored
    r = client.post(f"/instances/{iid}/attachments", headers={"Accept": "application/json"},
                    data={"file": (io.BytesIO(b"%PDF-1.4 x"), "a.pdf"), "kind": "其他", "task_id": task_id},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and r.get_json()["message"] == "只能插入 JPG、PNG 图片"
    assert len(ApiClient(kinds_app).get("web1", f"/api/v1/instances/{iid}/attachments").get_json()) == 1
    # someone who may not act on the case: refused in JSON too
    r = login(kinds_app, "xfk1").post(f"/instances/{iid}/attachments", headers={"Accept": "application/json"},
                                      data={"file": (io.BytesIO(PNG), "b.png"), "kind": "其他"},
                                      content_type="multipart/form-data")
    assert r.status_code in (403, 404) and r.get_json()["message"]
    # the page's own form (no JSON asked for) still answers with a redirect
    r = client.post(f"/instances/{iid}/attachments", data={"file": (io.BytesIO(PNG), "c.png"), "kind": "其他"},
                    content_type="multipart/form-data")
    assert r.status_code == 302


def test_the_case_page_shows_the_body_as_html_and_cleans_it_again_on_the_way_out(kinds_app: Any) -> None:
    iid, _task = _edit_task(kinds_app, "<h2>小标题</h2><p>第一段<strong>加粗</strong></p>")
    page = text(login(kinds_app, "web1").get(f"/instances/{iid}"))
    assert '<div class="rich-value"><h2>小标题</h2><p>第一段<strong>加粗</strong></p></div>' in page
    assert "&lt;strong&gt;" not in page
    # whatever the store holds (a row written before the sanitiser, by hand), the page cleans it
    from service.web.kind_values import kind_row

    row = kind_row("body", '<p onclick="x()">旧<script>alert(1)</script></p>', {}, {"rich": ["body"]})
    assert row is not None and str(row["html"]) == "<p>旧</p>" and row["value"] == "旧"
