"""审计日志: the administrator's page of audit rows, /admin/audit, with filters (类别, 用户, 来源地址,
结果, 期间, 文字), paging and 「导出 Excel」 (/admin/audit/export, itself an `export` row); in the API
GET /api/v1/admin/audit (the same filters, `limit`/`offset`). The administrator's alone
(service.audit.require_admin); the queries are service/audit_search.py's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import login_required

from service import audit, audit_search, config_store
from service.errors import Invalid
from service.web.api_support import api_actor, int_arg, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor

audit_api = Blueprint("audit_api", __name__, url_prefix="/api/v1")
audit_pages = Blueprint("audit_pages", __name__)
audit_pages.register_blueprint(audit_api)
csrf.exempt(audit_api)


def _page_url(filters: audit_search.Filters, offset: int) -> str:
    return url_for("audit_pages.index", **filters.args(), **({"offset": offset} if offset else {}))


@audit_pages.get("/admin/audit")
@login_required
def index() -> Any:
    audit.require_admin(current_actor())
    errors: dict[str, str] = {}
    try:
        filters = audit_search.parse(request.args)
    except Invalid as exc:
        errors = {d["field"]: d["message"] for d in exc.details}
        filters = audit_search.Filters()
    offset = int_arg("offset", 0) or 0
    with services().db.read() as session:
        found = audit_search.search(session, filters, audit_search.PAGE_SIZE, offset)
    more = offset + len(found["rows"]) < found["total"]
    return render_template(
        "audit.html", found=found, filters=filters, errors=errors, raw=request.args,
        kinds=audit.KIND_LABELS, results=audit.RESULT_LABELS, keep_days=config_store.get("audit.keep_days"),
        prev_url=_page_url(filters, max(offset - audit_search.PAGE_SIZE, 0)) if offset else None,
        next_url=_page_url(filters, offset + audit_search.PAGE_SIZE) if more else None,
        export_url=url_for("audit_pages.export", **filters.args()),
    ), (422 if errors else 200)


@audit_pages.get("/admin/audit/export")
@login_required
def export() -> Any:
    """The filtered rows as Excel; the export is recorded (in the log it exports from next time)."""
    audit.require_admin(current_actor())
    filters = audit_search.parse(request.args)
    db = services().db
    made_at = audit.now()
    with db.read() as session:
        rows = audit_search.everything(session, filters)
    body = audit_search.workbook(rows, filters, made_at)
    audit.write(db, audit.EXPORT, target=audit_search.SHEET_NAME,
                detail=f"{filters.period()}；{filters.described()}；{len(rows)} 条")
    return Response(body, mimetype=audit_search.ledger_excel.XLSX_MIME,
                    headers={"Content-Disposition": audit_search.content_disposition(made_at)})


# ----- JSON API -------------------------------------------------------------------------------


@audit_api.get("/admin/audit")
@token_required
def api_list() -> Any:
    """{total, limit, offset, rows}: newest first; `limit` at most 500 (default 50)."""
    audit.require_admin(api_actor())
    filters = audit_search.parse(request.args)
    limit = int_arg("limit", audit_search.PAGE_SIZE) or audit_search.PAGE_SIZE
    with services().db.read() as session:
        found = audit_search.search(session, filters, limit, int_arg("offset", 0) or 0)
    return jsonify({**found, "filters": filters.args()})
