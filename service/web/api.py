"""The JSON API of API.md (/api/v1). Bearer tokens; errors as {error, message, details}."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from service import auth, definitions, delegations, done_lists, policy, queries, submissions
from service.actors import Actor
from service.auth import authenticate, issue_token
from service.bootstrap import deploy_bytes
from service.errors import BadRequest, Forbidden, Unauthorized
from service.web.context import services

api = Blueprint("api", __name__, url_prefix="/api/v1")


def _actor() -> Actor:
    return g.actor


_TOKEN_CACHE: dict[str, tuple[float, Actor, Any]] = {}
TOKEN_CACHE_SECONDS = 30.0


def _actor_for_token(token: str) -> Actor:
    """Token → user, cached briefly per process (three queries saved on every API call)."""
    now = time.monotonic()
    cached = _TOKEN_CACHE.get(token)
    if cached is not None and now - cached[0] < TOKEN_CACHE_SECONDS and auth.real_now() < cached[2]:
        return cached[1]
    with services().db.read() as session:
        user, expires_at = auth.user_for_token(session, token)
        actor = auth.actor_for(user)
    if len(_TOKEN_CACHE) > 10_000:
        _TOKEN_CACHE.clear()
    _TOKEN_CACHE[token] = (now, actor, expires_at)
    return actor


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise Unauthorized("缺少访问令牌（Authorization: Bearer …）")
        # 委托: the delegations held now, read on every request (never cached: a revocation is at once)
        g.actor = delegations.attach(services().db, _actor_for_token(header[7:].strip()))
        return view(*args, **kwargs)

    return wrapped


def _body(optional: bool = False) -> dict[str, Any]:
    """The request's JSON object; anything else (bad JSON, too deep, not an object, text that is
    not valid Unicode) is a 400 before it reaches the service."""
    if optional and not request.get_data(cache=True):
        return {}
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if data is None:
        raise BadRequest("请求体必须是 JSON 对象（Content-Type: application/json）")
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象")
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError) as exc:
        raise BadRequest("请求体包含无效的字符") from exc
    return data


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"参数 {name} 必须是整数") from exc
    if value < 0:
        raise BadRequest(f"参数 {name} 不能为负数")
    return value


def _bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw not in ("0", "1", "true", "false"):
        raise BadRequest(f"参数 {name} 必须是 0 或 1")
    return raw in ("1", "true")


def _once(action: Callable[[], tuple[Any, int]]) -> Any:
    """Run a creating/completing call; with an `Idempotency-Key` header (API.md) a repeat by the
    same user within 24 h gets the first answer, same status and body, and changes nothing."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        result, status = action()
        return jsonify(result), status
    key = key.strip()
    if not key or len(key) > submissions.MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key 须为 1 至 {submissions.MAX_KEY_LENGTH} 个字符")

    def run() -> tuple[int, str]:
        result, status = action()
        return status, jsonify(result).get_data(as_text=True)

    status, body = submissions.once(services().db, _actor().username, f"api:{key}", run)
    return current_app.response_class(body, status=status, mimetype="application/json")


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
    body = _body()
    with services().db.write() as session:
        user = authenticate(session, body.get("username"), body.get("password"))
        value = issue_token(session, user)
        return jsonify({"token": value, "user": {"username": user.username, "name": user.name,
                                                 "groups": user.group_keys}})


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
    if not _actor().is_admin:
        raise Forbidden("只有系统管理员可以部署流程")
    result = deploy_bytes(services().runtime, request.get_data(cache=False), "upload.bpmn", _actor().username)
    return jsonify({"keys": result["keys"], "version": result["version"], "versions": result["versions"],
                    "changed": result["changed"]}), 201


@api.get("/groups")
@token_required
def list_groups() -> Any:
    with services().db.read() as session:
        return jsonify(queries.groups(session))


@api.post("/instances")
@token_required
def start_instance() -> Any:
    body = _body()
    process = body.get("process")
    if not isinstance(process, str) or not process:
        raise BadRequest("缺少流程标识 process")
    policy.require_start(_actor(), process)
    return _once(lambda: (services().runtime.start(process, body.get("data", {}), _actor()), 201))


@api.get("/instances")
@token_required
def list_instances() -> Any:
    overdue = request.args.get("overdue") in ("1", "true")
    with services().db.read() as session:
        rows = queries.instances(
            session, _actor(), process=request.args.get("process") or None,
            status=request.args.get("status") or None, overdue=overdue,
            stalled_days=_int_arg("stalled_days"), q=request.args.get("q") or None,
            limit=_int_arg("limit", 100) or 100, offset=_int_arg("offset", 0) or 0, drill=_bool_arg("drill"),
        )
        return jsonify(queries.instance_rows(session, rows))


@api.get("/instances/<int:instance_id>")
@token_required
def get_instance(instance_id: int) -> Any:
    with services().db.read() as session:
        return jsonify(queries.instance_detail(session, services().runtime, _actor(), instance_id))


@api.post("/instances/<int:instance_id>/messages/<name>")
@token_required
def post_message(instance_id: int, name: str) -> Any:
    body = _body(optional=True)
    with services().db.read() as session:
        process = queries.visible_instance(session, _actor(), instance_id).process_key
    policy.require_message(_actor(), process, name)
    data = body.get("data") or {}
    return _once(lambda: (services().runtime.send_message(instance_id, name, data, _actor()), 200))


@api.get("/tasks")
@token_required
def list_tasks() -> Any:
    actor = _actor()
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
            "limit": _int_arg("limit", 50) or 50, "offset": _int_arg("offset", 0) or 0}


@api.get("/tasks/done")
@token_required
def list_done_tasks() -> Any:
    filters = _done_filters()
    with services().db.read() as session:
        return jsonify(done_lists.done_tasks(session, _actor(), **filters))


@api.get("/cases/finished")
@token_required
def list_finished_cases() -> Any:
    filters = _done_filters()
    with services().db.read() as session:
        return jsonify([done_lists.finished_json(i) for i in done_lists.finished_cases(session, _actor(), **filters)])


@api.get("/tasks/<task_id>")
@token_required
def get_task(task_id: str) -> Any:
    svc = services()
    with svc.db.read() as session:
        row = queries.get_task(session, _actor(), task_id)
        detail = queries.instance_detail(session, svc.runtime, _actor(), row.instance_id) \
            if row.state == "open" else None
        form = svc.runtime.forms.get(row.form_key).schema if row.form_key else None
        return jsonify({**queries.task_json(row), "form": form, "data": detail["data"] if detail else {}})


@api.post("/tasks/<task_id>/claim")
@token_required
def claim(task_id: str) -> Any:
    return jsonify(services().runtime.claim(task_id, _actor()))


@api.post("/tasks/<task_id>/unclaim")
@token_required
def unclaim(task_id: str) -> Any:
    return jsonify(services().runtime.unclaim(task_id, _actor()))


@api.post("/tasks/<task_id>/complete")
@token_required
def complete(task_id: str) -> Any:
    body = _body()
    data = body.get("data", {})
    return _once(lambda: (services().runtime.complete(task_id, data, _actor()), 200))


@api.get("/notices")
@token_required
def list_notices() -> Any:
    from service import notices

    unread = request.args.get("unread") in ("1", "true")
    with services().db.read() as session:
        return jsonify(notices.for_user(session, _actor(), unread_only=unread))


@api.post("/notices/read")
@token_required
def read_notices() -> Any:
    from service import clock, notices

    body = _body(optional=True)
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise BadRequest("ids 必须是整数列表")
    with services().db.write() as session:
        count = notices.mark_read(session, _actor(), ids, clock.now())
    return jsonify({"marked": count})


@api.post("/admin/clock")
@token_required
def advance_clock() -> Any:
    """Virtual clock (GOVFLOW_CLOCK=virtual only): move it, then fire what became due."""
    from service import virtual_clock

    virtual_clock.require_admin(_actor())
    return jsonify(virtual_clock.advance(services().runtime, _actor(), _body().get("advance")))


@api.get("/supervision/board")
@token_required
def supervision_board() -> Any:
    from service import supervision

    with services().db.read() as session:
        return jsonify(supervision.board(session, _actor(), _int_arg("stalled_days")))


@api.post("/instances/<int:instance_id>/urge")
@token_required
def urge_instance(instance_id: int) -> Any:
    from service import supervision

    body = _body()
    return jsonify(supervision.manual_urge(services().db, instance_id, body.get("comment"), _actor()))


@api.post("/instances/<int:instance_id>/listed")
@token_required
def list_instance(instance_id: int) -> Any:
    from service import supervision

    body = _body()
    listed = body.get("listed", True)
    if not isinstance(listed, bool):
        raise BadRequest("listed 必须是 true 或 false")
    return jsonify(supervision.set_listed(services().db, instance_id, listed, body.get("comment"), _actor()))


@api.post("/tasks/<task_id>/reassign")
@token_required
def reassign_task(task_id: str) -> Any:
    from service import supervision

    body = _body()
    return jsonify(supervision.reassign(services().db, task_id, body.get("group"), body.get("user"),
                                        body.get("comment"), _actor()))
