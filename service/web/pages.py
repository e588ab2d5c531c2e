"""Server-rendered pages (Chinese UI). Placeholder: login only; the full UI follows."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user

from service.auth import authenticate
from service.errors import Unauthorized
from service.web import LoginUser, services

pages = Blueprint("pages", __name__)


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            with services().db.read() as session:
                user = authenticate(session, request.form.get("username"), request.form.get("password"))
                login_user(LoginUser(user))
            return redirect(url_for("pages.index"))
        except Unauthorized as exc:
            error = exc.message
    return render_template("login.html", error=error), (401 if error else 200)


@pages.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("pages.login"))


@pages.get("/")
@login_required
def index() -> Any:
    return "GovFlow"
