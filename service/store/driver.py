"""The driver-level transaction of the hot path and how its errors are reported (shared by the
database owner, service/store/db.py, and the fixed-statement runner, service/store/fastsql.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError

__all__ = ["RawTx", "wrap_driver_error"]


def wrap_driver_error(dialect: Any, exc: Exception, fairy: Any, statement: str | None = None,
                      params: Any = None) -> Exception:
    """A driver error as SQLAlchemy would raise it (the web layer answers those with 503/409);
    a connection the server dropped is invalidated so the pool does not hand it out again."""
    base = dialect.loaded_dbapi.Error
    if not isinstance(exc, base):
        return exc
    lost = dialect.is_disconnect(exc, fairy.dbapi_connection, None)
    wrapped = DBAPIError.instance(statement, params, exc, base, connection_invalidated=lost, dialect=dialect)
    if lost:
        fairy.invalidate(wrapped)
    return wrapped


class RawTx:
    """One transaction on a pooled driver connection, without an ORM session.

    A Session costs ~0.3 ms of bookkeeping per transaction, more than all the statements of a
    task completion (service.store.fastsql); the hot path uses this instead. Statements run as
    they are issued, so `flush()` has nothing to do."""

    def __init__(self, fairy: Any, sqlite_write: bool = False) -> None:
        self.fairy = fairy
        self.cursor = fairy.driver_connection.cursor()
        self._sqlite_write = sqlite_write
        self._begun = False

    def begin(self) -> None:
        """Start writing: SQLite takes its write lock here (BEGIN IMMEDIATE); PostgreSQL's
        transaction is already open (the driver begins one with the first statement)."""
        if self._sqlite_write and not self._begun:
            self.cursor.execute("BEGIN IMMEDIATE")
        self._begun = True

    def flush(self) -> None:
        return None
