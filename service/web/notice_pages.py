"""通知 (notice centre): the user's notices (all or unread) and 标为已读."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from service import clock, notices
from service.errors import Invalid
from service.store.models import Instance
from service.web.case_view import listed_ids
from service.web.context import services
from service.web.guards import back, current_actor

notice_pages = Blueprint("notices", __name__)


@notice_pages.get("/notices")
@login_required
def notices_page() -> Any:
    unread_only = request.args.get("unread") in ("1", "true", "on")
    with services().db.read() as session:
        items = notices.for_user(session, current_actor(), unread_only=unread_only)
        ids = {n["instance_id"] for n in items if n["instance_id"]}
        keys = dict(session.execute(select(Instance.id, Instance.business_key)
                                    .where(Instance.id.in_(sorted(ids)))).all()) if ids else {}
        listed = listed_ids(session, ids)
    for n in items:
        n["business_key"] = keys.get(n["instance_id"])
        n["listed"] = n["instance_id"] in listed
    return render_template("notices.html", items=items, unread_only=unread_only)


@notice_pages.post("/notices/read")
@login_required
def notices_read() -> Any:
    """标为已读: one notice (form field `id`) or, without it, all of the user's notices."""
    raw = request.form.getlist("id")
    try:
        ids = [int(v) for v in raw] if raw else None
    except ValueError as exc:
        raise Invalid("通知编号不正确") from exc
    with services().db.write() as session:
        count = notices.mark_read(session, current_actor(), ids, clock.now())
    if ids is None:
        flash(f"已将 {count} 条通知标为已读" if count else "没有未读通知", "success" if count else "info")
    elif count:
        flash("已标为已读", "success")
    return redirect(back(url_for("notices.notices_page")))
