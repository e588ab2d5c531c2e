"""What the audit tests share: the rows of an app's audit log, a client from a given address."""

from __future__ import annotations

from typing import Any, NamedTuple


class Row(NamedTuple):
    username: str
    address: str | None
    kind: str
    target: str | None
    result: str
    detail: str


def audit_rows(app_or_db: Any, kind: str | None = None) -> list[Row]:
    """The app's (or a Database's) audit rows in the order written, optionally of one kind."""
    from sqlalchemy import select

    from service.store.audit_models import AuditRow

    db = app_or_db.extensions["govflow"].db if hasattr(app_or_db, "extensions") else app_or_db
    query = select(AuditRow).order_by(AuditRow.id)
    if kind is not None:
        query = query.where(AuditRow.kind == kind)
    with db.read() as session:
        return [Row(r.username, r.address, r.kind, r.target, r.result, r.detail) for r in session.scalars(query)]


def from_address(client: Any, address: str) -> Any:
    """The test client's requests come from `address` (request.remote_addr)."""
    client.environ_base["REMOTE_ADDR"] = address
    return client
