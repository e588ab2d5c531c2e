"""Settings in a page (/admin/settings) and in the API (/api/v1/settings): every number of the
rules (deadlines, ladder offsets, thresholds) is a declared default an administrator changes
here without editing code. Every change is validated against its declaration's bounds and
recorded (SettingChange: who, when, before → after).

The process that takes a change uses it at once; every other process takes it at its next
timer poll (service.timers.refresh_shared → config_store.load), without a restart. The page
and the API reload the table before showing values, so they show what is stored, not what
this process last polled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from service import config_store
from service.errors import Forbidden, Invalid
from service.store.models import User
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import services

settings_admin = Blueprint("settings_admin", __name__, url_prefix="/admin/settings")
settings_api = Blueprint("settings_api", __name__, url_prefix="/api/v1")

REFUSAL = "只有系统管理员可以修改参数设置"
HISTORY_LIMIT = 50


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged in (else the login page) and in the `admin` group (else 403)."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.actor.is_admin:
            raise Forbidden(REFUSAL)
        return view(*args, **kwargs)

    return login_required(wrapped)


def _fresh_listing() -> list[dict[str, Any]]:
    """listing() after reloading the table: the values stored now, whichever process stored them."""
    with services().db.read() as session:
        config_store.load(session)
    return config_store.listing()


def short_label(label: str) -> str:
    """A label without its legal reference, for flash messages (办理期限：自收件次日起计算的日数)."""
    return label.split("（", 1)[0]


# ----- page ------------------------------------------------------------------------------------------


def _render(status: int = 200, errors: dict[str, str] | None = None, submitted: dict[str, str] | None = None,
            message: str = "") -> Any:
    groups = _fresh_listing()
    with services().db.read() as session:
        changes = config_store.history(session, HISTORY_LIMIT)
        usernames = {c["username"] for c in changes}
        names = dict(session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all()) \
            if usernames else {}
    return render_template("settings_admin.html", groups=groups, changes=changes, names=names,
                           errors=errors or {}, submitted=submitted or {}, message=message), status


@settings_admin.get("")
@admin_required
def index() -> Any:
    return _render()


@settings_admin.post("")
@admin_required
def save() -> Any:
    """Save one group's form: every field is checked first, so a bad one stores nothing of the
    group (422, the errors beside their fields, the values as typed); then all in one transaction."""
    group_key = request.form.get("group") or None
    groups = {g["procedure"]: g for g in config_store.listing()}
    group = groups.get(group_key)
    if group is None:
        flash("未保存：请求的设置分组不存在，请刷新页面后重试", "error")
        return redirect(url_for("settings_admin.index"))
    known = config_store.specs()
    submitted = {s["key"]: request.form[s["key"]] for s in group["settings"] if s["key"] in request.form}
    errors: dict[str, str] = {}
    for key, raw in submitted.items():
        try:
            config_store.validated(key, known[key][1], raw)
        except Invalid as exc:
            errors[key] = exc.details[0]["message"]
    if errors:
        return _render(422, errors, submitted, f"「{group['group']}」未保存：{len(errors)} 项设置值不正确，请按提示修改")
    username = current_user.actor.username
    with services().db.write() as session:
        results = [config_store.change(session, key, raw, username) for key, raw in submitted.items()]
    changed = [r for r in results if r["changed"]]
    if not changed:
        flash(f"「{group['group']}」未修改：所填数值与当前设置相同", "info")
    else:
        parts = []
        for r in changed:
            spec = known[r["key"]][1]
            before = "（无）" if r["before"] is None else r["before"]
            parts.append(f"{short_label(spec.label)} {before} → {r['value']} {spec.unit}".rstrip())
        flash(f"已保存「{group['group']}」：" + "；".join(parts) + "。其他服务进程将在下次定时轮询时生效", "success")
    return redirect(url_for("settings_admin.index"))


# ----- API -------------------------------------------------------------------------------------------


def _require_admin() -> None:
    if not api_actor().is_admin:
        raise Forbidden(REFUSAL)


@settings_api.get("/settings")
@token_required
def api_list() -> Any:
    _require_admin()
    return jsonify(_fresh_listing())


@settings_api.put("/settings/<key>")
@token_required
def api_put(key: str) -> Any:
    _require_admin()
    config_store.declared(key)  # an unknown key is a 404 whatever the body
    body = json_body()
    if "value" not in body:
        raise Invalid("设置值不正确", [{"field": key, "message": "请求体缺少 value"}])
    with services().db.write() as session:
        result = config_store.change(session, key, body["value"], api_actor().username)
    return jsonify(result)
