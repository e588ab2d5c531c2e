"""安全审计 (等保 2.0 安全审计): one row per security event — who, from where, what, when, result.

STUB (contract in the session's CONTRACT): the audit helper fills this in. Callers use `record()`
inside the transaction of the change it describes, so a change never lands without its row and
a rolled-back change leaves none. The web layer sets who and from where once per request
(`bind()`), like the notices' outbox: service code never reads Flask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Origin:
    """Who acts and from where (a request's user and remote address; the CLI, the timers)."""

    username: str | None
    address: str | None


_origin: ContextVar[Origin | None] = ContextVar("audit_origin", default=None)


@contextmanager
def bind(username: str | None, address: str | None) -> Iterator[None]:
    """Make `record()` default to this user and address inside the block."""
    token = _origin.set(Origin(username, address))
    try:
        yield
    finally:
        _origin.reset(token)


def origin() -> Origin | None:
    return _origin.get()


def record(session: Any, kind: str, *, target: str | None = None, detail: str = "",
           result: str = "success", username: str | None = None, address: str | None = None) -> None:
    """Add one audit row to `session` (an ORM Session) — STUB until the audit helper lands."""
