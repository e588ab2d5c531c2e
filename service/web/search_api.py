"""The search in the JSON API: `GET /api/v1/search` (the criteria of /search, rows with paging,
`format=xlsx` for the Excel file), the fields a user may search by, and the saved filters
(`GET/POST /api/v1/search/filters`, `GET/DELETE /api/v1/search/filters/<id>`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from service import audit, clock, queries, saved_filters, search, search_export
from service.errors import BadRequest
from service.web.api_support import api_actor, int_arg, json_body, token_required
from service.web.context import services
from service.web.layout import STATUS_LABELS

search_api = Blueprint("search_api", __name__, url_prefix="/api/v1")

DEFAULT_LIMIT = 50


@search_api.get("/search")
@token_required
def run_search() -> Any:
    criteria = search.parse(request.args)
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "xlsx"):
        raise BadRequest("参数 format 只能是 json 或 xlsx")
    with services().db.read() as session:
        if fmt == "xlsx":
            made_at = clock.now()
            body = search_export.workbook(session, api_actor(), criteria, STATUS_LABELS, made_at)
            audit.write(services().db, audit.EXPORT, target=search_export.SHEET_NAME,
                        detail=search_export.described(criteria))
            return Response(body, mimetype=search_export.ledger_excel.XLSX_MIME,
                            headers={"Content-Disposition": search_export.content_disposition(made_at)})
        limit = min(int_arg("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT, search.MAX_LIMIT)
        offset = int_arg("offset", 0) or 0
        rows = search.find(session, api_actor(), criteria, limit=limit + 1, offset=offset)
        return jsonify({
            "rows": queries.instance_rows(session, rows[:limit]),
            "total": search.count(session, api_actor(), criteria),
            "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(rows) > limit else None,
        })


@search_api.get("/search/fields")
@token_required
def search_fields() -> Any:
    """What this user may search by beyond the common criteria, and the sortable columns."""
    with services().db.read() as session:
        offered = search.offered_personal(session, api_actor())
    return jsonify({"personal": [{"key": k, "label": v} for k, v in offered.items()],
                    "sorts": [{"key": k, "label": v} for k, v in search.SORT_LABELS.items()]})


@search_api.get("/search/filters")
@token_required
def list_filters() -> Any:
    with services().db.read() as session:
        return jsonify(saved_filters.for_user(session, api_actor()))


@search_api.post("/search/filters")
@token_required
def save_filter() -> Any:
    body = json_body()
    return jsonify(saved_filters.save(services().db, api_actor(), body.get("name"), body.get("query", ""))), 201


@search_api.get("/search/filters/<int:filter_id>")
@token_required
def get_filter(filter_id: int) -> Any:
    with services().db.read() as session:
        return jsonify(saved_filters.as_json(saved_filters.get(session, api_actor(), filter_id)))


@search_api.delete("/search/filters/<int:filter_id>")
@token_required
def delete_filter(filter_id: int) -> Any:
    return jsonify({"deleted": saved_filters.delete(services().db, api_actor(), filter_id)})
