"""版本: the versions of a procedure (who deployed, when, the comment, how many cases run on it),
a version read-only, and the diff of two versions (coloured diagram and a table)."""

from __future__ import annotations

from flask import Blueprint

from service.web.context import csrf

version_api = Blueprint("version_api", __name__, url_prefix="/api/v1")
version_pages = Blueprint("version_pages", __name__)
version_pages.register_blueprint(version_api)
csrf.exempt(version_api)
