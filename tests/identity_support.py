"""A production GovFlow (not the demo organisation) for the identity tests: users created the
way an administrator would, so forced change and the second factor apply."""

from __future__ import annotations

from typing import Any

PASSWORD = "Start-Pass-2026"


def production_app(database_url: str) -> Any:
    from service.auth import ensure_group, ensure_user
    from service.config import Settings
    from service.web import create_app

    app = create_app(Settings(database_url=database_url, secret_key="identity-test"), start_timers=False)
    app.config.update(WTF_CSRF_ENABLED=False, TESTING=True)
    with app.extensions["govflow"].db.write() as session:
        ensure_group(session, "admin", "系统管理员")
        ensure_group(session, "dept_xfk", "信访科")
        session.flush()
        ensure_user(session, "admin", "管理员", PASSWORD, ["admin"])
        ensure_user(session, "clerk", "科员", PASSWORD, ["dept_xfk"])
    return app


def move_wall_clock(delta: Any) -> None:
    """Sessions and password age run on the wall clock (no virtual offset): move its start."""
    from service import clock

    clock.start_from(clock.now() - clock.offset() + delta)
