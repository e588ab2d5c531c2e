"""What every page template has: the `dt` filter, `status_label`, `due_state` and STATUS_LABELS,
and base.html's context (the user's groups, the nav entries they may use, unread notices,
the virtual clock). A blueprint without routes: registering it once wires all of this in.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, url_for
from flask_login import current_user

from service import clock, notices, policy, procedure
from service.actors import Actor
from service.web.context import services
from service.web.dates import due_state, fmt_dt
from service.web.form_tokens import submission_token
from service.web.guards import current_actor, group_names

layout = Blueprint("layout", __name__)

STATUS_LABELS = {"running": "办理中", "completed": "已办结", "terminated": "已终止", "error": "出错"}


@layout.app_template_filter("dt")
def _dt_filter(value: Any) -> str:
    return fmt_dt(value)


@layout.app_template_global("status_label")
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


layout.add_app_template_global(due_state, "due_state")
layout.add_app_template_global(STATUS_LABELS, "STATUS_LABELS")
layout.add_app_template_global(submission_token, "submission_token")  # one-time token of each form


@layout.app_context_processor
def _layout() -> dict[str, Any]:
    """What base.html needs: the user's group names and the nav entries they may use."""
    ctx: dict[str, Any] = {}
    if not current_user.is_authenticated:
        return ctx
    actor = current_actor()
    unread = 0
    try:
        with services().db.read() as session:
            names = group_names(session)
            unread = notices.unread_count(session, actor)
    except Exception:  # noqa: BLE001 - the error page must render even when the database is down
        names = {}
    ctx.update(
        user_groups=[names.get(k, k) for k in sorted(actor.groups)],
        start_links=_start_links(actor),
        is_admin=actor.is_admin,
        is_designer=actor.is_designer,
        is_supervisor=policy.is_supervisor(actor),
        calendar_url=_calendar_url() if actor.is_admin else None,
        procedure_links=_procedure_links(actor),
        unread_notices=unread,
        virtual_now=clock.now() if clock.is_virtual() else None,
    )
    return ctx


def _start_links(actor: Actor) -> list[dict[str, Any]]:
    """The navigation's start entries: every procedure this user may start (policy), by its label."""
    return [{"label": p.starters.label if p.starters.label != "发起" else f"发起{p.name}",
             "url": p.starters.path or url_for("starts.new_instance", process=p.key), "key": p.key,
             "prominent": p.starters.prominent}  # also a big red button on every page (base.html)
            for p in policy.startable(actor)]


def _procedure_links(actor: Actor) -> list[dict[str, str]]:
    """The procedures' own pages (`Procedure.nav`) this user may open, in declaration order."""
    from flask import current_app

    return [{"label": link.label, "url": url_for(link.endpoint), "area": link.endpoint.split(".")[0] + "."}
            for p in procedure.registry() for link in p.nav
            if link.endpoint in current_app.view_functions and link.may(actor)]


def _calendar_url() -> str | None:
    """The holiday calendar admin page (service/web/calendar_admin.py), when it is registered."""
    from flask import current_app

    return url_for("calendar_admin.index") if "calendar_admin.index" in current_app.view_functions else None
