"""Errors the service raises; the web layer turns each into its HTTP status and Chinese message."""

from __future__ import annotations

from typing import Any


class GovFlowError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class BadRequest(GovFlowError):
    status = 400
    code = "bad_request"


class Unauthorized(GovFlowError):
    status = 401
    code = "unauthorized"


class Forbidden(GovFlowError):
    status = 403
    code = "forbidden"


class NotFound(GovFlowError):
    status = 404
    code = "not_found"


class Conflict(GovFlowError):
    status = 409
    code = "conflict"


class DuplicatePeriod(Conflict):
    """A case with this idempotency key (process + period of a round) already exists."""

    code = "duplicate_period"


class Invalid(GovFlowError):
    status = 422
    code = "invalid"


class EngineFailure(GovFlowError):
    """A diagram's script or expression failed at run time; nothing was written."""

    status = 500
    code = "engine_error"


class Unavailable(GovFlowError):
    status = 503
    code = "unavailable"
