"""流程设计 (the designer's workshop): the catalog the modeler's properties panel reads, server
checks shown on the canvas, drafts (autosaved, submitted) and deploying a draft; designers edit,
only `admin` deploys. Owner: the designer-pages work (see the CONTRACT)."""

from __future__ import annotations

from flask import Blueprint

from service.web.context import csrf

designer_api = Blueprint("designer_api", __name__, url_prefix="/api/v1")
designer_pages = Blueprint("designer_pages", __name__)
designer_pages.register_blueprint(designer_api)
csrf.exempt(designer_api)
