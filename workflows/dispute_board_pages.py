"""The screening rounds on the web: a round's report board (`/rounds/<id>/reports`, API
`GET /api/v1/instances/{id}/reports`) for whoever may see the round, and the compliance view
across rounds (`/reports/dispute-compliance`, API `GET /api/v1/reports/dispute-compliance?year=`)
for the readers of the dispute reports (综治办 and the leaders). Both ask the platform's rules:
seeing a case (service/policy.py through queries.visible_instance) and reading a ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, ledgers, procedure, queries
from service.actors import Actor
from service.errors import NotFound
from service.report_periods import Period, parse_period
from service.store.models import History, Instance
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services
from workflows import dispute_register, dispute_reports

TEMPLATES = Path(__file__).resolve().parent / "templates"

board_api = Blueprint("dispute_board_api", __name__, url_prefix="/api/v1")
board_pages = Blueprint("dispute_board", __name__, template_folder=str(TEMPLATES))
board_pages.register_blueprint(board_api)
csrf.exempt(board_api)

# The heat map's codes (ECharts visualMap pieces), in the legend's order.
HEAT = ((dispute_reports.ON_TIME, 4, "#15803d"), (dispute_reports.ZERO, 3, "#2563eb"),
        (dispute_reports.LATE, 2, "#d97706"), (dispute_reports.PENDING, 1, "#9ca3af"),
        (dispute_reports.MISSING, 0, "#dc2626"))


def _round(session: Session, actor: Actor, instance_id: int) -> Instance:
    """The round if this user may see it: 404 for no such case (or one that is not a round), 403
    for a case they may not see (as every case address answers)."""
    inst = queries.visible_instance(session, actor, instance_id)
    if inst.process_key not in dispute_reports.ROUND_KEYS:
        raise NotFound("该案件不是矛盾纠纷排查，没有报告情况")
    return inst


def _start_data(session: Session, inst: Instance) -> dict[str, Any]:
    raw = session.scalar(select(History.data_after).where(History.instance_id == inst.id,
                                                          History.action == "start").limit(1))
    try:
        found = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _year(now: Any) -> int:
    """`year=YYYY` (422 in Chinese when malformed or another period is given); this year if none."""
    if any((request.args.get(k) or "").strip() for k in ledgers.PERIOD_KINDS):
        return parse_period(request.args, ("year",)).year
    return Period.containing("year", now).year


def may_read_compliance(actor: Actor) -> bool:
    return ledgers.may_read(actor, dispute_register.LEDGER)


def _require_compliance(actor: Actor) -> None:
    ledgers.require_read(actor, dispute_register.LEDGER)


# ----- JSON API ------------------------------------------------------------------------------------------


@board_api.get("/instances/<int:instance_id>/reports")
@token_required
def round_reports(instance_id: int) -> Any:
    with services().db.read() as session:
        inst = _round(session, api_actor(), instance_id)
        rows = dispute_reports.board(session, inst)
    return jsonify(rows)


@board_api.get("/reports/dispute-compliance")
@token_required
def compliance_json() -> Any:
    _require_compliance(api_actor())
    now = clock.now()
    year = _year(now)
    with services().db.read() as session:
        return jsonify(dispute_reports.compliance(session, year, now))


# ----- pages ---------------------------------------------------------------------------------------------


@board_pages.get("/rounds/<int:instance_id>/reports")
@login_required
def round_reports_page(instance_id: int) -> Any:
    actor = current_user.actor
    now = clock.now()
    with services().db.read() as session:
        inst = _round(session, actor, instance_id)
        rows = dispute_reports.board(session, inst, now)
        start = _start_data(session, inst)
    declared = procedure.get(inst.process_key)
    due = dispute_reports.round_due(rows)
    counts = {status: sum(1 for r in rows if r["status"] == status)
              for status in (dispute_reports.REPORTED, dispute_reports.ZERO, dispute_reports.MISSING)}
    return render_template(
        "dispute/round_reports.html", inst=inst, rows=rows, counts=counts, due=due, now=now,
        past_due=due is not None and now > due, period=start.get("period"),
        important_period=start.get("important_period"),
        process_name=declared.name if declared else inst.process_key,
        late_count=sum(1 for r in rows if r["late"] and r["status"] != dispute_reports.MISSING),
        compliance_url=url_for("dispute_board.compliance_page") if may_read_compliance(actor) else None,
    )


def _heat(data: dict[str, Any]) -> dict[str, Any]:
    """The ECharts heat map's series: [month index, department index, code] per monthly cell."""
    codes = {status: code for status, code, _colour in HEAT}
    points = []
    for y, dept in enumerate(data["departments"]):
        for x, month in enumerate(data["months"]):
            cell = dept["months"].get(month)
            if cell is not None:
                points.append([x, y, codes[cell["status"]]])
    return {"months": [f"{int(m[5:])}月" for m in data["months"]],
            "departments": [d["group_name"] for d in data["departments"]], "points": points,
            "pieces": [{"value": code, "label": dispute_reports.CELL_NAMES[status], "color": colour}
                       for status, code, colour in HEAT]}


@board_pages.get("/reports/dispute-compliance")
@login_required
def compliance_page() -> Any:
    actor = current_user.actor
    _require_compliance(actor)
    now = clock.now()
    year = _year(now)
    with services().db.read() as session:
        data = dispute_reports.compliance(session, year, now)
    years = list(range(Period.containing("year", now).year, Period.containing("year", now).year - 5, -1))
    if year not in years:
        years.insert(0, year)
    return render_template("dispute/compliance.html", data=data, chart=_heat(data), year=year, years=years,
                           names=dispute_reports.CELL_NAMES, office=ledgers.office_name(), made_at=now,
                           register_url=url_for("reports_pages.report_page", ledger_key=dispute_register.LEDGER.key))


BLUEPRINTS: tuple[Blueprint, ...] = (board_pages,)
