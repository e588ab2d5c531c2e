"""What every JSON API blueprint shares (/api/v1): the bearer-token guard and the actor it
sets, the request's JSON body and query arguments checked once, and `once` for creating or
completing calls (Idempotency-Key). The API blueprints (api.py, search_api.py, the `me` and
attachment pages…) import these public names instead of each other's private helpers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, request

from service import auth, delegations, submissions, suspensions
from service.actors import Actor
from service.errors import BadRequest, Unauthorized
from service.web.context import services


def api_actor() -> Actor:
    return g.actor


_TOKEN_CACHE: dict[str, tuple[float, Actor, Any]] = {}
TOKEN_CACHE_SECONDS = 30.0


def actor_for_token(token: str) -> Actor:
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
        # 委托: the delegations held now, and 停权: the suspended memberships, read on every request
        # (never cached with the token: a revocation or a suspension counts at once)
        db = services().db
        g.actor = suspensions.restrict(db, delegations.attach(db, actor_for_token(header[7:].strip())))
        return view(*args, **kwargs)

    return wrapped


def json_body(optional: bool = False) -> dict[str, Any]:
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


def int_arg(name: str, default: int | None = None) -> int | None:
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


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw not in ("0", "1", "true", "false"):
        raise BadRequest(f"参数 {name} 必须是 0 或 1")
    return raw in ("1", "true")


def once(action: Callable[[], tuple[Any, int]]) -> Any:
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

    status, body = submissions.once(services().db, api_actor().username, f"api:{key}", run)
    return current_app.response_class(body, status=status, mimetype="application/json")
