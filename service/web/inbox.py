"""我的待办: the inbox, a task's page and its form (办理), and 签收 / 退回签收."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from service import policy, queries
from service.errors import GovFlowError, Invalid
from service.forms import coerce
from service.web.case_view import case_context, case_marks, listed_ids, task_view
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.formview import form_context, initial_values, submitted_values
from service.web.guards import back, current_actor

inbox = Blueprint("inbox", __name__)


@inbox.get("/tasks")
@login_required
def tasks() -> Any:
    with services().db.read() as session:
        found = queries.inbox(session, current_actor())
        listed = listed_ids(session, {t.instance_id for t in found})
        marks = case_marks(session, {t.instance_id for t in found})
        rows = [{**task_view(queries.task_json(t), session), "listed": t.instance_id in listed,
                 "marks": marks.get(t.instance_id, [])} for t in found]
    return render_template("tasks.html", tasks=rows)


@inbox.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> Any:
    try:
        services().runtime.claim(task_id, current_actor())
        flash("已签收，该任务只由您办理", "success")
    except GovFlowError as exc:
        flash(exc.message, "error")
    return redirect(back(url_for("inbox.tasks")))


@inbox.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> Any:
    try:
        services().runtime.unclaim(task_id, current_actor())
        flash("已退回签收，组内其他人可以办理", "success")
    except GovFlowError as exc:
        flash(exc.message, "error")
    return redirect(back(url_for("inbox.tasks")))


# ----- 办理 (task page) ------------------------------------------------------------------------


def _render_task(task_id: str, values: dict[str, Any] | None = None, exc: Invalid | None = None,
                 status: int = 200) -> Any:
    svc = services()
    actor = current_actor()
    with svc.db.read() as session:
        row = queries.get_task(session, actor, task_id)
        task = task_view(queries.task_json(row), session)
        form = svc.runtime.forms.get(row.form_key) if row.form_key else None
        is_open = row.state == "open"
        ctx = case_context(session, row.instance_id) if is_open else {}
        if values is None:
            values = initial_values(form) if form else {}
        ctx.update(form_context(form, values, exc, session))
    return render_template(
        "task.html", task=task, is_open=is_open,
        may_act=is_open and policy.may_act(actor, row.candidate_groups, row.assignee), **ctx,
    ), status


@inbox.get("/tasks/<task_id>")
@login_required
def task_page(task_id: str) -> Any:
    return _render_task(task_id)


@inbox.post("/tasks/<task_id>")
@login_required
def task_submit(task_id: str) -> Any:
    svc = services()
    with svc.db.read() as session:
        row = queries.get_task(session, current_actor(), task_id)
        form_key = row.form_key
    schema = svc.runtime.forms.get(form_key).schema if form_key else {"properties": {}}
    data = coerce(schema, request.form.to_dict(flat=False))

    def complete() -> tuple[str, str]:
        result = svc.runtime.complete(task_id, data, current_actor())
        return url_for("inbox.tasks"), "已办理，案件已办结" if result["instance"]["status"] == "completed" else "已办理"

    try:
        return submit_once(complete)  # a double click on 提交办理 completes the task once
    except Invalid as exc:
        return _render_task(task_id, submitted_values(), exc, 422)
