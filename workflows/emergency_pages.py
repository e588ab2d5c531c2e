"""The situation page of an emergency (应急处置态势, `/emergencies/<id>/situation`): what a
commander looks at. It refreshes itself (htmx polls `/emergencies/<id>/situation/fragment` every
10 s), counts down to the next deadline (static/countdown.js; without script the due time is
shown) and prints as the basis of the 专题报告. The JSON twin is
`GET /api/v1/emergencies/<id>/situation`. Who may see it is service.policy's (the case's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, make_response, render_template, url_for
from flask_login import current_user, login_required

from service import clock
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services
from workflows.emergency_situation import situation

TEMPLATES = Path(__file__).resolve().parent / "templates"
POLL_SECONDS = 10

situation_api = Blueprint("emergency_situation_api", __name__, url_prefix="/api/v1")
situation_pages = Blueprint("emergency_situation", __name__, template_folder=str(TEMPLATES))
situation_pages.register_blueprint(situation_api)
csrf.exempt(situation_api)


def _situation(actor: Any, instance_id: int) -> dict[str, Any]:
    with services().db.read() as session:
        return situation(session, actor, instance_id, clock.now())


@situation_api.get("/emergencies/<int:instance_id>/situation")
@token_required
def situation_json(instance_id: int) -> Any:
    return jsonify(_situation(api_actor(), instance_id))


@situation_pages.get("/emergencies/<int:instance_id>/situation")
@login_required
def situation_page(instance_id: int) -> Any:
    found = _situation(current_user.actor, instance_id)
    return render_template(
        "emergency/situation.html", s=found, poll_seconds=POLL_SECONDS,
        fragment_url=url_for("emergency_situation.situation_fragment", instance_id=instance_id),
        case_url=url_for("cases.instance_page", instance_id=instance_id))


@situation_pages.get("/emergencies/<int:instance_id>/situation/fragment")
@login_required
def situation_fragment(instance_id: int) -> Any:
    """The page's body alone, for htmx to swap in (never cached: it is the live situation)."""
    found = _situation(current_user.actor, instance_id)
    response = make_response(render_template("emergency/_situation_body.html", s=found))
    response.headers["Cache-Control"] = "no-store"
    return response


BLUEPRINTS: tuple[Blueprint, ...] = (situation_pages,)
