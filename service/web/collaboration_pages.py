"""Working together (协同办理): 常用意见 (a user's frequent comments: the page /me/comments, the
picker beside every comment field of a task form), 批量签收 from the inbox, 转办 to a colleague
from a task's page, and the same as JSON under /api/v1 (token; exempt from CSRF like the rest of
the API — the nested blueprint is registered with this one). The 交办回执 panel of the case page
reads the case JSON's `receipts` (service/receipts.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from service import bulk_claims, common_comments, policy, queries, receipts, transfers
from service.errors import GovFlowError, Invalid, NotFound
from service.web.api_support import api_actor, json_body, once, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor

collaboration = Blueprint("collaboration", __name__)
collaboration_api = Blueprint("collaboration_api", __name__, url_prefix="/api/v1")
collaboration.register_blueprint(collaboration_api)
csrf.exempt(collaboration_api)


# ----- what the partials call --------------------------------------------------------------------


@collaboration.app_context_processor
def _partials() -> dict[str, Any]:
    """Functions the partials call when they are drawn (each reads only what its page shows)."""
    return {"common_comment_choices": _choices, "transfer_options": _transfer_options,
            "receipt_waiting": receipts.waiting_text, "SAVE_COMMENT_FIELD": common_comments.SAVE_FIELD}


def _choices() -> list[dict[str, Any]]:
    if not current_user.is_authenticated:
        return []
    with services().db.read() as session:
        return common_comments.list_for(session, current_actor().username)


def _transfer_options(task_id: str) -> dict[str, Any] | None:
    """The 转办 picker of an open task the user may hand on (None: no 转办 form)."""
    if not current_user.is_authenticated:
        return None
    actor = current_actor()
    with services().db.read() as session:
        row = queries.get_task(session, actor, task_id)
        if row.state != "open" or not policy.may_transfer(actor, row.candidate_groups, row.assignee):
            return None
        return {"targets": transfers.colleagues(session, row, actor)}


# ----- 常用意见 pages ----------------------------------------------------------------------------


def _comments_page(error: str | None = None, text: str = "", status: int = 200) -> Any:
    with services().db.read() as session:
        items = common_comments.list_for(session, current_actor().username)
    return render_template("me_comments.html", items=items, error=error, text=text,
                           most=common_comments.MAX_PER_USER, max_length=common_comments.MAX_LENGTH), status


@collaboration.get("/me/comments")
@login_required
def comments_page() -> Any:
    return _comments_page()


@collaboration.post("/me/comments")
@login_required
def comments_add() -> Any:
    text = request.form.get("text", "")
    try:
        _item, new = common_comments.add(services().db, current_actor().username, text)
    except Invalid as exc:  # said beside the field, the text kept
        return _comments_page(exc.message, text, 422)
    flash("已保存常用意见" if new else "该常用意见已存在", "success")
    return redirect(url_for("collaboration.comments_page"))


@collaboration.post("/me/comments/<int:comment_id>/delete")
@login_required
def comments_delete(comment_id: int) -> Any:
    try:
        common_comments.delete(services().db, current_actor().username, comment_id)
        flash("已删除常用意见", "success")
    except NotFound as exc:
        flash(exc.message, "error")
    return redirect(url_for("collaboration.comments_page"))


# ----- 批量签收 and 转办 pages --------------------------------------------------------------------


@collaboration.post("/tasks/bulk-claim")
@login_required
def bulk_claim() -> Any:
    try:
        ids = bulk_claims.task_ids(request.form.getlist("task_ids"))
    except Invalid as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.tasks"))
    result = bulk_claims.claim_many(services().runtime, ids, current_actor())
    others = len(result["results"]) - result["claimed"]
    flash(result["summary"], "success" if not others else ("warn" if result["claimed"] else "error"))
    return redirect(url_for("inbox.tasks"))


@collaboration.post("/tasks/<task_id>/transfer")
@login_required
def transfer_page(task_id: str) -> Any:
    def run() -> tuple[str, str]:
        result = transfers.transfer(services().db, task_id, request.form.get("to"), request.form.get("note"),
                                    current_actor())
        return url_for("inbox.tasks"), f"已转办给 {result['assignee_name']}"

    try:
        return submit_once(run)  # a double click hands the task on once
    except NotFound:
        raise
    except GovFlowError as exc:  # outsider, done meanwhile, not the user's: said on the task page
        flash(exc.message, "error")
        return redirect(url_for("inbox.task_page", task_id=task_id))


# ----- JSON API ----------------------------------------------------------------------------------


@collaboration_api.get("/me/comments")
@token_required
def api_comments() -> Any:
    with services().db.read() as session:
        return jsonify(common_comments.list_for(session, api_actor().username))


@collaboration_api.post("/me/comments")
@token_required
def api_comments_add() -> Any:
    body = json_body()
    item, new = common_comments.add(services().db, api_actor().username, body.get("text"))
    return jsonify(item), 201 if new else 200


@collaboration_api.delete("/me/comments/<int:comment_id>")
@token_required
def api_comments_delete(comment_id: int) -> Any:
    common_comments.delete(services().db, api_actor().username, comment_id)
    return jsonify({"deleted": comment_id})


@collaboration_api.delete("/me/comments")
@token_required
def api_comments_delete_body() -> Any:
    comment_id = json_body().get("id")
    common_comments.delete(services().db, api_actor().username, comment_id)
    return jsonify({"deleted": comment_id})


@collaboration_api.post("/tasks/claim")
@token_required
def api_bulk_claim() -> Any:
    ids = bulk_claims.task_ids(json_body().get("task_ids"))
    return jsonify(bulk_claims.claim_many(services().runtime, ids, api_actor()))


@collaboration_api.post("/tasks/<task_id>/transfer")
@token_required
def api_transfer(task_id: str) -> Any:
    body = json_body()
    return once(lambda: (transfers.transfer(services().db, task_id, body.get("to"), body.get("note"), api_actor()),
                          200))
