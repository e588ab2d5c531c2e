"""The web's own defences on every response (等保 2.0 入侵防范): a Content-Security-Policy that runs
only the site's own script files and the inline blocks carrying this request's nonce, no framing,
no sniffing, a same-origin referrer, HSTS when the request came over TLS, and the session cookie
flags (Secure when the installation is served over TLS).

Styles keep 'unsafe-inline': style attributes are written by the templates and by the diagram and
chart libraries (bpmn-js, ECharts, Quill); a style cannot run code. Responses that set their own
policy (the public site runs no script at all, downloads are sandboxed) keep theirs."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from service.config import Settings

HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=()"
_FIXED = ("default-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data: blob:",
          "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'",
          "form-action 'self'", "frame-ancestors 'none'")


def csp_nonce() -> str:
    """This request's script nonce (a Jinja global: `<script nonce="{{ csp_nonce() }}">`)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return str(nonce)


def policy(nonce: str | None) -> str:
    """The page policy: scripts from this origin, plus inline blocks with this request's nonce."""
    script = "script-src 'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return "; ".join((_FIXED[0], script, *_FIXED[1:]))


def init(app: Flask, settings: Settings) -> None:
    """Cookie flags, the trusted proxies and the header hook."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.tls,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.tls,
        GOVFLOW_TLS=settings.tls,
    )
    if settings.trusted_proxies > 0:  # X-Forwarded-For and -Proto are believed only from them
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response: Any) -> Any:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy(g.get("csp_nonce")))
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
