"""查询 (/search): the search form, its sortable result table, the Excel export of the results,
and the user's saved filters (save, use, delete). The query itself is service/search.py, the
same one the case list and the API use."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import login_required

from service import audit, clock, queries, saved_filters, search, search_export
from service.errors import BadRequest, Forbidden, Invalid
from service.web.case_view import list_rows
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor, int_arg, process_names
from service.web.layout import STATUS_LABELS

search_pages = Blueprint("search_pages", __name__)

PAGE_SIZE = 50


def _sort_links(criteria: search.Criteria) -> dict[str, dict[str, str]]:
    """Each sortable column's header link: ascending first, a second click descending."""
    links = {}
    base = search.query_string(criteria, keep_personal=True)
    for key, label in search.SORT_LABELS.items():
        current = criteria.sort == key
        order = "desc" if current and criteria.order == "asc" else "asc"
        links[key] = {"label": label, "url": url_for("search_pages.search_page", **{**base, "sort": key, "order": order}),
                      "state": criteria.order if current else ""}
    return links


def _render(args: Any, error: tuple[int, str] | None = None, save_error: str | None = None,
            save_name: str = "") -> Any:
    """The page for these query-string arguments; `error` (status, message) is shown above it."""
    actor = current_actor()
    offset = int_arg("offset") or 0
    with services().db.read() as session:
        offered = search.offered_personal(session, actor)
        filters = saved_filters.for_user(session, actor)
        processes = process_names(session)
        groups = queries.groups(session)
        criteria, items, total, more = search.Criteria(), [], 0, False
        if error is None:
            try:
                criteria = search.parse(args)
                rows = search.find(session, actor, criteria, limit=PAGE_SIZE + 1, offset=offset)
                total = search.count(session, actor, criteria) if rows or offset else 0
                more = len(rows) > PAGE_SIZE
                items = list_rows(session, rows[:PAGE_SIZE], queries.instance_json)
            except (BadRequest, Forbidden) as exc:
                error = (exc.status, exc.message)
    kept = search.query_string(criteria, keep_personal=True)
    values = {name: args.get(name, "") for name in (*search.PARAMS, *offered)}
    context = {
        "items": items, "total": total, "values": values, "offered": offered, "processes": processes,
        "groups": groups, "saved": [{**f, "url": f"{url_for('search_pages.search_page')}?{f['query']}"} for f in filters],
        "sorts": _sort_links(criteria), "error": error[1] if error else None, "save_name": save_name,
        "save_error": save_error,
        "saved_query": urlencode(search.query_string(criteria)), "has_personal": bool(criteria.personal),
        "export_url": url_for("search_pages.export", **kept), "export_limit": search.EXPORT_LIMIT,
        "prev_url": url_for("search_pages.search_page", **kept, offset=max(offset - PAGE_SIZE, 0)) if offset else None,
        "next_url": url_for("search_pages.search_page", **kept, offset=offset + PAGE_SIZE) if more else None,
    }
    return render_template("search.html", **context), error[0] if error else 200


@search_pages.get("/search")
@login_required
def search_page() -> Any:
    return _render(request.args)


@search_pages.get("/search/export")
@login_required
def export() -> Any:
    """All results (up to EXPORT_LIMIT) as an Excel file; bad criteria: the page with the error."""
    made_at = clock.now()
    try:
        criteria = search.parse(request.args)
        with services().db.read() as session:
            body = search_export.workbook(session, current_actor(), criteria, STATUS_LABELS, made_at)
    except (BadRequest, Forbidden) as exc:
        return _render(request.args, (exc.status, exc.message))
    audit.write(services().db, audit.EXPORT, target=search_export.SHEET_NAME, detail=search_export.described(criteria))
    return Response(body, mimetype=search_export.ledger_excel.XLSX_MIME,
                    headers={"Content-Disposition": search_export.content_disposition(made_at)})


@search_pages.post("/search/filters")
@login_required
def save_filter() -> Any:
    name, query = request.form.get("name", ""), request.form.get("query", "")

    def save() -> tuple[str, str]:
        saved = saved_filters.save(services().db, current_actor(), name, query)
        return f"{url_for('search_pages.search_page')}?{saved['query']}", f"已保存查询条件“{saved['name']}”"

    try:
        return submit_once(save)
    except Invalid as exc:  # said beside the form, the criteria and the name kept
        page, _status = _render(dict(parse_qsl(query)), save_error=exc.message, save_name=name)
        return page, 422


@search_pages.post("/search/filters/<int:filter_id>/delete")
@login_required
def delete_filter(filter_id: int) -> Any:
    def delete() -> tuple[str, str]:
        gone = saved_filters.delete(services().db, current_actor(), filter_id)
        return url_for("search_pages.search_page"), f"已删除查询条件“{gone['name']}”"

    return submit_once(delete)
