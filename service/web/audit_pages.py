"""审计日志: the administrator's page of audit rows with filters and Excel export — STUB."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_login import login_required

audit_pages = Blueprint("audit_pages", __name__)


@audit_pages.get("/admin/audit")
@login_required
def index() -> Any:
    return "建设中", 503
