"""The public site (临沧人大网站管理制度 第三条–第五条, 第十一条 撤稿; issue 11 item 5): only published,
not withdrawn articles, without login; bodies sanitised again on output; caching by ETag; a
Chinese 404; the articles' images and files; the preview of an article being written.

Articles are driven through the real procedure as the demo users: web1 registers and edits,
bgs reviews (all five points passed), web1 publishes; web1 withdraws."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

from conftest import ApiClient, done, login, pin_clock, text

ARTICLE = {
    "title": "市人大常委会召开第十五次会议",
    "column": "人大要闻",
    "author": "李明",
    "source": "临沧人大网",
    "reprint": False,
    "classified": False,
    "department": "dept_fgw",
    "received_at": "2026-12-01T09:00:00+08:00",
    "body": "<p>会议听取和审议了有关报告。</p>",
}
PASSED = {"wording": True, "secrecy": True, "ideology": True, "ethnic_religion": True, "border": True}
NOT_FOUND = "您访问的页面不存在或已撤下"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DIRTY = ('<p style="color:red" onclick="steal()">正文<script>alert(1)</script>'
         '<img src=x onerror=alert(1)><a href="javascript:alert(2)">点此</a></p>')


def register(api: ApiClient, **changes: Any) -> int:
    r = api.post("web1", "/api/v1/instances",
                 json={"process": "article_publication", "data": {**ARTICLE, **changes}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def to_publish(api: ApiClient, iid: int, **edit: Any) -> None:
    """Edited by web1 and approved by bgs: the article waits for 上传发布."""
    case = api.instance("web1", iid)["data"]
    done(api, "web1", iid, "edit", {"title": case["title"], "column": case["column"], "body": case["body"], **edit})
    done(api, "bgs", iid, "review", {"checks": PASSED, "check_comments": {}, "comment": "", "decision": "approve"})


def published(api: ApiClient, **changes: Any) -> int:
    iid = register(api, **changes)
    to_publish(api, iid)
    done(api, "web1", iid, "publish", {})
    return iid


def withdraw(api: ApiClient, iid: int) -> None:
    r = api.post("web1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "内容有误，撤下更正"})
    assert r.status_code == 200, r.get_json()


def upload(api: ApiClient, iid: int, name: str, content: bytes) -> int:
    r = api.post("web1", f"/api/v1/instances/{iid}/attachments",
                 data={"file": (io.BytesIO(content), name), "kind": "其他"}, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()[0]["id"])


def columns_setting(app: Any) -> list[str]:
    from workflows import site_content

    with app.app_context():
        return site_content.columns()


# ----- home, column, article --------------------------------------------------------------------------


def test_home_lists_every_column_and_the_latest_articles(api: ApiClient) -> None:
    news = published(api)
    notice = published(api, title="关于召开代表座谈会的公告", column="公告通知")
    r = api.app.test_client().get("/site/")
    page = text(r)
    assert r.status_code == 200
    for name in columns_setting(api.app):  # the column bar and a box for each, in the setting's order
        assert f">{name}</a>" in page
    assert page.index(">人大要闻</a>") < page.index(">公告通知</a>") < page.index(">县(区)人大</a>")
    assert f'href="/site/articles/{news}"' in page and "市人大常委会召开第十五次会议" in page
    assert f'href="/site/articles/{notice}"' in page and "关于召开代表座谈会的公告" in page
    assert "最新发布" in page and "2026-12-01" in page
    assert "人大网站" in page and "人大常委会办公室" in page  # header name and footer office (settings)


def test_the_site_name_and_columns_come_from_the_settings(sqlite_api: ApiClient) -> None:
    for key, value in (("site_name", "临沧人大网"), ("site_office", "临沧市人大常委会办公室"),
                       ("columns", "人大要闻，公告通知、代表工作")):
        r = sqlite_api.client.put(f"/api/v1/settings/article_publication.{key}", json={"value": value},
                                  headers=sqlite_api.headers("admin"))
        assert r.status_code == 200, r.get_json()
    client = sqlite_api.app.test_client()
    page = text(client.get("/site/"))
    assert '<a class="site-name" href="/site/">临沧人大网</a>' in page and "主办：临沧市人大常委会办公室" in page
    assert re.findall(r'class="box-title"><a href="[^"]+">([^<]+)</a>', page) == ["人大要闻", "公告通知", "代表工作"]
    assert client.get("/site/columns/代表工作").status_code == 200
    assert client.get("/site/columns/监督纵横").status_code == 404  # no longer a column


def test_a_column_lists_newest_first_twenty_a_page(api: ApiClient) -> None:
    from service import clock

    base = clock.now()
    ids = []
    for n in range(21):
        pin_clock(base + timedelta(minutes=n))
        ids.append(published(api, title=f"监督工作第{n + 1:02d}篇", column="监督纵横"))
    published(api, title="另一栏目的文章", column="人大要闻")
    client = api.app.test_client()
    first = text(client.get("/site/columns/监督纵横"))
    second_r = client.get("/site/columns/监督纵横?page=2")
    second = text(second_r)
    assert second_r.status_code == 200
    on_first = re.findall(r'href="/site/articles/(\d+)"', first.split('class="box box-column"')[1])
    assert [int(i) for i in on_first] == ids[::-1][:20]  # newest first, twenty
    assert "监督工作第21篇" in first and "监督工作第01篇" not in first and "另一栏目的文章" not in first
    assert "监督工作第01篇" in second and "监督工作第02篇" not in second
    assert "共 21 篇" in first and "第 1/2 页" in first and "page=2" in first
    assert "第 2/2 页" in second
    assert client.get("/site/columns/监督纵横?page=3").status_code == 404
    assert client.get("/site/columns/监督纵横?page=abc").status_code == 404


def test_an_article_is_public_only_from_publication_until_withdrawal(api: ApiClient) -> None:
    client = api.app.test_client()  # anonymous: no login anywhere on the site
    iid = register(api)
    assert client.get(f"/site/articles/{iid}").status_code == 404  # registered
    to_publish(api, iid)
    r = client.get(f"/site/articles/{iid}")
    assert r.status_code == 404 and NOT_FOUND in text(r)  # approved, not yet published
    done(api, "web1", iid, "publish", {})
    r = client.get(f"/site/articles/{iid}")
    page = text(r)
    assert r.status_code == 200
    assert '<h1 class="article-title">市人大常委会召开第十五次会议</h1>' in page
    assert "作者：李明" in page and "来源：临沧人大网" in page and "发布时间：2026-12-01 10:00" in page
    assert "<p>会议听取和审议了有关报告。</p>" in page
    assert "当前位置" in page and 'href="/site/columns/%E4%BA%BA%E5%A4%A7%E8%A6%81%E9%97%BB">人大要闻</a>' in page
    assert f"/site/articles/{iid}" in text(client.get("/site/"))
    withdraw(api, iid)
    r = client.get(f"/site/articles/{iid}")
    assert r.status_code == 404 and NOT_FOUND in text(r)
    assert f"/site/articles/{iid}" not in text(client.get("/site/"))
    assert f"/site/articles/{iid}" not in text(client.get("/site/columns/人大要闻"))


def test_the_site_needs_no_login(sqlite_api: ApiClient) -> None:
    iid = published(sqlite_api)
    client = sqlite_api.app.test_client()
    for path in ("/site/", "/site/columns/人大要闻", f"/site/articles/{iid}"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "/login" not in text(r) and "我的待办" not in text(r)  # no app navigation either
        assert "Set-Cookie" not in r.headers


# ----- sanitising ------------------------------------------------------------------------------------


def _assert_clean(page: str) -> None:
    body = page.split('<div class="article-body">')[1].split("</div>")[0]
    assert "正文" in body and "点此" in body
    for bad in ("<script", "alert(", "onerror", "onclick", "javascript:", "style="):
        assert bad not in page, bad


def test_a_script_in_a_body_never_reaches_the_page(api: ApiClient) -> None:
    iid = published(api, body=DIRTY)
    _assert_clean(text(api.app.test_client().get(f"/site/articles/{iid}")))


def test_a_body_row_is_cleaned_again_on_output(api: ApiClient) -> None:
    """Whatever a read-model row holds (an older sanitiser's output, a row written by hand), the
    page cleans it again with service.html_clean."""
    from sqlalchemy import update

    from service.store.models import ReadRow

    iid = published(api)
    with api.app.extensions["govflow"].db.write() as session:
        session.execute(update(ReadRow).where(ReadRow.model == "site_bodies", ReadRow.row_key == str(iid))
                        .values(data=json.dumps({"body": DIRTY}, ensure_ascii=False)))
    _assert_clean(text(api.app.test_client().get(f"/site/articles/{iid}")))


# ----- headers -----------------------------------------------------------------------------------------


def test_public_pages_are_revalidated_by_etag_and_answer_304(api: ApiClient) -> None:
    iid = published(api)
    client = api.app.test_client()
    for path in ("/site/", "/site/columns/人大要闻", f"/site/articles/{iid}"):
        r = client.get(path)
        assert r.headers["Cache-Control"] == "public, no-cache", path
        etag = r.headers["ETag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b"", path
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    before = client.get("/site/").headers["ETag"]
    published(api, title="新发布的文章")
    assert client.get("/site/", headers={"If-None-Match": before}).status_code == 200  # changed: new bytes


def test_public_pages_allow_no_script(sqlite_api: ApiClient) -> None:
    iid = published(sqlite_api)
    client = sqlite_api.app.test_client()
    for path in ("/site/", "/site/columns/人大要闻", f"/site/articles/{iid}", "/site/columns/无此栏目"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'none'" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp and "base-uri 'none'" in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script" not in text(r)


def test_unknown_columns_and_addresses_get_the_chinese_404(app: Any) -> None:
    client = app.test_client()
    for path in ("/site/columns/无此栏目", "/site/articles/99999", "/site/files/99999", "/site/files/99999999999",
                 "/site/articles/99999999999", "/site/no/such/page"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert NOT_FOUND in text(r) and "返回网站首页" in text(r)
    r = client.get("/no-such-page")  # the application's own 404 is unchanged
    assert r.status_code == 404 and NOT_FOUND not in text(r)


# ----- files -------------------------------------------------------------------------------------------


def test_an_image_of_a_published_article_is_public_until_withdrawal(api: ApiClient) -> None:
    iid = register(api)
    image = upload(api, iid, "会场.png", PNG)
    to_publish(api, iid, body=f'<p>会场</p><p><img src="/site/files/{image}" alt="会场"></p>')
    done(api, "web1", iid, "publish", {})
    client = api.app.test_client()
    assert f'<img src="/site/files/{image}" alt="会场">' in text(client.get(f"/site/articles/{iid}"))
    r = client.get(f"/site/files/{image}")
    assert r.status_code == 200 and r.data == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"].startswith("inline")
    assert r.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert r.headers["ETag"].strip('"') == __import__("hashlib").sha256(PNG).hexdigest()
    assert client.get(f"/site/files/{image}", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    withdraw(api, iid)
    r = client.get(f"/site/files/{image}")
    assert r.status_code == 404 and NOT_FOUND in text(r)


def test_a_document_of_a_published_article_is_listed_for_download(sqlite_api: ApiClient) -> None:
    iid = register(sqlite_api)
    pdf = upload(sqlite_api, iid, "会议议程.pdf", PDF)
    image = upload(sqlite_api, iid, "图.png", PNG)
    to_publish(sqlite_api, iid)
    done(sqlite_api, "web1", iid, "publish", {})
    client = sqlite_api.app.test_client()
    page = text(client.get(f"/site/articles/{iid}"))
    assert f'<a href="/site/files/{pdf}">会议议程.pdf</a>' in page
    assert f'href="/site/files/{image}"' not in page  # images belong in the body, not the list
    r = client.get(f"/site/files/{pdf}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment")


def test_a_file_of_an_unpublished_article_is_only_for_who_may_open_it(api: ApiClient) -> None:
    iid = register(api)
    image = upload(api, iid, "草图.png", PNG)
    assert api.app.test_client().get(f"/site/files/{image}").status_code == 404  # anonymous
    api.app.config["WTF_CSRF_ENABLED"] = False
    r = login(api.app, "web1").get(f"/site/files/{image}")  # the editor's preview shows it
    assert r.status_code == 200 and r.data == PNG
    assert r.headers["Cache-Control"] == "private, no-store" and "ETag" not in r.headers
    assert login(api.app, "fgw1").get(f"/site/files/{image}").status_code == 404  # does not see the case


# ----- preview -----------------------------------------------------------------------------------------


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf token on the page"
    return found.group(1)


def test_the_preview_needs_login_and_csrf_and_shows_the_cleaned_body(sqlite_app: Any) -> None:
    form = {"title": "预览的稿件", "column": "人大要闻", "author": "王芳", "source": "本网", "body": DIRTY,
            "reprint": "on"}
    anonymous = sqlite_app.test_client()
    token = _token(text(anonymous.get("/login")))
    r = anonymous.post("/site/preview", data={**form, "csrf_token": token})
    assert r.status_code == 302 and "/login" in r.headers["Location"]  # login first
    client = sqlite_app.test_client()
    token = _token(text(client.get("/login")))
    assert client.post("/login", data={"username": "web1", "password": "govflow-demo",
                                       "csrf_token": token}).status_code == 302
    assert client.post("/site/preview", data=form).status_code == 400  # no CSRF token
    r = client.post("/site/preview", data={**form, "csrf_token": token})
    page = text(r)
    assert r.status_code == 200
    assert "预览（未发布）" in page and '<h1 class="article-title">预览的稿件</h1>' in page
    assert "作者：王芳" in page and "来源：本网" in page
    _assert_clean(page)
    assert r.headers["Cache-Control"] == "no-store" and "ETag" not in r.headers
    assert "script-src 'none'" in r.headers["Content-Security-Policy"]
