"""The web's own defences (等保 2.0 入侵防范): every page and API answer carries a
Content-Security-Policy that runs no inline script but the blocks with this request's nonce, no
framing, a same-origin referrer, nosniff; HSTS only over TLS (X-Forwarded-Proto believed only
from a trusted proxy); the session cookie HttpOnly, SameSite=Lax, Secure when served over TLS;
the templates carry no inline event handler; a body over the limit gets a Chinese 413."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, done, login, start, text

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
TEMPLATE_DIRS = [Path(__file__).resolve().parent.parent / d for d in ("service/web/templates", "workflows/templates")]


def directives(csp: str) -> dict[str, list[str]]:
    found = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            found[words[0]] = words[1:]
    return found


def assert_defended(response: Any, path: str) -> None:
    """The headers of one answer of the app (not the public site, which runs no script at all)."""
    h = response.headers
    csp = h.get("Content-Security-Policy")
    assert csp, path
    d = directives(csp)
    assert "'unsafe-inline'" not in d["script-src"] and "'unsafe-eval'" not in d["script-src"], (path, csp)
    assert d["script-src"][0] == "'self'", (path, csp)
    assert d["frame-ancestors"] == ["'none'"] and d["object-src"] == ["'none'"], (path, csp)
    assert d["base-uri"] == ["'self'"] and d["form-action"] == ["'self'"], (path, csp)
    assert h.get("X-Frame-Options") == "DENY", path
    assert h.get("Referrer-Policy") == "same-origin", path
    assert h.get("X-Content-Type-Options") == "nosniff", path
    assert "camera=()" in h.get("Permissions-Policy", ""), path
    assert "Strict-Transport-Security" not in h, path  # plain HTTP
    if response.mimetype == "text/html":
        body = text(response)
        nonces = set(re.findall(r"'nonce-([^']+)'", csp))
        for tag in INLINE_SCRIPT.findall(body):
            found = re.search(r'nonce="([^"]+)"', tag)
            assert found and found.group(1) in nonces, (path, tag)
        assert not HANDLER.search(body), (path, HANDLER.search(body))
        assert "javascript:" not in body, path


def get_routes(app: Any) -> list[str]:
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/site/")})


def test_every_page_carries_the_csp_without_inline_script_and_the_frame_and_referrer_headers(
        page_app: Any, sqlite_api: ApiClient) -> None:
    iid = start(sqlite_api)
    admin = login(page_app, "admin")
    routes = get_routes(page_app)
    assert len(routes) > 50
    for path in routes:
        assert_defended(admin.get(path), path)
    # pages with arguments, around a demo case
    done(sqlite_api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    task = sqlite_api.tasks("xfk1", iid)[0]
    clerk = login(page_app, "xfk1")
    for client, path in ((admin, f"/instances/{iid}"), (clerk, f"/instances/{iid}"), (clerk, f"/tasks/{task['id']}"),
                         (admin, "/definitions/petition/versions"), (admin, "/definitions/petition/v1"),
                         (admin, "/definitions/petition/edit"), (admin, "/definitions/petition/diff?a=1&b=1"),
                         (admin, "/instances/new/petition"), (admin, "/reports/dispute-compliance"),
                         (admin, "/reports/emergencies"), (admin, "/no/such/page")):
        response = client.get(path)
        assert response.status_code in (200, 404, 422), (path, response.status_code)
        assert_defended(response, path)
    assert_defended(admin.get(f"/api/v1/instances/{iid}", headers=sqlite_api.headers("admin")), "api")


def test_the_inline_scripts_left_carry_the_requests_nonce(page_app: Any) -> None:
    admin = login(page_app, "admin")
    pages = [admin.get("/reports/emergencies"), admin.get("/reports/emergencies")]
    nonces = [re.search(r"'nonce-([^']+)'", r.headers["Content-Security-Policy"]) for r in pages]
    assert all(nonces) and nonces[0].group(1) != nonces[1].group(1)  # type: ignore[union-attr]


def test_no_template_has_an_inline_event_handler_or_a_script_without_nonce() -> None:
    for directory in TEMPLATE_DIRS:
        for path in directory.rglob("*.html"):
            source = path.read_text(encoding="utf-8")
            assert not HANDLER.search(source), (path, HANDLER.search(source))
            assert "javascript:" not in source, path
            for tag in INLINE_SCRIPT.findall(source):
                assert 'nonce="{{ csp_nonce() }}"' in tag, (path, tag)


def test_the_public_site_keeps_its_own_policy_that_runs_no_script(page_app: Any) -> None:
    r = page_app.test_client().get("/site/")
    assert "script-src 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"


def test_hsts_is_sent_only_over_tls_and_forwarded_proto_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    from service.config import Settings
    from service.web import create_app

    plain = create_app(Settings(database_url=f"sqlite:///{tmp_path}/a.db", secret_key="t"), start_timers=False)
    client = plain.test_client()
    assert "Strict-Transport-Security" not in client.get("/login").headers
    assert client.get("/login", base_url="https://govflow.test").headers["Strict-Transport-Security"] \
        == "max-age=31536000; includeSubDomains"
    # nobody said a proxy is in front: a forged X-Forwarded-Proto changes nothing
    assert "Strict-Transport-Security" not in client.get("/login", headers={"X-Forwarded-Proto": "https"}).headers
    proxied = create_app(Settings(database_url=f"sqlite:///{tmp_path}/b.db", secret_key="t", trusted_proxies=1),
                         start_timers=False)
    r = proxied.test_client().get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"})
    assert "Strict-Transport-Security" in r.headers
    plain.extensions["govflow"].db.dispose()
    proxied.extensions["govflow"].db.dispose()


def _session_cookie(response: Any) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


@pytest.mark.parametrize("tls", [False, True])
def test_the_session_cookie_is_httponly_samesite_lax_and_secure_over_tls(tmp_path: Path, tls: bool) -> None:
    from service.config import Settings
    from service.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/c.db", secret_key="t", tls=tls), start_timers=False)
    cookie = _session_cookie(app.test_client().get("/login", base_url="https://govflow.test" if tls else "http://localhost"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is tls
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] and app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert app.config["REMEMBER_COOKIE_SECURE"] is tls
    app.extensions["govflow"].db.dispose()


def test_forms_still_need_their_csrf_token(tmp_path: Path) -> None:
    app = browser_app(tmp_path, "csrf")
    client = app.test_client()
    r = client.post("/login", data={"username": "admin", "password": "govflow-demo"})
    assert r.status_code == 400 and "页面已过期或请求来源不明" in text(r)
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": "admin", "password": "govflow-demo", "csrf_token": token})
    assert r.status_code == 302
    app.extensions["govflow"].db.dispose()


def test_a_body_over_the_limit_is_refused_with_a_chinese_413(page_app: Any, sqlite_api: ApiClient) -> None:
    admin = login(page_app, "admin")
    r = admin.post("/admin/settings", data={"x": "y" * (3 * 1024 * 1024)})
    assert r.status_code == 413 and "请求内容过大" in text(r) and "内容过大" in text(r)
    r = sqlite_api.client.post("/api/v1/instances", data=b"{" + b" " * (3 * 1024 * 1024) + b"}",
                               content_type="application/json", headers=sqlite_api.headers("xfk1"))
    assert r.status_code == 413 and r.get_json()["message"] == "请求内容过大"
