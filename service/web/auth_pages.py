"""Signing in and out: the login page (same-site `next` only), logout, and / (to the inbox)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from service.auth import authenticate
from service.errors import Unauthorized
from service.web.context import LoginUser, services
from service.web.guards import safe_next

auth_pages = Blueprint("auth", __name__)


@auth_pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    target = safe_next(request.values.get("next"), url_for("inbox.tasks"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    if request.method == "POST":
        try:
            with services().db.read() as session:
                user = authenticate(session, request.form.get("username"), request.form.get("password"))
                login_user(LoginUser(user))
            return redirect(target)
        except Unauthorized as exc:
            error = exc.message
    return render_template("login.html", error=error, next=request.values.get("next", ""),
                           username=request.form.get("username", "")), (401 if error else 200)


@auth_pages.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    flash("您已安全退出", "info")
    return redirect(url_for("auth.login"))


@auth_pages.get("/")
@login_required
def index() -> Any:
    return redirect(url_for("inbox.tasks"))
