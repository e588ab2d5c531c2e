"""停权 in a page (/admin/suspensions: the members of every suspendable group, their status, 停权 and
恢复 with a reason, the record below) and in the API (/api/v1/admin/suspensions). The
administrator's alone (service.policy.require_suspensions); the rules are service/suspensions.py's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_login import login_required

from service import policy, suspensions
from service.errors import GovFlowError
from service.store.suspension_models import MAX_REASON
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor

suspension_api = Blueprint("suspension_api", __name__, url_prefix="/api/v1")
suspension_pages = Blueprint("suspension_pages", __name__)
suspension_pages.register_blueprint(suspension_api)
csrf.exempt(suspension_api)

FIELDS = ("username", "group", "reason")


def _render(error: GovFlowError | None = None, values: dict[str, str] | None = None) -> Any:
    actor = current_actor()
    with services().db.read() as session:
        view = suspensions.overview(session, actor)
    errors = {d.get("field", ""): d.get("message", "") for d in (error.details if error else [])}
    return render_template("suspensions.html", view=view, error=error.message if error else None,
                           errors=errors, values=values or {}, max_reason=MAX_REASON), \
        error.status if error else 200


@suspension_pages.get("/admin/suspensions")
@login_required
def index() -> Any:
    policy.require_suspensions(current_actor())
    return _render()


def _post(action: Any, done: str) -> Any:
    policy.require_suspensions(current_actor())
    values = {k: request.form.get(k, "").strip() for k in FIELDS}

    def run() -> tuple[str, str]:
        made = action(services().db, current_actor(), values)
        released = f"，其已签收的 {len(made['released_tasks'])} 件待办已退回组内" if made["released_tasks"] else ""
        return url_for("suspension_pages.index"), f"已{done} {made['name']} 在“{made['group_name']}”的权限{released}"

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if exc.status not in (409, 422):
            raise
        return _render(exc, values)


@suspension_pages.post("/admin/suspensions")
@login_required
def suspend() -> Any:
    return _post(suspensions.suspend, "停用")


@suspension_pages.post("/admin/suspensions/restore")
@login_required
def restore() -> Any:
    return _post(suspensions.restore, "恢复")


# ----- JSON API -------------------------------------------------------------------------------


@suspension_api.get("/admin/suspensions")
@token_required
def list_suspensions() -> Any:
    with services().db.read() as session:
        return jsonify(suspensions.overview(session, api_actor()))


@suspension_api.post("/admin/suspensions")
@token_required
def post_suspension() -> Any:
    policy.require_suspensions(api_actor())  # 403 before the body is even read
    return jsonify(suspensions.suspend(services().db, api_actor(), json_body())), 201


@suspension_api.post("/admin/suspensions/restore")
@token_required
def post_restore() -> Any:
    policy.require_suspensions(api_actor())
    return jsonify(suspensions.restore(services().db, api_actor(), json_body()))
