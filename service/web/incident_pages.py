"""故障案件 (incidents): cases in error or stuck, with the reason; `admin` retries, moves a case
to a chosen step, or ends it with a reason."""

from __future__ import annotations

from flask import Blueprint

from service.web.context import csrf

incident_api = Blueprint("incident_api", __name__, url_prefix="/api/v1")
incident_pages = Blueprint("incident_pages", __name__)
incident_pages.register_blueprint(incident_api)
csrf.exempt(incident_api)
