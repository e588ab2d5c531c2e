"""账户安全: /admin/accounts (the locks in force, each with an unlock button, and every live
API token, revocable) and /me/tokens (a user's own tokens); nested in it their /api/v1
(CSRF-exempt, bearer tokens)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from service import identity, lockout
from service.errors import Forbidden
from service.web.api_support import _TOKEN_CACHE, api_actor, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor

account_pages = Blueprint("accounts", __name__)
account_api = Blueprint("accounts_api", __name__, url_prefix="/api/v1")
account_pages.register_blueprint(account_api)
csrf.exempt(account_api)


def _require_admin(actor: Any) -> None:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以管理账户锁定和访问令牌")


def _forget_cached_tokens() -> None:
    """This process's token cache (30 s) must not outlive a revocation; others expire it soon."""
    _TOKEN_CACHE.clear()


@account_pages.get("/admin/accounts")
@login_required
def admin_accounts() -> Any:
    _require_admin(current_actor())
    with services().db.read() as session:
        return render_template("admin_accounts.html", locks=lockout.current_locks(session),
                               tokens=identity.tokens(session))


@account_pages.post("/admin/accounts/locks/<int:lock_id>/unlock")
@login_required
def unlock(lock_id: int) -> Any:
    _require_admin(current_actor())
    with services().db.write() as session:
        done = lockout.unlock(session, lock_id, current_actor().username)
    flash(f"已解除对 {done['subject']} 的锁定", "success")
    return redirect(url_for("accounts.admin_accounts"))


@account_pages.post("/admin/accounts/tokens/<token_id>/revoke")
@login_required
def admin_revoke(token_id: str) -> Any:
    _require_admin(current_actor())
    with services().db.write() as session:
        identity.revoke_token(session, token_id, None)
    _forget_cached_tokens()
    flash("访问令牌已注销", "success")
    return redirect(url_for("accounts.admin_accounts"))


@account_pages.get("/me/tokens")
@login_required
def my_tokens() -> Any:
    with services().db.read() as session:
        return render_template("me_tokens.html", tokens=identity.tokens(session, int(current_user.id)))


@account_pages.post("/me/tokens/<token_id>/revoke")
@login_required
def my_revoke(token_id: str) -> Any:
    with services().db.write() as session:
        identity.revoke_token(session, token_id, int(current_user.id))
    _forget_cached_tokens()
    flash("访问令牌已注销", "success")
    return redirect(url_for("accounts.my_tokens"))


# ----- /api/v1 ------------------------------------------------------------------------------------


def _user_id(username: str) -> int:
    from sqlalchemy import select

    from service.store.models import User

    with services().db.read() as session:
        found = session.scalar(select(User.id).where(User.username == username))
    if found is None:
        raise Forbidden("用户不存在或已停用")
    return int(found)


@account_api.get("/admin/locks")
@token_required
def api_locks() -> Any:
    _require_admin(api_actor())
    with services().db.read() as session:
        return jsonify(lockout.current_locks(session))


@account_api.post("/admin/locks/<int:lock_id>/unlock")
@token_required
def api_unlock(lock_id: int) -> Any:
    _require_admin(api_actor())
    with services().db.write() as session:
        return jsonify(lockout.unlock(session, lock_id, api_actor().username))


@account_api.get("/admin/tokens")
@token_required
def api_all_tokens() -> Any:
    _require_admin(api_actor())
    with services().db.read() as session:
        return jsonify(identity.tokens(session))


@account_api.post("/admin/tokens/<token_id>/revoke")
@token_required
def api_admin_revoke(token_id: str) -> Any:
    _require_admin(api_actor())
    with services().db.write() as session:
        identity.revoke_token(session, token_id, None)
    _forget_cached_tokens()
    return jsonify({"id": token_id, "revoked": True})


@account_api.get("/me/tokens")
@token_required
def api_my_tokens() -> Any:
    with services().db.read() as session:
        return jsonify(identity.tokens(session, _user_id(api_actor().username)))


@account_api.post("/me/tokens/<token_id>/revoke")
@token_required
def api_my_revoke(token_id: str) -> Any:
    user_id = _user_id(api_actor().username)
    with services().db.write() as session:
        identity.revoke_token(session, token_id, user_id)
    _forget_cached_tokens()
    return jsonify({"id": token_id, "revoked": True})
