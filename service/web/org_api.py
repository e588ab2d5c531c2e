"""组织管理 in the JSON API (/api/v1, CSRF-exempt, bearer tokens), the administrator's alone (403
otherwise): users (list, create, read, change, 停用/启用, 重置密码, 解除锁定), groups (list, create,
read, rename / change kind) and memberships (PUT / DELETE). A created user or a reset password
without a given password gets a generated one, returned once in the answer (never stored in the
Idempotency-Key record: these calls do not take one — a repeat is refused as a conflict)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, jsonify, request

from service import org_views, organisation
from service.web.api_support import _TOKEN_CACHE, api_actor, json_body, token_required
from service.web.context import csrf, services

org_api = Blueprint("org_api", __name__, url_prefix="/api/v1")
csrf.exempt(org_api)


def _admin(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        organisation.require_admin(api_actor())
        return view(*args, **kwargs)

    return token_required(wrapped)


def _user(username: str, status: int = 200, **more: Any) -> Any:
    with services().db.read() as session:
        return jsonify({**org_views.user_detail(session, username), **more}), status


def _group(key: str, status: int = 200) -> Any:
    with services().db.read() as session:
        return jsonify(org_views.group_detail(session, key)), status


# ----- users --------------------------------------------------------------------------------------


@org_api.get("/users")
@_admin
def list_users() -> Any:
    args = {k: request.args.get(k, "").strip() for k in ("q", "group", "status")}
    with services().db.read() as session:
        return jsonify(org_views.users(session, args["q"], args["group"], args["status"]))


@org_api.post("/users")
@_admin
def create_user() -> Any:
    """201 with the user; `password` only when one was generated (give it to the user once)."""
    body = json_body()
    with services().db.write() as session:
        made = organisation.create_user(session, body)
    return _user(made["username"], 201, **({"password": made["password"]} if made["password"] else {}))


@org_api.get("/users/<username>")
@_admin
def get_user(username: str) -> Any:
    return _user(username)


@org_api.patch("/users/<username>")
@_admin
def patch_user(username: str) -> Any:
    body = json_body()
    with services().db.write() as session:
        organisation.update_user(session, username, body)
    return _user(username)


@org_api.post("/users/<username>/deactivate")
@_admin
def deactivate(username: str) -> Any:
    with services().db.write() as session:
        organisation.deactivate(session, username)
    _TOKEN_CACHE.clear()
    return _user(username)


@org_api.post("/users/<username>/reactivate")
@_admin
def reactivate(username: str) -> Any:
    with services().db.write() as session:
        organisation.reactivate(session, username)
    return _user(username)


@org_api.post("/users/<username>/reset-password")
@_admin
def reset_password(username: str) -> Any:
    """Body optional: {"password": …} checked by the rules; without it one is generated and returned."""
    body = json_body(optional=True)
    with services().db.write() as session:
        generated = organisation.reset_password(session, username, body.get("password"))
    _TOKEN_CACHE.clear()
    return _user(username, **({"password": generated} if generated else {}))


@org_api.post("/users/<username>/unlock")
@_admin
def unlock(username: str) -> Any:
    with services().db.write() as session:
        lifted = organisation.unlock(session, username, api_actor().username)
    return _user(username, unlocked=lifted)


# ----- groups and memberships ---------------------------------------------------------------------


@org_api.get("/groups")
@_admin
def list_groups() -> Any:
    args = {k: request.args.get(k, "").strip() for k in ("q", "kind")}
    with services().db.read() as session:
        return jsonify(org_views.groups(session, args["q"], args["kind"]))


@org_api.post("/groups")
@_admin
def create_group() -> Any:
    body = json_body()
    with services().db.write() as session:
        key = organisation.create_group(session, body).key
    return _group(key, 201)


@org_api.get("/groups/<key>")
@_admin
def get_group(key: str) -> Any:
    return _group(key)


@org_api.patch("/groups/<key>")
@_admin
def patch_group(key: str) -> Any:
    body = json_body()
    with services().db.write() as session:
        organisation.update_group(session, key, body)
    return _group(key)


@org_api.put("/groups/<key>/members/<username>")
@_admin
def put_member(key: str, username: str) -> Any:
    """200 whether the user was added now or was a member already (`added` says which)."""
    with services().db.write() as session:
        added = organisation.add_member(session, key, username)
    with services().db.read() as session:
        return jsonify({**org_views.group_detail(session, key), "added": added})


@org_api.delete("/groups/<key>/members/<username>")
@_admin
def delete_member(key: str, username: str) -> Any:
    with services().db.write() as session:
        removed = organisation.remove_member(session, key, username)
    with services().db.read() as session:
        return jsonify({**org_views.group_detail(session, key), "removed": removed})
