"""组织管理: users, groups and memberships for the administrator — STUB."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_login import login_required

org_pages = Blueprint("org_pages", __name__)


@org_pages.get("/admin/users")
@login_required
def users() -> Any:
    return "建设中", 503


@org_pages.get("/admin/groups")
@login_required
def groups() -> Any:
    return "建设中", 503
