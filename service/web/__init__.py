"""Flask application factory: pages (Chinese UI) and the JSON API under /api/v1."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError

from service.bootstrap import Services, build
from service.config import Settings
from service.errors import GovFlowError
from service.store.models import User
from service.web import rate_limits, security_headers
from service.web.context import LoginUser, csrf, services

__all__ = ["LoginUser", "create_app", "csrf", "services"]

log = logging.getLogger(__name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.session_protection = "strong"

MAX_BODY = 2 * 1024 * 1024


def create_app(settings: Settings | None = None, start_timers: bool | None = None,
               svc: Services | None = None) -> Flask:
    app = Flask(__name__)
    # `/tasks/0//complete` is an unknown address (JSON 404), not a redirect to another task's.
    app.url_map.merge_slashes = False
    svc = svc or build(settings)
    app.config.update(
        SECRET_KEY=svc.settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["govflow"] = svc
    csrf.init_app(app)
    login_manager.init_app(app)

    from service.web.account_pages import account_pages
    from service.web.api import api
    from service.web.attachment_pages import UploadRequest, attachment_api, attachment_pages
    from service.web.audit_pages import audit_pages
    from service.web.auth_pages import auth_pages
    from service.web.backup_pages import backup_pages
    from service.web.calendar_admin import calendar_admin
    from service.web.cases import cases
    from service.web.clock_page import clock_page
    from service.web.collaboration_pages import collaboration
    from service.web.definition_pages import definition_pages
    from service.web.delegation_pages import delegation_pages
    from service.web.designer_pages import designer_pages
    from service.web.document_pages import document_pages
    from service.web.inbox import inbox
    from service.web.incident_pages import incident_pages
    from service.web.layout import layout
    from service.web.migration_pages import migration_pages
    from service.web.notice_pages import notice_pages
    from service.web.org_pages import org_pages
    from service.web.preference_pages import preference_pages
    from service.web.reports import reports_pages
    from service.web.search_api import search_api
    from service.web.search_pages import search_pages
    from service.web.settings_admin import settings_admin, settings_api
    from service.web.starts import starts
    from service.web.supervision_pages import supervision_pages
    from service.web.suspension_pages import suspension_pages
    from service.web.version_pages import version_pages

    csrf.exempt(api)
    csrf.exempt(attachment_api)
    app.request_class = UploadRequest  # upload routes get the attachments' body limit instead of MAX_BODY
    csrf.exempt(settings_api)
    csrf.exempt(search_api)
    app.register_blueprint(api)
    app.register_blueprint(attachment_api)
    app.register_blueprint(attachment_pages)  # 附件: upload, download, the panel of the case and task pages
    app.register_blueprint(layout)  # the templates' filters and globals, base.html's context
    app.register_blueprint(auth_pages)
    app.register_blueprint(account_pages)  # 账户安全: /admin/accounts, /me/tokens, nested in it their /api/v1
    app.register_blueprint(inbox)
    app.register_blueprint(delegation_pages)  # 委托: /me/delegation and /api/v1/me/delegations (CSRF-exempt)
    app.register_blueprint(cases)
    app.register_blueprint(search_pages)  # 查询 (/search) and its API (/api/v1/search)
    app.register_blueprint(search_api)
    app.register_blueprint(starts)
    app.register_blueprint(definition_pages)
    app.register_blueprint(notice_pages)
    app.register_blueprint(supervision_pages)
    app.register_blueprint(clock_page)
    app.register_blueprint(calendar_admin)
    app.register_blueprint(reports_pages)  # 统计报表: the pages, and nested in them /api/v1/reports (CSRF-exempt)
    app.register_blueprint(settings_admin)
    app.register_blueprint(settings_api)
    app.register_blueprint(preference_pages)  # 通知方式 (/me/notifications); nested in it its /api/v1 (CSRF-exempt)
    app.register_blueprint(document_pages)  # 打印: print views and PDFs, nested in it their /api/v1 (CSRF-exempt)
    app.register_blueprint(collaboration)  # 常用意见, 批量签收, 转办; nested in it their /api/v1 (CSRF-exempt)
    app.register_blueprint(suspension_pages)  # 停权: /admin/suspensions, nested in it /api/v1/admin/suspensions (CSRF-exempt)
    # the designer's workshop, each with its /api/v1 nested (CSRF-exempt): drafts and checks,
    # versions and diffs, case migration, incidents
    app.register_blueprint(designer_pages)
    app.register_blueprint(version_pages)
    app.register_blueprint(migration_pages)
    app.register_blueprint(incident_pages)
    app.register_blueprint(backup_pages)  # 备份: /admin/backups, nested in it /api/v1/admin/backups
    app.register_blueprint(audit_pages)  # 审计日志: /admin/audit, nested in it /api/v1/admin/audit
    app.register_blueprint(org_pages)  # 组织管理: /admin/users, /admin/groups, nested in it /api/v1/users, /api/v1/groups
    _procedure_routes(app)
    _error_handlers(app)
    _audit_origin(app)

    # the web's own defences: CSP with a per-request script nonce, framing, HSTS over TLS, cookie
    # flags, trusted proxies; rate limits on login and the API
    security_headers.init(app, svc.settings)
    rate_limits.init(app, svc.settings)

    if start_timers if start_timers is not None else svc.settings.timers:
        from service.timers import start_scheduler

        svc.scheduler = start_scheduler(svc.runtime, svc.settings.poll_seconds)
    return app


def _procedure_routes(app: Flask) -> None:
    """What procedures add to the web: a readable start URL (e.g. /petitions/new), and their own
    blueprints (public ones allowed) declared in their contract."""
    from flask_login import login_required

    from service import procedure
    from service.web.attachment_pages import large_body
    from service.web.starts import new_instance

    for declared in procedure.registry():
        if declared.starters.path:
            def start(_key: str = declared.key) -> Any:
                return new_instance(_key)

            app.add_url_rule(declared.starters.path, endpoint=f"start_{declared.key}",
                             view_func=large_body(login_required(start)), methods=["GET", "POST"])
        for blueprint in declared.blueprints:
            if blueprint.name not in app.blueprints:  # one blueprint may serve several procedures (rounds)
                app.register_blueprint(blueprint)


@login_manager.user_loader
def _load_user(user_id: str) -> LoginUser | None:
    try:
        with services().db.read() as session:
            user = session.get(User, int(user_id))
            return LoginUser(user) if user is not None and user.active else None
    except ValueError:
        return None


def _request_username() -> str | None:
    """Who the request acts as, asked when an audit row is written: the bearer token's user (the
    API), else the signed-in user (the pages), else nobody yet (a login names its account itself)."""
    from flask_login import current_user

    actor = g.get("actor")
    if actor is not None:
        return str(actor.username)
    return str(current_user.username) if current_user and current_user.is_authenticated else None


def _audit_origin(app: Flask) -> None:
    """安全审计: every request binds its user and source address (the address the login lockout
    counts) for service.audit.record, released when the request ends."""
    from service import audit

    @app.before_request
    def _bind() -> None:
        binding = audit.bind(_request_username, request.remote_addr)
        binding.__enter__()
        g.audit_binding = binding

    @app.teardown_request
    def _unbind(_exc: Any) -> None:
        binding = g.pop("audit_binding", None)
        if binding is not None:
            binding.__exit__(None, None, None)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error_handlers(app: Flask) -> None:
    def respond(status: int, code: str, message: str, details: list[Any] | None = None) -> Any:
        if _wants_json():
            return jsonify({"error": code, "message": message, "details": details or []}), status
        return render_template("error.html", status=status, message=message, details=details or []), status

    @app.errorhandler(GovFlowError)
    def _govflow(exc: GovFlowError) -> Any:
        return respond(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return respond(400, "csrf", "页面已过期或请求来源不明，请刷新页面后重试")

    @app.errorhandler(404)
    def _404(exc: Any) -> Any:
        return respond(404, "not_found", "页面或资源不存在")

    @app.errorhandler(405)
    def _405(exc: Any) -> Any:
        return respond(405, "method_not_allowed", "不支持该请求方法")

    @app.errorhandler(413)
    def _413(exc: Any) -> Any:
        return respond(413, "too_large", "请求内容过大")

    @app.errorhandler(400)
    def _400(exc: Any) -> Any:
        return respond(400, "bad_request", "请求格式不正确")

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _db(exc: Exception) -> Any:
        log.exception("database unavailable")
        return respond(503, "unavailable", "数据库暂时不可用，请稍后重试")

    @app.errorhandler(500)
    def _500(exc: Any) -> Any:
        return respond(500, "internal", "服务器内部错误，操作未完成")

    @app.teardown_appcontext
    def _clear(_exc: Any) -> None:
        g.pop("actor", None)
