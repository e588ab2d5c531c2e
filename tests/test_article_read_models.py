"""The article procedure's read models (workflows/article_models.py): the stage of every article
along the way, the public site's rows only while an article is published and not withdrawn, the
returns per unit — all written in the steps' own transactions and restored from the history by
`govflow rebuild-read-models`."""

from __future__ import annotations

from typing import Any

from conftest import ApiClient
from test_article_rules import ALL_PASS, COUNTY_ARTICLE, complete, edit, registered


def model(app: Any, name: str, tag: str | None = None) -> list[dict[str, Any]]:
    from service.readmodels import rows

    with app.extensions["govflow"].db.read() as session:
        return rows(session, name, tag=tag, limit=1000)


def row(app: Any, name: str, iid: int) -> dict[str, Any] | None:
    return next((r for r in model(app, name) if r["key"] == str(iid)), None)


def stage(app: Any, iid: int) -> str:
    found = row(app, "articles", iid)
    assert found is not None
    return str(found["stage"])


def test_an_article_passes_its_stages_and_is_public_only_while_published(app: Any, api: ApiClient) -> None:
    iid = registered(api, received_at="2026-12-01T08:30:00+08:00")
    first = row(app, "articles", iid)
    assert first is not None and first["stage"] == "editing" and first["tag"] == "editing"
    assert (first["department"], first["register_group"], first["review_group"], first["county"]) == (
        "dept_fgw", "web_admin", "office_leader", None)
    assert first["due_at"] == "2026-12-01T23:59:59+08:00" and first["returns"] == 0
    assert first["registered_at"].startswith("2026-12-01T10:") and first["published_at"] is None
    edit(api, iid, title="修改后的标题")
    assert stage(app, iid) == "reviewing" and row(app, "articles", iid)["title"] == "修改后的标题"
    complete(api, "bgs", iid, "review", {"checks": {**ALL_PASS, "ideology": False},
                                         "check_comments": {"ideology": "提法不当"}, "decision": "return"})
    assert stage(app, iid) == "editing" and row(app, "articles", iid)["returns"] == 1
    assert [r["returned_points"] for r in model(app, "article_returns", "dept_fgw")] == ["意识形态：提法不当"]
    edit(api, iid, title="修改后的标题", body="<p>定稿正文</p>")
    complete(api, "bgs", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    assert stage(app, iid) == "publishing"
    assert row(app, "site_articles", iid) is None and row(app, "site_bodies", iid) is None  # not yet public
    complete(api, "web1", iid, "publish", {})
    done = row(app, "articles", iid)
    assert done["stage"] == "published" and done["returns"] == 1
    assert done["published_at"].startswith("2026-12-01T10:")
    site = row(app, "site_articles", iid)
    assert site is not None and site["tag"] == "人大要闻" and site["title"] == "修改后的标题"
    assert site["published_at"] == done["published_at"] and "body" not in site
    assert row(app, "site_bodies", iid)["body"] == "<p>定稿正文</p>"
    # 撤稿: off the site at once, the list keeps it with who, when and why
    r = api.post("web1", f"/api/v1/articles/{iid}/withdraw", json={"reason": "已过时"})
    assert r.status_code == 200, r.get_json()
    assert row(app, "site_articles", iid) is None and row(app, "site_bodies", iid) is None
    gone = row(app, "articles", iid)
    assert (gone["stage"], gone["withdrawn_by"], gone["withdraw_reason"]) == ("withdrawn", "web1", "已过时")
    assert gone["withdrawn_at"] == r.get_json()["withdrawn_at"] and gone["published_at"] == done["published_at"]


def test_a_county_article_counts_for_its_county(app: Any, api: ApiClient) -> None:
    r = api.post("lxweb1", "/api/v1/instances", json={"process": "article_publication", "data": COUNTY_ARTICLE})
    iid = r.get_json()["id"]
    edit(api, iid, "lxweb1", column="县(区)人大")
    complete(api, "lxld1", iid, "review", {"checks": {**ALL_PASS, "border": False},
                                           "check_comments": {"border": "涉边表述须核实"}, "decision": "return"})
    returned = model(app, "article_returns", "county_linxiang")
    assert [(r["by"], r["county"], r["returned_points"]) for r in returned] == [
        ("lxld1", "county_linxiang", "涉边：涉边表述须核实")]
    edit(api, iid, "lxweb1", column="县(区)人大")
    complete(api, "lxld1", iid, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, "lxweb1", iid, "publish", {})
    site = row(app, "site_articles", iid)
    assert (site["tag"], site["department"], site["county"]) == ("县(区)人大", "county_linxiang", "county_linxiang")


def test_rebuild_read_models_restores_the_article_rows(app: Any, api: ApiClient, db_url: str,
                                                       monkeypatch: Any) -> None:
    """`govflow rebuild-read-models` replays the history: the same rows as the steps wrote."""
    from service import cli
    from service.store.models import ReadRow

    public = registered(api)
    edit(api, public)
    complete(api, "bgs", public, "review", {"checks": {**ALL_PASS, "secrecy": False},
                                            "check_comments": {"secrecy": "涉密数据"}, "decision": "return"})
    edit(api, public)
    complete(api, "bgs", public, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, "web1", public, "publish", {})
    withdrawn = registered(api, title="将撤下的稿件")
    edit(api, withdrawn, title="将撤下的稿件")
    complete(api, "bgs", withdrawn, "review", {"checks": ALL_PASS, "decision": "approve"})
    complete(api, "web1", withdrawn, "publish", {})
    assert api.post("bgs", f"/api/v1/articles/{withdrawn}/withdraw", json={"reason": "重复"}).status_code == 200
    waiting = registered(api)
    names = ("articles", "site_articles", "site_bodies", "article_returns")
    before = {name: sorted((r["key"], r["tag"], repr(sorted(r.items()))) for r in model(app, name)) for name in names}
    assert [r["key"] for r in model(app, "site_articles")] == [str(public)]
    assert {r["key"] for r in model(app, "articles")} == {str(public), str(withdrawn), str(waiting)}
    db = app.extensions["govflow"].db
    with db.write() as session:
        session.query(ReadRow).filter(ReadRow.model.in_(names)).delete(synchronize_session=False)
    assert model(app, "articles") == [] and model(app, "site_articles") == []
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert cli.main(["rebuild-read-models"]) == 0
    after = {name: sorted((r["key"], r["tag"], repr(sorted(r.items()))) for r in model(app, name)) for name in names}
    assert after == before
