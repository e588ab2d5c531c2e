"""The JSON API of API.md (/api/v1). Bearer tokens; errors as {error, message, details}."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from service import definitions, delegations, done_lists, identity, policy, queries
from service.actors import Actor
from service.bootstrap import deploy_bytes
from service.errors import BadRequest, Forbidden
from service.form_versions import task_form
from service.web.api_support import api_actor, bool_arg, int_arg, json_body, once, token_required
from service.web.context import services

api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.get("/health")
def health() -> Any:
    svc = services()
    svc.db.ping()
    running = svc.scheduler is not None and svc.scheduler.running
    from service import clock

    return jsonify({"status": "ok", "database": svc.db.dialect, "scheduler": "running" if running else "stopped",
                    "now": clock.now_iso()})


@api.post("/auth/token")
def token() -> Any:
    # 身份鉴别: the login page's lock, second factor and forced change apply here too
    return jsonify(identity.api_token(services().db, json_body(), request.remote_addr))


@api.get("/definitions")
@token_required
def list_definitions() -> Any:
    with services().db.read() as session:
        return jsonify([
            {"key": d.key, "name": d.name, "version": d.version, "deployed_at": queries.iso(d.deployed_at)}
            for d in definitions.latest_all(session)
        ])


@api.post("/definitions")
@token_required
def post_definition() -> Any:
    if not api_actor().is_admin:
        raise Forbidden("只有系统管理员可以部署流程")
    result = deploy_bytes(services().runtime, request.get_data(cache=False), "upload.bpmn", api_actor().username,
                          comment=request.args.get("comment"))
    return jsonify({"keys": result["keys"], "version": result["version"], "versions": result["versions"],
                    "changed": result["changed"], "warnings": result["warnings"]}), 201


@api.post("/instances")
@token_required
def start_instance() -> Any:
    body = json_body()
    process = body.get("process")
    if not isinstance(process, str) or not process:
        raise BadRequest("缺少流程标识 process")
    policy.require_start(api_actor(), process)
    return once(lambda: (services().runtime.start(process, body.get("data", {}), api_actor()), 201))


@api.get("/instances")
@token_required
def list_instances() -> Any:
    overdue = request.args.get("overdue") in ("1", "true")
    with services().db.read() as session:
        rows = queries.instances(
            session, api_actor(), process=request.args.get("process") or None,
            status=request.args.get("status") or None, overdue=overdue,
            stalled_days=int_arg("stalled_days"), q=request.args.get("q") or None,
            limit=int_arg("limit", 100) or 100, offset=int_arg("offset", 0) or 0, drill=bool_arg("drill"),
        )
        return jsonify(queries.instance_rows(session, rows))


@api.get("/instances/<int:instance_id>")
@token_required
def get_instance(instance_id: int) -> Any:
    with services().db.read() as session:
        return jsonify(queries.instance_detail(session, services().runtime, api_actor(), instance_id))


@api.post("/instances/<int:instance_id>/messages/<name>")
@token_required
def post_message(instance_id: int, name: str) -> Any:
    body = json_body(optional=True)
    with services().db.read() as session:
        process = queries.visible_instance(session, api_actor(), instance_id).process_key
    policy.require_message(api_actor(), process, name)
    data = body.get("data") or {}
    return once(lambda: (services().runtime.send_message(instance_id, name, data, api_actor()), 200))


@api.get("/tasks")
@token_required
def list_tasks() -> Any:
    actor = api_actor()
    with services().db.read() as session:
        return jsonify([{**queries.task_json(t), "on_behalf_of": _behalf(actor, t)} for t in queries.inbox(session, actor)])


def _behalf(actor: Actor, task: Any) -> str | None:
    """委托: the delegator in whose name this user would act on the task (None: their own)."""
    found = delegations.behalf_of(actor, task.candidate_groups, task.assignee)
    return found.username if found else None


def _done_filters() -> dict[str, Any]:
    """已办 / 办结 filters (API.md): process, q, since/until as YYYY-MM-DD, limit, offset."""
    return {"process": request.args.get("process") or None, "q": request.args.get("q") or None,
            "since": done_lists.parse_day(request.args.get("since"), "since"),
            "until": done_lists.parse_day(request.args.get("until"), "until"),
            "limit": int_arg("limit", 50) or 50, "offset": int_arg("offset", 0) or 0}


@api.get("/tasks/done")
@token_required
def list_done_tasks() -> Any:
    filters = _done_filters()
    with services().db.read() as session:
        return jsonify(done_lists.done_tasks(session, api_actor(), **filters))


@api.get("/cases/finished")
@token_required
def list_finished_cases() -> Any:
    filters = _done_filters()
    with services().db.read() as session:
        return jsonify([done_lists.finished_json(i) for i in done_lists.finished_cases(session, api_actor(), **filters)])


@api.get("/tasks/<task_id>")
@token_required
def get_task(task_id: str) -> Any:
    svc = services()
    with svc.db.read() as session:
        row = queries.get_task(session, api_actor(), task_id)
        detail = queries.instance_detail(session, svc.runtime, api_actor(), row.instance_id) \
            if row.state == "open" else None
        form = task_form(session, svc.runtime.forms, row.form_key, row.instance_id)  # its version's form
        return jsonify({**queries.task_json(row), "form": form.schema if form else None,
                        "data": detail["data"] if detail else {}})


@api.post("/tasks/<task_id>/claim")
@token_required
def claim(task_id: str) -> Any:
    return jsonify(services().runtime.claim(task_id, api_actor()))


@api.post("/tasks/<task_id>/unclaim")
@token_required
def unclaim(task_id: str) -> Any:
    return jsonify(services().runtime.unclaim(task_id, api_actor()))


@api.post("/tasks/<task_id>/complete")
@token_required
def complete(task_id: str) -> Any:
    body = json_body()
    data = body.get("data", {})
    return once(lambda: (services().runtime.complete(task_id, data, api_actor()), 200))


@api.get("/notices")
@token_required
def list_notices() -> Any:
    from service import notices

    unread = request.args.get("unread") in ("1", "true")
    with services().db.read() as session:
        return jsonify(notices.for_user(session, api_actor(), unread_only=unread))


@api.post("/notices/read")
@token_required
def read_notices() -> Any:
    from service import clock, notices

    body = json_body(optional=True)
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise BadRequest("ids 必须是整数列表")
    with services().db.write() as session:
        count = notices.mark_read(session, api_actor(), ids, clock.now())
    return jsonify({"marked": count})


@api.post("/admin/clock")
@token_required
def advance_clock() -> Any:
    """Virtual clock (GOVFLOW_CLOCK=virtual only): move it, then fire what became due."""
    from service import virtual_clock

    virtual_clock.require_admin(api_actor())
    return jsonify(virtual_clock.advance(services().runtime, api_actor(), json_body().get("advance")))


@api.get("/supervision/board")
@token_required
def supervision_board() -> Any:
    from service import supervision

    with services().db.read() as session:
        return jsonify(supervision.board(session, api_actor(), int_arg("stalled_days")))


@api.post("/instances/<int:instance_id>/urge")
@token_required
def urge_instance(instance_id: int) -> Any:
    from service import supervision

    body = json_body()
    return jsonify(supervision.manual_urge(services().db, instance_id, body.get("comment"), api_actor()))


@api.post("/instances/<int:instance_id>/listed")
@token_required
def list_instance(instance_id: int) -> Any:
    from service import supervision

    body = json_body()
    listed = body.get("listed", True)
    if not isinstance(listed, bool):
        raise BadRequest("listed 必须是 true 或 false")
    return jsonify(supervision.set_listed(services().db, instance_id, listed, body.get("comment"), api_actor()))


@api.post("/tasks/<task_id>/reassign")
@token_required
def reassign_task(task_id: str) -> Any:
    from service import supervision

    body = json_body()
    return jsonify(supervision.reassign(services().db, task_id, body.get("group"), body.get("user"),
                                        body.get("comment"), api_actor()))
