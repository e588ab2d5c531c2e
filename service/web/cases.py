"""案件列表: the case list with its filters, a case's page (data, history, open tasks, diagram,
the messages the user may register and the 督办 panel), and registering a message."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import login_required
from sqlalchemy.orm import Session

from service import clock, notices, policy, procedure, queries
from service.actors import Actor
from service.errors import Invalid
from service.forms import coerce
from service.web.case_view import case_context, list_rows
from service.web.context import services
from service.web.dates import due_state
from service.web.form_tokens import submit_once
from service.web.formview import form_context, initial_values, submitted_values
from service.web.guards import current_actor, group_names, int_arg, process_names, user_names

cases = Blueprint("cases", __name__)


@cases.get("/instances")
@login_required
def instances() -> Any:
    page_size = 50
    offset = int_arg("offset") or 0
    filters = {
        "process": request.args.get("process", "").strip(),
        "status": request.args.get("status", "").strip(),
        "overdue": request.args.get("overdue") in ("1", "on", "true"),
        "stalled_days": int_arg("stalled_days"),
        "q": request.args.get("q", "").strip(),
    }
    with services().db.read() as session:
        rows = queries.instances(
            session, current_actor(), process=filters["process"] or None, status=filters["status"] or None,
            overdue=filters["overdue"], stalled_days=filters["stalled_days"], q=filters["q"] or None,
            limit=page_size + 1, offset=offset,
        )
        processes = process_names(session)
        items = list_rows(session, rows[:page_size], queries.instance_json)
    args = {k: v for k, v in request.args.items() if k != "offset"}
    return render_template(
        "instances.html", items=items, filters=filters, processes=processes,
        prev_url=url_for("cases.instances", **args, offset=max(offset - page_size, 0)) if offset else None,
        next_url=url_for("cases.instances", **args, offset=offset + page_size) if len(rows) > page_size else None,
    )


def _message_forms(case: dict[str, Any], actor: Actor, session: Session,
                   posted: tuple[str, dict[str, Any], Invalid] | None = None) -> list[dict[str, Any]]:
    """The messages this user may send to the case now (its procedure's rules, the policy), each
    with its form's fields when the rule declares one (a refused post comes back with its values)."""
    declared = procedure.get(case["process"])
    if declared is None:
        return []
    forms = services().runtime.forms
    shown = []
    for rule in declared.messages:
        if rule.name not in case["awaited_messages"] or not policy.may_message(actor, case["process"], rule.name):
            continue
        item: dict[str, Any] = {
            "name": rule.name, "action": rule.action or f"登记{rule.label}", "prompt": rule.prompt,
            "confirm": rule.confirm, "deadline": case["data"].get(rule.deadline_key) if rule.deadline_key else None,
            "fields": [], "rules": [], "form_errors": [], "form_message": None}
        if rule.form_key and forms.exists(rule.form_key):
            form = forms.get(rule.form_key)
            refused = posted[2] if posted is not None and posted[0] == rule.name else None
            values = posted[1] if posted is not None and refused is not None else initial_values(form)
            item.update(form_context(form, values, refused, session))
        shown.append(item)
    return shown


def _mark_notices_read(instance_id: int, actor: Actor) -> None:
    """Opening a case reads its notices: the user's unread notices of this case are marked read."""
    with services().db.read() as session:
        ids = [n["id"] for n in notices.for_user(session, actor, unread_only=True, limit=10_000)
               if n["instance_id"] == instance_id]
    if ids:
        with services().db.write() as session:
            notices.mark_read(session, actor, ids, clock.now())


def _case_page(instance_id: int, posted: tuple[str, dict[str, Any], Invalid] | None = None) -> Any:
    """The case page; `posted` is a refused message (name, submitted values, the error)."""
    actor = current_actor()
    with services().db.read() as session:
        ctx = case_context(session, instance_id)
        message_forms = _message_forms(ctx["case"], actor, session, posted)
    if posted is None:
        _mark_notices_read(instance_id, actor)
    case = ctx["case"]
    current = sorted(set(case["current_steps"]) | {t["bpmn_id"] for t in case["open_tasks"]})
    overdue = [t["bpmn_id"] for t in case["open_tasks"] if due_state(t["due_at"]) == "overdue"]
    return render_template(
        "instance.html", **ctx,
        diagram={"xml": url_for("definitions.definition_xml", definition_id=case["definition_id"]),
                 "done": case["completed_steps"], "current": current, "overdue": overdue,
                 "started": True, "ended": case["status"] == "completed"},
        message_forms=message_forms,
        supervise=_supervise_context(case) if policy.supervises(actor, case["process"]) else None,
    )


@cases.get("/instances/<int:instance_id>")
@login_required
def instance_page(instance_id: int) -> Any:
    return _case_page(instance_id)


def _supervise_context(case: dict[str, Any]) -> dict[str, Any] | None:
    """The 督办 panel of a running case: its open tasks (for 改派), each with the groups its
    procedure allows that step to be moved to."""
    if case["status"] != "running":
        return None
    with services().db.read() as session:
        groups = queries.groups(session)
        names, users = group_names(session), user_names(session)
    tasks = [{"id": t["id"], "name": t["name"], "assignee": t["assignee"],
              "holder": users.get(t["assignee"], t["assignee"]) if t["assignee"]
              else "、".join(names.get(k, k) for k in t["candidate_groups"]),
              "groups": policy.reassign_targets(case["process"], t["bpmn_id"], t["candidate_groups"], groups)}
             for t in case["open_tasks"]]
    return {"tasks": tasks, "groups": groups}


@cases.post("/instances/<int:instance_id>/messages/<name>")
@login_required
def post_message(instance_id: int, name: str) -> Any:
    actor = current_actor()
    with services().db.read() as session:
        process = queries.visible_instance(session, actor, instance_id).process_key
    policy.require_message(actor, process, name)
    declared = procedure.get(process)
    rule = declared.message(name) if declared else None

    forms = services().runtime.forms
    form = forms.get(rule.form_key) if rule and rule.form_key and forms.exists(rule.form_key) else None
    payload = coerce(form.schema, request.form.to_dict(flat=False)) if form else {}

    def register() -> tuple[str, str]:
        services().runtime.send_message(instance_id, name, payload, actor)
        return url_for("cases.instance_page", instance_id=instance_id), f"已登记{rule.label if rule else name}"

    try:
        return submit_once(register)  # a double click registers the message once
    except Invalid as exc:  # said next to the fields, the values kept
        return _case_page(instance_id, (name, submitted_values(), exc)), 422
