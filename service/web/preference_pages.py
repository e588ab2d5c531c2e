"""通知方式 (/me/notifications and GET/PUT /api/v1/me/notifications): a person chooses whether a
new task (新待办) also reaches them by SMS or e-mail; the in-app notice always shows. The
deliveries themselves are queued with the step (service/task_notices.py) and sent by the timer
poll (service/senders.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from service import policy, task_notices
from service.errors import Invalid
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor

preference_pages = Blueprint("preferences", __name__)
preference_api = Blueprint("preferences_api", __name__, url_prefix="/api/v1")
csrf.exempt(preference_api)  # bearer tokens, no cookies: no CSRF to guard against


def _render(status: int = 200, errors: dict[str, str] | None = None, shown: dict[str, Any] | None = None) -> Any:
    actor = current_actor()
    policy.require_own_choices(actor, actor.username)
    with services().db.read() as session:
        current = task_notices.choices(session, actor)
    return render_template("me_notifications.html", choices={**current, **(shown or {})},
                           errors=errors or {}), status


@preference_pages.get("/me/notifications")
@login_required
def notifications_page() -> Any:
    return _render()


@preference_pages.post("/me/notifications")
@login_required
def notifications_save() -> Any:
    actor = current_actor()
    policy.require_own_choices(actor, actor.username)
    wanted = {c: request.form.get(c) in ("1", "on", "true") for c in ("sms", "email")}
    try:
        with services().db.write() as session:
            task_notices.choose(session, actor, wanted)
    except Invalid as exc:
        errors = {d["field"]: d["message"] for d in exc.details}
        flash("未保存：" + "；".join(errors.values()), "error")
        return _render(422, errors, wanted)
    chosen = [task_notices.CHANNEL_NAMES[c] for c in ("sms", "email") if wanted[c]]
    flash("已保存：新待办将通过站内通知" + "".join(f"、{c}" for c in chosen) + "告知您", "success")
    return redirect(url_for("preferences.notifications_page"))


@preference_api.get("/me/notifications")
@token_required
def api_get() -> Any:
    actor = api_actor()
    policy.require_own_choices(actor, actor.username)
    with services().db.read() as session:
        return jsonify(task_notices.choices(session, actor))


@preference_api.put("/me/notifications")
@token_required
def api_put() -> Any:
    actor = api_actor()
    policy.require_own_choices(actor, actor.username)
    body = json_body()
    with services().db.write() as session:
        return jsonify(task_notices.choose(session, actor, body))


preference_pages.register_blueprint(preference_api)  # one register_blueprint line serves both
