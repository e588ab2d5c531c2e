"""委托 (delegation while away): /me/delegation to make, list and revoke one's delegations, and
the same as JSON under /api/v1/me/delegations. The rules are the policy's (service/policy.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from service import clock, delegations
from service.errors import GovFlowError, Invalid
from service.store.models import User
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor, group_names

delegation_api = Blueprint("delegation_api", __name__, url_prefix="/api/v1")
delegation_pages = Blueprint("delegation_pages", __name__)
delegation_pages.register_blueprint(delegation_api)
csrf.exempt(delegation_api)

FIELDS = ("delegate", "starts_at", "ends_at", "reason")


def _colleagues(session: Any, username: str) -> list[dict[str, str]]:
    """Who may be picked: every other active user, by name, with their units."""
    names = group_names(session)
    users = session.scalars(select(User).where(User.active.is_(True), User.username != username).order_by(User.name))
    return [{"username": u.username, "label": f"{u.name}（{'、'.join(names.get(g, g) for g in u.group_keys)}）"}
            for u in users]


def _render(values: dict[str, str] | None = None, exc: Invalid | None = None, status: int = 200) -> Any:
    actor = current_actor()
    with services().db.read() as session:
        items = delegations.for_user(session, actor)
        colleagues = _colleagues(session, actor.username)
    errors = {d.get("field", ""): d.get("message", "") for d in (exc.details if exc else [])}
    today = clock.now().date().isoformat()
    return render_template("delegation.html", items=items, colleagues=colleagues, errors=errors,
                           message=exc.message if exc else None, today=today,
                           values=values or {"starts_at": today},
                           acting_for=[d.name or d.username for d in actor.delegators]), status


@delegation_pages.get("/me/delegation")
@login_required
def delegation_page() -> Any:
    return _render()


@delegation_pages.post("/me/delegation")
@login_required
def delegation_create() -> Any:
    values = {k: request.form.get(k, "").strip() for k in FIELDS}

    def create() -> tuple[str, str]:
        made = delegations.create(services().db, current_actor(), values)
        return url_for("delegation_pages.delegation_page"), f"已委托 {made['delegate_name']} 代为办理"

    try:
        return submit_once(create)
    except Invalid as exc:
        return _render(values, exc, 422)


@delegation_pages.post("/me/delegation/<int:delegation_id>/revoke")
@login_required
def delegation_revoke(delegation_id: int) -> Any:
    try:
        delegations.revoke(services().db, current_actor(), delegation_id)
        flash("委托已撤销，即时生效", "success")
    except GovFlowError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
    return redirect(url_for("delegation_pages.delegation_page"))


# ----- JSON API -------------------------------------------------------------------------------


@delegation_api.get("/me/delegations")
@token_required
def list_delegations() -> Any:
    with services().db.read() as session:
        return jsonify(delegations.for_user(session, api_actor()))


@delegation_api.post("/me/delegations")
@token_required
def post_delegation() -> Any:
    return jsonify(delegations.create(services().db, api_actor(), json_body())), 201


@delegation_api.delete("/me/delegations/<int:delegation_id>")
@token_required
def delete_delegation(delegation_id: int) -> Any:
    return jsonify(delegations.revoke(services().db, api_actor(), delegation_id))
