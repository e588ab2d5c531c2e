"""登记 (start forms): /instances/new/<process>, the start form of a procedure's latest version.
The readable start paths procedures declare in their contract call `new_instance` too
(registered by `_procedure_routes` in service/web/__init__.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import login_required

from service import definitions, policy, procedure
from service.errors import GovFlowError, Invalid
from service.form_versions import form_of
from service.forms import coerce
from service.web.attachment_pages import at_registration, large_body, registration_uploads
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.formview import form_context, initial_values, submitted_values
from service.web.guards import current_actor

starts = Blueprint("starts", __name__)


def _render_start(process: str, values: dict[str, Any] | None = None, exc: Invalid | None = None,
                  status: int = 200) -> Any:
    svc = services()
    with svc.db.read() as session:
        definition = definitions.latest(session, process)
        form = form_of(session, svc.runtime.forms, definition.start_form_key, definition.id) \
            if definition.start_form_key else None  # the latest version's start form
        if values is None:
            values = initial_values(form) if form else {}
        ctx = form_context(form, values, exc, session)
    declared = procedure.get(process)
    return render_template("start.html", process=process, definition=definition,
                           hint=declared.starters.hint if declared else "",
                           action=request.path, **ctx), status


@starts.route("/instances/new/<process>", methods=["GET", "POST"])
@large_body  # the form may carry the letter's scans (附件)
@login_required
def new_instance(process: str) -> Any:
    actor = current_actor()
    policy.require_start(actor, process)
    if request.method == "GET":
        return _render_start(process)
    svc = services()
    with svc.db.read() as session:
        definition = definitions.latest(session, process)
        form_key = definition.start_form_key
        schema = form_of(session, svc.runtime.forms, form_key, definition.id).schema if form_key \
            else {"properties": {}}
    data = coerce(schema, request.form.to_dict(flat=False))
    try:
        uploads = registration_uploads(process)  # checked before anything is registered
    except GovFlowError as exc:  # a refused file (type, size): the form again, nothing registered
        return _render_start(process, submitted_values(), Invalid(f"附件未通过检查：{exc.message}"), exc.status)

    def register() -> tuple[str, str]:
        # the case and its files in one transaction: both are committed, or neither
        result = svc.runtime.start(process, data, actor, then=at_registration(uploads, process))
        return url_for("cases.instance_page", instance_id=result["id"]), f"已登记，编号 {result['business_key']}"

    try:
        return submit_once(register)  # a double click on 登记 registers one case
    except Invalid as exc:
        return _render_start(process, submitted_values(), exc, 422)
