"""The Content-Security-Policy in Chromium (Playwright) on a production database (no demo
organisation: `admin` changes the first password and enrols a TOTP, then signs in again with a
code): every area's main page — inbox, a case, a task form, search, reports, supervision, the
modeler, versions, the form editor, settings, calendar, backups, users, audit log, migrations,
an error page — loads with zero CSP violations (console and `securitypolicyviolation` events)
and no script error, and its scripts work (the diagram draws, the confirm asks, the chart and
the modeler appear, the form editor's preview arrives). The rate limits are on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, serve
from identity_support import PASSWORD, move_wall_clock

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Browser-Pass-2026"
WATCH = """document.addEventListener('securitypolicyviolation', function (e) {
  (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' '
    + (e.sourceFile || '') + ':' + e.lineNumber);
});"""


def production_app(tmp_path: Path) -> tuple[Any, int]:
    """A `govflow init` database (not the demo): the demo organisation's groups, admin (also in
    信访科, so a task waits for it) and a clerk; one petition registered by the clerk."""
    from service import auth, procedure
    from service.auth import ensure_group, ensure_user
    from service.config import Settings
    from service.store.models import User
    from service.web import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/prod.db", secret_key="csp-test", ratelimit=True),
                     start_timers=False)
    svc = app.extensions["govflow"]
    org = procedure.registry().organisation
    with svc.db.write() as session:
        for key, name in org.groups.items():
            ensure_group(session, key, name)
        session.flush()
        ensure_user(session, "admin", "管理员", PASSWORD, ["admin", "xfk"])
        ensure_user(session, "xfk1", "信访科科员", PASSWORD, ["xfk"])
    with svc.db.read() as session:
        clerk = auth.actor_for(session.query(User).filter_by(username="xfk1").one())
    iid = int(svc.runtime.start("petition", PETITION, clerk)["id"])
    return app, iid


def test_admin_signs_in_with_totp_and_every_area_runs_under_the_csp(page: Any, tmp_path: Path,
                                                                    artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service.identity import wall_now
    from service.totp import code_at

    app, iid = production_app(tmp_path)
    violations: list[str] = []
    page.add_init_script(WATCH)
    page.on("console", lambda msg: violations.append(f"console: {msg.text}")
            if "Content Security Policy" in msg.text or "Refused to" in msg.text else None)

    def visit(path: str) -> None:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        found = page.evaluate("window.__csp || []")
        violations.extend(f"{path}: {v}" for v in found)
        assert violations == [], violations
        assert page.js_errors == [], (path, page.js_errors)

    with serve(app) as base:
        # first sign-in: forced password change, then enrolment by QR code with a TOTP code
        visit("/login")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/me/password")
        page.fill("#current", PASSWORD)
        page.fill("#new", NEW_PASSWORD)
        page.fill("#confirm", NEW_PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/me/second-factor")
        expect(page.locator("#enrol-qr svg")).to_be_visible()
        secret = page.locator("#enrol-secret").inner_text()
        page.fill("#code", code_at(secret, wall_now()))
        page.click("main form button[type=submit]")
        page.get_by_role("link", name="我已保存，继续").click()
        expect(page.locator("h1")).to_have_text("我的待办")
        page.get_by_role("button", name="退出").click()
        page.wait_for_url("**/login")

        # the sign-in the issue names: password, then a fresh TOTP code
        move_wall_clock(timedelta(seconds=60))
        page.fill("#username", "admin")
        page.fill("#password", NEW_PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/login/verify")
        page.fill("#code", code_at(secret, wall_now()))
        page.click("main form button[type=submit]")
        expect(page.locator("h1")).to_have_text("我的待办")
        assert page.evaluate("window.__csp || []") == []

        visit("/tasks")
        task_href = page.evaluate("""Array.from(document.querySelectorAll('main a[href^="/tasks/"]'))
            .map(function (a) { return a.getAttribute('href'); })
            .filter(function (h) { return !/^\\/tasks\\/done/.test(h); })[0]""")
        visit(task_href)
        expect(page.locator("form.task-form")).to_be_visible()

        visit(f"/instances/{iid}")
        expect(page.locator("#diagram.diagram-ready svg").first).to_be_attached()  # bpmn-js drew the case
        listed = page.locator("#supervise .sv-listed button")
        page.once("dialog", lambda dialog: dialog.dismiss())  # the confirm asks; refused: nothing happens
        listed.click()
        expect(page.locator("#supervise .sv-listed button")).to_have_text("挂牌督办")
        page.once("dialog", lambda dialog: dialog.accept())
        listed.click()
        expect(page.locator("#supervise .sv-listed button")).to_have_text("撤销挂牌")

        visit("/supervision")
        expect(page.locator("#supervision-chart svg").first).to_be_attached()  # ECharts drew the board
        visit("/search")
        visit("/instances")
        visit("/reports")
        visit("/reports/emergencies")
        visit("/definitions")
        visit("/definitions/petition/edit")
        expect(page.locator(".djs-container").first).to_be_visible()  # the modeler bundle runs
        visit("/definitions/petition/versions")
        visit("/definitions/petition/v1")
        expect(page.locator("#version-diagram[data-ready='1']")).to_be_attached()
        visit("/designer/petition/forms/petition_classify")  # the form editor: htmx brings the preview
        expect(page.locator("#fd-preview form.fd-preview-form")).to_be_attached()
        visit("/admin/settings")
        visit("/admin/calendar/")
        visit("/admin/backups")
        visit("/admin/accounts")
        visit("/admin/users")
        visit("/admin/audit")
        visit("/admin/migrations")
        page.select_option("#key", "dispute_case")  # the select submits its form by itself
        page.wait_for_url("**/admin/migrations?key=dispute_case*")
        visit("/admin/incidents")
        visit("/me/tokens")
        visit("/notices")
        visit("/no/such/page")
        expect(page.locator(".error-code")).to_have_text("404")
        page.screenshot(path=str(artifacts_dir / "security_error_page.png"), full_page=True)
    assert violations == []
    app.extensions["govflow"].db.dispose()
