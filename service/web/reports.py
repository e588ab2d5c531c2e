"""统计报表 (台账) on the web: `GET /api/v1/reports/<key>` (token; JSON rows or `&format=xlsx`) and
the page `/reports/<key>` (login; period picker, the table, 导出Excel), for every ledger the
installed procedures declare (service/ledgers.py). The API blueprint is nested in the pages
one, so the app factory registers one blueprint; it is exempt from CSRF as the rest of the
API is (it only reads, but keeps the API's rule)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from service import audit, clock, ledger_excel, ledgers
from service.actors import Actor
from service.errors import Forbidden, Invalid
from service.ledgers import Ledger, Period
from service.procedure import Procedure
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services

reports_api = Blueprint("reports_api", __name__, url_prefix="/api/v1")
reports_pages = Blueprint("reports_pages", __name__)
reports_pages.register_blueprint(reports_api)
csrf.exempt(reports_api)

FORMATS = ("json", "xlsx")


def _format() -> str:
    wanted = (request.args.get("format") or "json").strip().lower()
    if wanted not in FORMATS:
        raise Invalid("不支持的导出格式", [{"field": "format", "message": "format 只能为 xlsx（不填则返回 JSON）"}])
    return wanted


def _ledger_for(actor: Actor, key: str) -> tuple[Procedure, Ledger]:
    """404 for a ledger nobody declares, then 403 for those who may not read it."""
    declared, ledger = ledgers.find(key)
    ledgers.require_read(actor, ledger)
    return declared, ledger


def _rows(declared: Procedure, ledger: Ledger, period: Period) -> list[dict[str, Any]]:
    with services().db.read() as session:
        return ledgers.build_rows(session, declared, ledger, period)


def _xlsx(ledger: Ledger, period: Period, rows: list[dict[str, Any]]) -> Response:
    audit.write(services().db, audit.EXPORT, target=ledger.name, detail=f"Excel：{period.label}，{len(rows)} 行")
    response = Response(ledger_excel.to_xlsx(ledger, period, rows), mimetype=ledger_excel.XLSX_MIME)
    response.headers["Content-Disposition"] = ledger_excel.content_disposition(ledger, period)
    response.headers["Cache-Control"] = "no-store"
    return response


# ----- JSON API ----------------------------------------------------------------------------------


@reports_api.get("/reports/<ledger_key>")
@token_required
def report(ledger_key: str) -> Any:
    declared, ledger = _ledger_for(api_actor(), ledger_key)
    period = ledgers.parse_period(request.args, ledger.periods)
    wanted = _format()
    rows = _rows(declared, ledger, period)
    if wanted == "xlsx":
        return _xlsx(ledger, period, rows)
    return jsonify(ledgers.json_rows(ledger, rows))


# ----- pages -------------------------------------------------------------------------------------


@reports_pages.app_context_processor
def _report_links() -> dict[str, Any]:
    """base.html's 统计报表 entry: the ledgers this user may read (the first one is linked)."""
    if not current_user.is_authenticated:
        return {}
    try:
        found = ledgers.readable(current_user.actor)
    except Exception:  # noqa: BLE001 - the layout must render whatever happens here
        found = []
    return {"report_links": [{"key": ledger.key, "label": ledger.name,
                              "url": url_for("reports_pages.report_page", ledger_key=ledger.key)}
                             for ledger in found]}


@reports_pages.get("/reports")
@login_required
def reports_index() -> Any:
    found = ledgers.readable(current_user.actor)
    if not found:
        raise Forbidden("您没有可查看的统计报表")
    return redirect(url_for("reports_pages.report_page", ledger_key=found[0].key))


@reports_pages.get("/reports/<ledger_key>")
@login_required
def report_page(ledger_key: str) -> Any:
    declared, ledger = _ledger_for(current_user.actor, ledger_key)
    now = clock.now()
    error: Invalid | None = None
    if any((request.args.get(k) or "").strip() for k in ledgers.PERIOD_KINDS):
        try:
            period = ledgers.parse_period(request.args, ledger.periods)
        except Invalid as exc:
            error, period = exc, Period.containing(ledger.periods[0], now)
    else:
        period = Period.containing(ledger.periods[0], now)
    if error is None and (request.args.get("format") or "").strip().lower() == "xlsx":
        return _xlsx(ledger, period, _rows(declared, ledger, period))
    rows = [] if error else _rows(declared, ledger, period)
    pickers = [{"kind": kind, "name": ledgers.PERIOD_NAMES[kind],
                "choices": ledgers.recent_periods(kind, now, period)} for kind in ledger.periods]
    others = [other for other in ledgers.readable(current_user.actor) if other.key != ledger.key]
    return render_template(
        "report.html", ledger=ledger, period=period, rows=rows, total=ledgers.total_row(ledger, rows),
        error=error, pickers=pickers, others=others, display=ledgers.display, office=ledgers.office_name(),
        made_at=now, export_url=url_for("reports_pages.report_page", ledger_key=ledger.key, format="xlsx",
                                        **period.query),
    ), (422 if error else 200)
