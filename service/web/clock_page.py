"""模拟时钟 (virtual clock, rehearsals): /admin/clock, where an administrator moves the virtual
clock forward and the timers that fell due fire. Only when the service runs GOVFLOW_CLOCK=virtual."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from service import clock, virtual_clock
from service.errors import Invalid
from service.web.context import services
from service.web.dates import fmt_dt
from service.web.guards import current_actor

clock_page = Blueprint("clock", __name__)


@clock_page.route("/admin/clock", methods=["GET", "POST"])
@login_required
def admin_clock() -> Any:
    virtual_clock.require_admin(current_actor())
    error = None
    raw = (request.form.get("quick") or request.form.get("advance", "")).strip()
    if request.method == "POST":
        try:
            result = virtual_clock.advance(services().runtime, current_actor(), raw)
        except Invalid as exc:
            error = exc.message
        else:
            flash(f"时钟已拨至 {fmt_dt(clock.now())}，触发 {result['fired']} 个定时器", "success")
            return redirect(url_for("clock.admin_clock"))
    return render_template("clock.html", now=clock.now(), offset=clock.offset(), error=error,
                           advance=raw), (422 if error else 200)
