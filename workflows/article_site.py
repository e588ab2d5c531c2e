"""The public site (网站, 临沧人大网站管理制度 第三条–第五条): the office's published articles for
anyone, without login — a home page with every column and its latest articles, a column page
(newest first, 20 a page), an article page — and the preview (预览) of an article being
registered or edited, for logged-in users. Pages read only the read models `site_articles` and
`site_bodies` (workflows/article_models.py writes them from the history: a row on 发布, removed
on 撤稿) and the settings, so a withdrawn article leaves the site with the step that withdrew it.
Files: workflows/site_files.py; reading and the headers: workflows/site_content.py."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, url_for
from flask_login import login_required

from service import clock, queries
from service.errors import Forbidden, NotFound
from service.procedure import SettingSpec
from service.web.context import services
from service.web.guards import current_actor
from workflows import site_content
from workflows.site_content import TEMPLATES_DIR, not_found, page, private_page
from workflows.site_files import site_files

site_pages = Blueprint("site", __name__, url_prefix="/site", template_folder=str(TEMPLATES_DIR),
                       static_folder=str(TEMPLATES_DIR / "site" / "static"), static_url_path="/static")

# The site's own settings; workflows/article.py includes them in the procedure's, so they are
# stored as `article_publication.site_name` and `article_publication.site_office`.
SETTINGS: tuple[SettingSpec, ...] = (site_content.SITE_NAME, site_content.SITE_OFFICE)
BLUEPRINTS: tuple[Blueprint, ...] = (site_pages, site_files)


@site_pages.errorhandler(NotFound)
@site_pages.errorhandler(404)
@site_files.errorhandler(NotFound)
@site_files.errorhandler(404)
def _not_found(_exc: Any) -> Response:
    return not_found()


@site_pages.get("/")
def home() -> Response:
    """Every column of the setting, in its order, with its latest five, and the latest overall."""
    names = site_content.columns()
    with services().db.read() as session:
        latest = site_content.latest(session)
        boxes = [{"name": name, "url": url_for("site.column", column=name),
                  "articles": site_content.latest(session, name, site_content.HOME_PER_COLUMN)} for name in names]
    return page("site/home.html", latest=latest, boxes=boxes)


def _page_number() -> int | None:
    """`?page=N` (1 when absent); None for anything that is not a page number."""
    raw = (request.args.get("page") or "1").strip()
    if not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        return None
    return int(raw)


@site_pages.get("/columns/<column>")
def column(column: str) -> Response:
    """One column, newest first, 20 a page; an unknown column or page is the site's 404."""
    number = _page_number()
    if column not in site_content.columns() or number is None:
        return not_found()
    per = site_content.PER_PAGE
    with services().db.read() as session:
        total = site_content.count(session, column)
        pages = max(1, -(-total // per))
        if number > pages:
            return not_found()
        items = site_content.latest(session, column, per, (number - 1) * per)

    def link(n: int) -> str:
        return url_for("site.column", column=column, page=n) if n > 1 else url_for("site.column", column=column)

    return page("site/column.html", column=column, items=items, total=total, number=number, pages=pages,
                links=[{"n": n, "url": link(n)} for n in range(1, pages + 1)],
                prev_url=link(number - 1) if number > 1 else None,
                next_url=link(number + 1) if number < pages else None, current=column)


@site_pages.get("/articles/<int:instance_id>")
def article(instance_id: int) -> Response:
    """An article while it is on the site; before 发布 and after 撤稿 the site's 404."""
    with services().db.read() as session:
        found = site_content.article(session, instance_id)
    if found is None:
        return not_found()
    return page("site/article.html", article=found, current=found["column"], preview=False)


def _posted(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _case_byline() -> dict[str, Any]:
    """The registered author and source of the article a task page's 预览 names (`?case=<id>`,
    service/web/formview.py): the edit form holds neither. Only for a user the policy lets see
    that case; any other case, or none, adds nothing."""
    raw = (request.args.get("case") or "").strip()
    if not raw.isdigit() or len(raw) > 12:
        return {}
    with services().db.read() as session:
        try:
            inst = queries.visible_instance(session, current_actor(), int(raw))
        except (NotFound, Forbidden):
            return {}
        if inst.process_key != site_content.PROCESS:
            return {}
        found = site_content.registered(session, inst.id)
    return {name: str(found.get(name) or "") for name in ("author", "source")}


@site_pages.post("/preview")
@login_required
def preview() -> Response:
    """The article as the site will show it, from the register or edit form posted whole (CSRF
    checked app-wide): its body through the same sanitiser, marked 预览（未发布）, never cached."""
    case = _case_byline()  # what the posted form does not hold (the 编辑 form: no author, source)
    posted = {
        "id": None, "title": _posted("title", 200) or "（无标题）", "column": _posted("column", 100),
        "author": _posted("author", 100) or case.get("author", ""),
        "source": _posted("source", 200) or case.get("source", ""),
        "published_text": site_content.preview_date(clock.now()), "files": [],
        "body": site_content.cleaned(request.form.get("body") or ""),
    }
    return private_page("site/article.html", article=posted, current=posted["column"], preview=True)


@site_pages.route("/<path:_rest>")
def unknown(_rest: str) -> Response:
    """Any other address under /site/: the site's own 404, not the application's page."""
    return not_found()
