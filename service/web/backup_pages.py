"""备份: the administrator's page of scheduled and manual backups (when, where, size, result) and
the backup settings, /admin/backups, with 「立即备份」; in the API GET and POST
/api/v1/admin/backups. The administrator's alone (service.backup_schedule.require_admin); the
rules are service/backup_schedule.py's and service/backup.py's."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from service import backup_schedule, submissions
from service.errors import BadRequest
from service.web.api_support import api_actor, once, token_required
from service.web.context import csrf, services
from service.web.form_tokens import TOKEN_FIELD
from service.web.guards import current_actor

backup_api = Blueprint("backup_api", __name__, url_prefix="/api/v1")
backup_pages = Blueprint("backup_pages", __name__)
backup_pages.register_blueprint(backup_api)
csrf.exempt(backup_api)


def _done_message(run: dict[str, Any]) -> tuple[str, str]:
    """(flash category, message) of a finished run."""
    if run["status"] == "ok":
        return "success", f"备份完成：{run['file']}（{run['size']}，用时 {run['duration_seconds']:.1f} 秒）"
    return "error", f"备份失败：{run['error']}"


@backup_pages.get("/admin/backups")
@login_required
def index() -> Any:
    backup_schedule.require_admin(current_actor())
    return render_template("backups.html", view=backup_schedule.overview(services().db))


@backup_pages.post("/admin/backups")
@login_required
def run_now() -> Any:
    """立即备份: once per form token (a double click waits for the first backup's answer)."""
    actor = current_actor()
    backup_schedule.require_admin(actor)
    db = services().db

    def action() -> tuple[int, str]:
        category, message = _done_message(backup_schedule.manual(db, actor))
        return 302, json.dumps({"category": category, "flash": message}, ensure_ascii=False)

    token = request.form.get(TOKEN_FIELD, "").strip()
    if not token:
        _status, body = action()
    else:
        if len(token) > submissions.MAX_KEY_LENGTH:
            raise BadRequest("表单令牌无效，请刷新页面后重试")
        key = "form:" + hashlib.sha256(f"{request.path}\0{token}".encode()).hexdigest()
        _status, body = submissions.once(db, actor.username, key, action)
    answer = json.loads(body)
    flash(answer["flash"], answer["category"])
    return redirect(url_for("backup_pages.index"))


# ----- JSON API -------------------------------------------------------------------------------


@backup_api.get("/admin/backups")
@token_required
def list_backups() -> Any:
    backup_schedule.require_admin(api_actor())
    return jsonify(backup_schedule.overview(services().db))


@backup_api.post("/admin/backups")
@token_required
def post_backup() -> Any:
    """201 with the run when the backup succeeded; 503 `backup_failed` with the run otherwise."""
    backup_schedule.require_admin(api_actor())

    def action() -> tuple[dict[str, Any], int]:
        run = backup_schedule.manual(services().db, api_actor())
        if run["status"] == "ok":
            return run, 201
        return {"error": "backup_failed", "message": f"备份失败：{run['error']}", "details": [], "run": run}, 503

    return once(action)
