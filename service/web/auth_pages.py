"""Signing in and out: the login page (same-site `next` only), the steps a login may still owe
(second factor, forced password change, second-factor enrolment), the session limits checked
on every page request (idle timeout, absolute lifetime), logout, and / (to the inbox)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from service import audit, config_store, identity, totp
from service.errors import GovFlowError, Invalid, Unauthorized
from service.store.models import User
from service.web.context import LoginUser, services
from service.web.guards import safe_next

auth_pages = Blueprint("auth", __name__)

# What a login still owes, in order, as kept in the session: pages stay shut until it is done.
PENDING = "gf_pending"
_STEP_PAGES = {"verify": "auth.second_factor", "change": "auth.change_password", "enrol": "auth.enrol"}
_OPEN_DURING_STEPS = {"auth.login", "auth.logout", "auth.second_factor", "auth.change_password",
                      "auth.enrol", "static"}


def _now() -> float:
    return identity.wall_now().timestamp()


@auth_pages.before_app_request
def _session_limits() -> Any:
    """Every page request: a session idle or too old is ended; a login with steps owed goes to
    the next step. The JSON API has its bearer tokens and is not concerned."""
    if request.path.startswith("/api/") or request.endpoint == "static" or not current_user.is_authenticated:
        return None
    if identity.session_expired(session.get("gf_login"), session.get("gf_seen")):
        audit.write(services().db, audit.LOGOUT, target=current_user.username, detail="会话超时，自动退出",
                    username=current_user.username, address=request.remote_addr)
        logout_user()
        session.clear()
        flash(identity.TIMEOUT_MESSAGE, "error")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    now = _now()
    session.setdefault("gf_login", now)
    session["gf_seen"] = now
    pending = session.get(PENDING) or []
    if pending and request.endpoint not in _OPEN_DURING_STEPS:
        return redirect(url_for(_STEP_PAGES[pending[0]]))
    return None


def _next_step(default: str) -> Any:
    pending = session.get(PENDING) or []
    if pending:
        return redirect(url_for(_STEP_PAGES[pending[0]]))
    return redirect(safe_next(session.pop("gf_next", None), default))


def _done(step: str) -> None:
    session[PENDING] = [s for s in session.get(PENDING) or [] if s != step]


@auth_pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    target = safe_next(request.values.get("next"), url_for("inbox.tasks"))
    if current_user.is_authenticated and request.method == "GET" and not session.get(PENDING):
        return redirect(target)
    if request.method == "POST":
        try:
            signed = identity.sign_in(services().db, request.form.get("username"), request.form.get("password"),
                                      request.remote_addr)
        except GovFlowError as exc:
            error = exc.message
        else:
            with services().db.read() as db_session:
                user = db_session.get(User, signed.user_id)
                login_user(LoginUser(user))
            now = _now()
            session.update({"gf_login": now, "gf_seen": now, "gf_next": target,
                            PENDING: [s for s, owed in (("verify", signed.second_factor == "verify"),
                                                         ("change", signed.must_change),
                                                         ("enrol", signed.second_factor == "enrol")) if owed]})
            return _next_step(target)
    with services().db.read() as db_session:
        demo = identity.is_demo(db_session)
    return render_template("login.html", error=error, next=request.values.get("next", ""), demo=demo,
                           demo_notice=identity.DEMO_NOTICE,
                           username=request.form.get("username", "")), (401 if error else 200)


@auth_pages.route("/login/verify", methods=["GET", "POST"])
@login_required
def second_factor() -> Any:
    """The TOTP (or a recovery code) after the password; a wrong one counts as a failed login."""
    if "verify" not in (session.get(PENDING) or []):
        return _next_step(url_for("inbox.tasks"))
    error = None
    if request.method == "POST":
        try:
            identity.second_factor(services().db, int(current_user.id), request.form.get("code"), request.remote_addr)
        except GovFlowError as exc:
            error = exc.message
            if exc.code == "account_locked":
                logout_user()
                session.clear()
                flash(exc.message, "error")
                return redirect(url_for("auth.login"))
        else:
            _done("verify")
            return _next_step(url_for("inbox.tasks"))
    return render_template("login_verify.html", error=error), (401 if error else 200)


@auth_pages.route("/me/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    forced = "change" in (session.get(PENDING) or [])
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            with services().db.write() as db_session:
                user = db_session.get(User, int(current_user.id))
                if user is None:
                    raise Unauthorized("用户不存在或已停用")
                identity.change_password(db_session, user, request.form.get("current", ""),
                                         request.form.get("new", ""), request.form.get("confirm", ""))
        except Invalid as exc:
            errors = {d["field"]: d["message"] for d in exc.details}
        else:
            flash("密码已修改", "success")
            _done("change")
            return _next_step(url_for("inbox.tasks"))
    return render_template("me_password.html", errors=errors, forced=forced,
                           min_length=config_store.get("identity.password_min_length")), \
        (422 if errors else 200)


@auth_pages.route("/me/second-factor", methods=["GET", "POST"])
@login_required
def enrol() -> Any:
    """Enrolment: a new secret shown as a QR code, confirmed by one code from the app; then the
    recovery codes, shown this once."""
    error = None
    secret = session.get("gf_enrol_secret")
    if request.method == "GET" or not secret:
        secret = session["gf_enrol_secret"] = totp.new_secret()
    elif request.method == "POST":
        step = totp.matching_step(secret, request.form.get("code", ""), identity.wall_now(), None)
        if step is None:
            error = "动态验证码不正确，请按手机上显示的 6 位数字重新输入"
        else:
            with services().db.write() as db_session:
                user = db_session.get(User, int(current_user.id))
                assert user is not None
                cred = identity.credential(db_session, user.id)
                cred.totp_secret, cred.totp_enabled_at, cred.totp_last_step = secret, identity.wall_now(), step
                codes = totp.new_recovery_codes(db_session, user)
                audit.record(db_session, audit.SECOND_FACTOR, target=user.username,
                             detail=f"绑定动态验证码（TOTP），生成 {len(codes)} 个恢复码")
            session.pop("gf_enrol_secret", None)
            _done("enrol")
            return render_template("me_recovery_codes.html", codes=codes,
                                   next=safe_next(session.pop("gf_next", None), url_for("inbox.tasks")))
    uri = totp.enrolment_uri(secret, current_user.username)
    return render_template("me_second_factor.html", qr=totp.qr_svg(uri), secret=secret, error=error,
                           forced="enrol" in (session.get(PENDING) or [])), (422 if error else 200)


@auth_pages.post("/logout")
@login_required
def logout() -> Any:
    audit.write(services().db, audit.LOGOUT, target=current_user.username)
    logout_user()
    session.clear()
    flash("您已安全退出", "info")
    return redirect(url_for("auth.login"))


@auth_pages.get("/")
@login_required
def index() -> Any:
    return redirect(url_for("inbox.tasks"))
