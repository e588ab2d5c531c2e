"""模拟时钟 (virtual clock, rehearsals): /admin/clock, where an administrator moves the virtual
clock forward and the timers that fell due fire. Only when the service runs GOVFLOW_CLOCK=virtual."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from service import clock, config_store
from service.errors import Forbidden, NotFound
from service.web.context import services
from service.web.dates import fmt_dt
from service.web.guards import current_actor

clock_page = Blueprint("clock", __name__)


@clock_page.route("/admin/clock", methods=["GET", "POST"])
@login_required
def admin_clock() -> Any:
    from service.timers import fire_all_due
    from service.web.api import parse_duration

    if not clock.is_virtual():
        raise NotFound("未启用虚拟时钟（以 GOVFLOW_CLOCK=virtual 启动服务后可用）")
    if not current_actor().is_admin:
        raise Forbidden("只有系统管理员可以拨动时钟")
    error = None
    raw = (request.form.get("quick") or request.form.get("advance", "")).strip()
    if request.method == "POST":
        try:
            delta = parse_duration(raw)
        except ValueError:
            error = "时长格式不正确，应为 ISO 8601 时长，如 P1D（1天）、PT2H（2小时）、P61D（61天）"
        else:
            with services().db.write() as session:
                config_store.advance_clock(session, delta.total_seconds())
            fired = fire_all_due(services().runtime)
            flash(f"时钟已拨至 {fmt_dt(clock.now())}，触发 {fired} 个定时器", "success")
            return redirect(url_for("clock.admin_clock"))
    return render_template("clock.html", now=clock.now(), offset=clock.offset(), error=error,
                           advance=raw), (422 if error else 200)
