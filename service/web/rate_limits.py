"""Rate limits (等保 2.0 入侵防范): password and second-factor attempts per source address
(`ratelimit.login_per_minute`, the page and POST /api/v1/auth/token sharing one count), and the
JSON API per token — or per signed-in user, or per address — (`ratelimit.api_per_minute`), with
Flask-Limiter. The counters live in GOVFLOW_RATELIMIT_STORAGE (default memory://, per process;
several workers or nodes share one store such as redis://host:6379/0 or memcached://host:11211).
A refused request gets 429 with Retry-After and a Chinese message (JSON for the API, a page for
the browser). GOVFLOW_RATELIMIT=0 switches the limits off (benchmarks and the test suite)."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from flask import Flask, jsonify, render_template, request, session
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from flask_limiter.errors import RateLimitExceeded

from service import config_store
from service.config import Settings

# The views where a password or a second-factor code is tried.
LOGIN_ENDPOINTS = ("auth.login", "auth.second_factor", "api.token")
LOGIN_SCOPE = "login"


def _address() -> str:
    """The source address (the client's, once ProxyFix trusts the proxy in front)."""
    return request.remote_addr or "unknown"


def _login_key() -> str:
    return f"addr:{_address()}"


def _api_key() -> str:
    """A bearer token (hashed: stores never hold it), else the signed-in user, else the address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    user_id = session.get("_user_id")
    return f"user:{user_id}" if user_id else f"addr:{_address()}"


def _login_limit() -> str:
    return f"{int(config_store.get('ratelimit.login_per_minute'))}/minute"


def _api_limit() -> str:
    return f"{int(config_store.get('ratelimit.api_per_minute'))}/minute"


def _not_api() -> bool:
    return not request.path.startswith("/api/")


def retry_after(limit: RequestLimit | None) -> int:
    """Whole seconds until the breached window resets (at least 1)."""
    if limit is None:
        return 60
    return max(1, math.ceil(limit.window[0] - time.time()))


def init(app: Flask, settings: Settings) -> Limiter:
    """The app's limiter: the API's shared limit, the login views wrapped, the Chinese 429."""
    limiter = Limiter(
        key_func=_address,
        storage_uri=settings.ratelimit_storage,
        strategy="fixed-window",
        application_limits=[ApplicationLimit(limit_provider=_api_limit, key_function=_api_key, exempt_when=_not_api,
                                             scope="api")],
        headers_enabled=False,
        enabled=settings.ratelimit,
        key_prefix="govflow",
    )
    app.config["RATELIMIT_ENABLED"] = settings.ratelimit
    limiter.init_app(app)
    app.extensions["govflow_limiter"] = limiter
    login = limiter.shared_limit(_login_limit, scope=LOGIN_SCOPE, key_func=_login_key, methods=["POST"],
                                 override_defaults=False)
    for endpoint in LOGIN_ENDPOINTS:
        app.view_functions[endpoint] = login(app.view_functions[endpoint])

    @app.errorhandler(RateLimitExceeded)
    def _too_many(_exc: RateLimitExceeded) -> Any:
        seconds = retry_after(limiter.current_limit)
        if request.endpoint in LOGIN_ENDPOINTS:
            message = f"登录尝试过于频繁，请 {seconds} 秒后再试"
        else:
            message = f"请求过于频繁，请 {seconds} 秒后再试"
        if request.path.startswith("/api/"):
            response = jsonify({"error": "rate_limited", "message": message, "details": []})
        else:
            response = app.make_response(render_template("error.html", status=429, message=message, details=[]))
        response.status_code = 429
        response.headers["Retry-After"] = str(seconds)
        return response

    return limiter
