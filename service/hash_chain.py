"""防篡改: every history and audit row carries a keyed hash chained to the previous row.

STUB (contract in the session's CONTRACT): the chain helper fills this in."""

from __future__ import annotations

from typing import Any


def seal_audit(session: Any, values: dict[str, Any]) -> None:
    """Set values["row_hash"] for a new audit row (chained to the audit chain's head) — STUB."""
    values.setdefault("row_hash", None)
