"""突发事件统计 on the web (ISSUE 12 items 6 and 8): the year's summary (API.md
`GET /api/v1/reports/emergencies?year=YYYY[&format=xlsx]`, page `/reports/emergencies`: the
figures, an ECharts bar of the types, the per-emergency ledger below) and the 预案演练记录
(`/reports/emergency-drills?year=`, `GET /api/v1/reports/emergency-drills?year=`).

The summary's address is the ledger's (`emergencies`, service/ledgers.py): these static routes
take precedence over the platform's `/reports/<key>` ones, so the one page shows the summary and
the ledger's rows, and its Excel file holds both sheets. Who may read is the ledger's rule
(service/ledgers.py); the figures are counted in workflows/emergency_figures.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import current_user, login_required

from service import audit, clock, ledger_excel, ledgers
from service.actors import Actor
from service.errors import Invalid
from service.ledgers import Column, Ledger, Period
from service.procedure import NavLink
from service.report_periods import parse_period
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services
from workflows import emergency_figures as figures

TEMPLATES = Path(__file__).resolve().parent / "templates"

stats_api = Blueprint("emergency_stats_api", __name__, url_prefix="/api/v1")
stats_pages = Blueprint("emergency_stats", __name__, template_folder=str(TEMPLATES))
stats_pages.register_blueprint(stats_api)
csrf.exempt(stats_api)
# The drills record apart: a page of its own area (the navigation marks areas by blueprint).
drills_api = Blueprint("emergency_drills_api", __name__, url_prefix="/api/v1")
drills_pages = Blueprint("emergency_drills", __name__, template_folder=str(TEMPLATES))
drills_pages.register_blueprint(drills_api)
csrf.exempt(drills_api)

# The summary as the Excel file's first sheet: one line per figure.
SUMMARY = Ledger(
    key="emergencies",
    name="突发事件统计表",
    readers=figures.READERS,
    columns=(Column("group", "类别", "text", 12), Column("item", "项目", "text", 26),
             Column("value", "数值", "text", 12)),
    build=lambda session, period, _names: summary_lines(figures.summary(session, period.year)),
    periods=("year",),
)


def summary_lines(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary object as the table lines of the page's print form and the Excel sheet."""
    def line(group: str, item: str, value: Any) -> dict[str, Any]:
        return {"group": group, "item": item, "value": "—" if value is None else value}

    return [
        line("总体", "突发事件（不含演练）", data["total"]),
        line("总体", "迟报", data["late_reports"]),
        line("总体", "平均核实用时（分钟）", data["average_minutes_to_verify"]),
        line("总体", "平均处置用时（小时）", data["average_hours_to_end"]),
        *(line("响应级别", figures.LEVEL_NAMES[k], n) for k, n in data["by_level"].items()),
        *(line("事件类型", t, n) for t, n in data["by_type"].items()),
        line("演练", "未计入统计的演练", data["drills"]),
    ]


# ----- shared ------------------------------------------------------------------------------------------


def _year(now: Any) -> int:
    """`year=YYYY` (422 in Chinese when malformed, out of range or another period); this year if none."""
    if any((request.args.get(k) or "").strip() for k in ledgers.PERIOD_KINDS):
        return parse_period(request.args, ("year",)).year
    return Period.containing("year", now).year


def _wants_xlsx() -> bool:
    wanted = (request.args.get("format") or "json").strip().lower()
    if wanted not in ("json", "xlsx", "html"):
        raise Invalid("不支持的导出格式", [{"field": "format", "message": "format 只能为 xlsx（不填则返回 JSON）"}])
    return wanted == "xlsx"


def may_read_drills(actor: Actor) -> bool:
    return ledgers.may_read(actor, figures.DRILLS)


def _xlsx(tables: list[tuple[Ledger, list[dict[str, Any]]]], named: Ledger, period: Period) -> Response:
    audit.write(services().db, audit.EXPORT, target=named.name,
                detail=f"Excel：{period.label}，{sum(len(rows) for _ledger, rows in tables)} 行")
    response = Response(ledger_excel.workbook(tables, period), mimetype=ledger_excel.XLSX_MIME)
    response.headers["Content-Disposition"] = ledger_excel.content_disposition(named, period)
    response.headers["Cache-Control"] = "no-store"
    return response


def _summary_xlsx(period: Period) -> Response:
    with services().db.read() as session:
        data = figures.summary(session, period.year)
        rows = figures.build(session, period, {})
    return _xlsx([(SUMMARY, summary_lines(data)), (figures.LEDGER, rows)], SUMMARY, period)


def _drills_xlsx(period: Period) -> Response:
    with services().db.read() as session:
        rows = figures.drill_rows(session, period)
    return _xlsx([(figures.DRILLS, rows)], figures.DRILLS, period)


def _drill_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**{c.key: ledgers.json_value(c, row.get(c.key)) for c in figures.DRILLS.columns},
            "instance_id": row["instance_id"], "level": row["level"], "status": row["status"]}


def _years(now: Any, year: int) -> list[int]:
    this = Period.containing("year", now).year
    years = list(range(this, this - 5, -1))
    return years if year in years else [year, *years]


# ----- JSON API ----------------------------------------------------------------------------------------


@stats_api.get("/reports/emergencies")
@token_required
def summary_json() -> Any:
    ledgers.require_read(api_actor(), figures.LEDGER)
    period = Period.of_year(_year(clock.now()))
    if _wants_xlsx():
        return _summary_xlsx(period)
    with services().db.read() as session:
        return jsonify(figures.summary(session, period.year))


@drills_api.get("/reports/emergency-drills")
@token_required
def drills_json() -> Any:
    ledgers.require_read(api_actor(), figures.DRILLS)
    period = Period.of_year(_year(clock.now()))
    if _wants_xlsx():
        return _drills_xlsx(period)
    with services().db.read() as session:
        rows = figures.drill_rows(session, period)
    return jsonify([_drill_json(r) for r in rows])


# ----- pages -------------------------------------------------------------------------------------------


def _page_year(now: Any) -> tuple[int, Invalid | None]:
    try:
        return _year(now), None
    except Invalid as exc:
        return Period.containing("year", now).year, exc


@stats_pages.get("/reports/emergencies")
@login_required
def summary_page() -> Any:
    actor = current_user.actor
    ledgers.require_read(actor, figures.LEDGER)
    now = clock.now()
    year, error = _page_year(now)
    period = Period.of_year(year)
    if error is None and _wants_xlsx():
        return _summary_xlsx(period)
    with services().db.read() as session:
        data = figures.summary(session, year)
        rows = [] if error else figures.build(session, period, {})
    chart = {"types": list(data["by_type"]), "counts": list(data["by_type"].values())}
    others = [other for other in ledgers.readable(actor) if other.key != figures.LEDGER.key]
    return render_template(
        "emergency/stats_summary.html", data=data, chart=chart, year=year, years=_years(now, year),
        period=period, rows=rows, ledger=figures.LEDGER, display=ledgers.display, error=error,
        level_names=figures.LEVEL_NAMES, others=others, office=ledgers.office_name(), made_at=now,
        export_url=url_for("emergency_stats.summary_page", year=year, format="xlsx"),
        json_url=url_for("emergency_stats.emergency_stats_api.summary_json", year=year),
        drills_url=url_for("emergency_drills.drills_page", year=year) if may_read_drills(actor) else None,
    ), (422 if error else 200)


@drills_pages.get("/reports/emergency-drills")
@login_required
def drills_page() -> Any:
    ledgers.require_read(current_user.actor, figures.DRILLS)
    now = clock.now()
    year, error = _page_year(now)
    period = Period.of_year(year)
    if error is None and _wants_xlsx():
        return _drills_xlsx(period)
    with services().db.read() as session:
        rows = [] if error else figures.drill_rows(session, period)
    return render_template(
        "emergency/stats_drills.html", rows=rows, year=year, years=_years(now, year), period=period,
        ledger=figures.DRILLS, display=ledgers.display, error=error, office=ledgers.office_name(), made_at=now,
        export_url=url_for("emergency_drills.drills_page", year=year, format="xlsx"),
        summary_url=url_for("emergency_stats.summary_page", year=year)
        if ledgers.may_read(current_user.actor, figures.LEDGER) else None,
    ), (422 if error else 200)


BLUEPRINTS: tuple[Blueprint, ...] = (stats_pages, drills_pages)
LEDGERS: tuple[Ledger, ...] = (figures.LEDGER,)
# No top-bar entry: the summary is the ledger's page under 统计报表, and the drills record is linked
# from it (预案演练记录) for those who may read it — the top bar is full on a 1360 px screen already.
NAV: tuple[NavLink, ...] = ()
