"""我的待办: the inbox, a task's page and its form (办理), 签收 / 退回签收, and the tabs beside the
inbox: 已办 (tasks one completed, with what one decided) and 办结 (finished cases of one's groups)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from service import common_comments, delegations, done_lists, policy, queries
from service.errors import BadRequest, GovFlowError, Invalid
from service.form_versions import task_form
from service.forms import coerce
from service.store.models import Definition, Instance
from service.web.case_labels import data_rows, labels_for
from service.web.case_view import case_context, case_marks, list_rows, listed_ids, task_view
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.formview import form_context, initial_values, submitted_values
from service.web.guards import back, current_actor, group_names, int_arg, process_names, user_names
from service.web.step_notes import notes_for

inbox = Blueprint("inbox", __name__)


@inbox.get("/tasks")
@login_required
def tasks() -> Any:
    with services().db.read() as session:
        actor = current_actor()
        found = queries.inbox(session, actor)
        listed = listed_ids(session, {t.instance_id for t in found})
        marks = case_marks(session, {t.instance_id for t in found})
        rows = [{**task_view(queries.task_json(t), session), "listed": t.instance_id in listed,
                 "marks": marks.get(t.instance_id, []) + delegations.inbox_mark(actor, t.candidate_groups, t.assignee)}
                for t in found]
    return render_template("tasks.html", tasks=rows)


# ----- 已办 and 办结 ----------------------------------------------------------------------------

PAGE_SIZE = 50


def _filters() -> tuple[dict[str, str], dict[str, Any], int, dict[str, Any]]:
    """The filters as typed (for the form), as the queries take them (a bad date is flashed and
    dropped), the offset, and the paging links' arguments."""
    shown = {name: request.args.get(name, "").strip() for name in ("process", "q", "since", "until")}
    query: dict[str, Any] = {"process": shown["process"] or None, "q": shown["q"] or None}
    for name, label in (("since", "起始日期"), ("until", "截止日期")):
        try:
            query[name] = done_lists.parse_day(shown[name], name)
        except BadRequest:
            flash(f"{label}格式有误，应为 年-月-日", "error")
            query[name] = None
            shown[name] = ""
    offset = int_arg("offset") or 0
    args = {k: v for k, v in request.args.items() if k != "offset"}
    return shown, query, offset, args


def _paging(endpoint: str, args: dict[str, Any], offset: int, more: bool) -> dict[str, str | None]:
    return {
        "prev_url": url_for(endpoint, **args, offset=max(offset - PAGE_SIZE, 0)) if offset else None,
        "next_url": url_for(endpoint, **args, offset=offset + PAGE_SIZE) if more else None,
    }


@inbox.get("/tasks/done")
@login_required
def done_tasks() -> Any:
    shown, query, offset, args = _filters()
    with services().db.read() as session:
        found = done_lists.done_tasks(session, current_actor(), **query, limit=PAGE_SIZE + 1, offset=offset)
        page = found[:PAGE_SIZE]
        processes, groups = process_names(session), group_names(session)
        marks = case_marks(session, {t["instance_id"] for t in page})
        definitions = {i: d for i, d in session.execute(
            select(Instance.id, Definition).join(Definition, Definition.id == Instance.definition_id)
            .where(Instance.id.in_({t["instance_id"] for t in page})))} if page else {}
        items = []
        for t in page:
            labels = labels_for(definitions[t["instance_id"]])
            decision = t["decision"] if isinstance(t["decision"], dict) else None
            items.append({**t, "process_name": processes.get(t["process"], t["process"]),
                          "marks": marks.get(t["instance_id"], []),
                          "behalf_label": delegations.done_mark(current_actor(), t, user_names(session)),
                          "rows": data_rows(decision, labels["steps"].get(t["bpmn_id"], labels), groups)})
    return render_template("tasks_done.html", items=items, filters=shown, processes=processes,
                           **_paging("inbox.done_tasks", args, offset, len(found) > PAGE_SIZE))


@inbox.get("/cases/finished")
@login_required
def finished_cases() -> Any:
    shown, query, offset, args = _filters()
    with services().db.read() as session:
        found = done_lists.finished_cases(session, current_actor(), **query, limit=PAGE_SIZE + 1, offset=offset)
        page = found[:PAGE_SIZE]
        processes = process_names(session)
        items = list_rows(session, page, done_lists.finished_json)
    return render_template("cases_finished.html", items=items, filters=shown, processes=processes,
                           **_paging("inbox.finished_cases", args, offset, len(found) > PAGE_SIZE))


def _flashed(action: Callable[[], Any], done: str) -> Any:
    """Run a 签收/退回 from the inbox: its result (or why it was refused) flashed, back to the list."""
    try:
        action()
        flash(done, "success")
    except GovFlowError as exc:
        flash(exc.message, "error")
    return redirect(back(url_for("inbox.tasks")))


@inbox.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> Any:
    return _flashed(lambda: services().runtime.claim(task_id, current_actor()), "已签收，该任务只由您办理")


@inbox.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> Any:
    return _flashed(lambda: services().runtime.unclaim(task_id, current_actor()), "已退回签收，组内其他人可以办理")


# ----- 办理 (task page) ------------------------------------------------------------------------


def _render_task(task_id: str, values: dict[str, Any] | None = None, exc: Invalid | None = None,
                 status: int = 200) -> Any:
    svc = services()
    actor = current_actor()
    with svc.db.read() as session:
        row = queries.get_task(session, actor, task_id)
        task = task_view(queries.task_json(row), session)
        form = task_form(session, svc.runtime.forms, row.form_key, row.instance_id)  # its version's form
        is_open = row.state == "open"
        ctx = case_context(session, row.instance_id) if is_open else {}
        if values is None:
            values = initial_values(form, (ctx.get("case") or {}).get("data")) if form else {}
        ctx.update(form_context(form, values, exc, session, case_id=row.instance_id, task_id=row.id))
        ctx["step_notes"] = notes_for(session, row.process_key, row.bpmn_id, ctx.get("case"))
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
        form = task_form(session, svc.runtime.forms, row.form_key, row.instance_id)
    schema = form.schema if form else {"properties": {}}
    data = coerce(schema, request.form.to_dict(flat=False))

    def complete() -> tuple[str, str]:
        result = svc.runtime.complete(task_id, data, current_actor())
        noted = common_comments.after_task(svc.db, current_actor().username, schema, data,  # 常用意见 used/saved
                                           request.form.getlist(common_comments.SAVE_FIELD))
        done = "已办理，案件已办结" if result["instance"]["status"] == "completed" else "已办理"
        return url_for("inbox.tasks"), done + noted

    try:
        return submit_once(complete)  # a double click on 提交办理 completes the task once
    except Invalid as exc:
        return _render_task(task_id, submitted_values(), exc, 422)
