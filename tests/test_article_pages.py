"""The article pages: the list `/articles` (who sees which articles, stage and column filters, the
same-day deadline in red) and the case panel (the article as it reads, cleaned; 撤稿 for those
who may withdraw)."""

from __future__ import annotations

import re
from typing import Any

from conftest import ApiClient, login, text
from test_article_rules import ALL_PASS, COUNTY_ARTICLE, complete, edit, published, registered


def keys(page: str) -> set[str]:
    return set(re.findall(r'data-business-key="(GJ-\d{4}-\d{5})"', page))


def key_of(api: ApiClient, iid: int) -> str:
    return str(api.instance("web1", iid)["business_key"])


def county_article(api: ApiClient) -> int:
    r = api.post("lxweb1", "/api/v1/instances", json={"process": "article_publication", "data": COUNTY_ARTICLE})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def test_the_list_shows_each_user_the_articles_the_policy_lets_them_see(page_app: Any) -> None:
    api = ApiClient(page_app)
    office = key_of(api, registered(api))
    county = key_of(api, county_article(api))
    for user, expected in (("web1", {office, county}), ("bgs", {office, county}), ("admin", {office, county}),
                           ("lxweb1", {county}), ("lxld1", {county})):
        r = login(page_app, user).get("/articles")
        assert r.status_code == 200, user
        assert keys(text(r)) == expected, user
    assert login(page_app, "fgw1").get("/articles").status_code == 403
    assert login(page_app, "xfk1").get("/articles").status_code == 403
    # the navigation offers the list to those who may open it
    assert "稿件列表" in text(login(page_app, "web1").get("/tasks"))
    assert "稿件列表" not in text(login(page_app, "fgw1").get("/tasks"))


def test_the_list_filters_by_stage_and_column_and_marks_overdue_red(page_app: Any) -> None:
    api = ApiClient(page_app)
    late = registered(api, received_at="2026-11-30T09:00:00+08:00", title="昨天收到的稿件")
    topic = registered(api, column="主题教育")
    done = published(api)
    client = login(page_app, "web1")
    page = text(client.get("/articles"))
    assert keys(page) == {key_of(api, i) for i in (late, topic, done)}
    row = re.search(rf'<tr class="([^"]*)" data-business-key="{key_of(api, late)}".*?</tr>', page, re.S)
    assert row is not None and "row-overdue" in row.group(1) and "已超期" in row.group(0)
    assert keys(text(client.get("/articles?stage=published"))) == {key_of(api, done)}
    assert keys(text(client.get("/articles?stage=editing"))) == {key_of(api, late), key_of(api, topic)}
    assert keys(text(client.get("/articles?column=主题教育"))) == {key_of(api, topic)}
    assert keys(text(client.get("/articles?column=主题教育&stage=published"))) == set()
    assert client.get("/articles?stage=nonsense").status_code == 422


def test_the_case_panel_shows_the_article_cleaned_and_withdraw_for_its_senders(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = registered(api, body="<p>正文<strong>加粗</strong></p><script>alert('x')</script>"
                               "<img src=x onerror=\"alert('y')\">")
    page = text(login(page_app, "web1").get(f"/instances/{iid}"))
    assert 'id="article-panel"' in page and "市人大常委会召开第十次会议" in page
    assert "<strong>加粗</strong>" in page
    assert "alert(" not in page and "onerror" not in page
    edit(api, iid)
    complete(api, "bgs", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, "web1", iid, "publish", {})
    page = text(login(page_app, "web1").get(f"/instances/{iid}"))
    assert "已发布" in page and f'href="/site/articles/{iid}"' in page
    assert 'id="message-withdraw"' in page  # the procedure's 撤稿 form
    assert login(page_app, "lxweb1").get(f"/instances/{iid}").status_code == 403  # not the county's
    # withdrawn through the page's own form: gone from the list's published, shown as 已撤稿
    r = login(page_app, "bgs").post(f"/instances/{iid}/messages/withdraw", data={"reason": "须更正"})
    assert r.status_code == 302, text(r)
    page = text(login(page_app, "web1").get(f"/instances/{iid}"))
    assert "已撤稿" in page and "须更正" in page and f'href="/site/articles/{iid}"' not in page
    assert keys(text(login(page_app, "web1").get("/articles?stage=withdrawn"))) == {key_of(api, iid)}


def test_a_county_article_names_its_county_on_the_case_page_not_the_group_key(page_app: Any) -> None:
    """`county` and `department` are derived group keys (unit_keys): people read the unit's name."""
    iid = county_article(ApiClient(page_app))
    page = text(login(page_app, "lxld1").get(f"/instances/{iid}"))
    assert "临翔区人大常委会" in page and "county_linxiang" not in page
