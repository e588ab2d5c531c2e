"""案件迁移: move a running case (or every case of a version) to another version of its
procedure, with a dry run first; the page and POST /api/v1/instances/{id}/migrate."""

from __future__ import annotations

from flask import Blueprint

from service.web.context import csrf

migration_api = Blueprint("migration_api", __name__, url_prefix="/api/v1")
migration_pages = Blueprint("migration_pages", __name__)
migration_pages.register_blueprint(migration_api)
csrf.exempt(migration_api)
