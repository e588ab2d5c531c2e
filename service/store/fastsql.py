"""Hot-path statements run on the transaction's own driver connection.

Completing a task writes a dozen small rows. Through SQLAlchemy each statement costs ~60 µs of
compiling, cache-key building and parameter processing; on the DBAPI cursor it costs ~5 µs.
The statements here are fixed strings written once, with `:name` parameters (translated to
`%(name)s` for psycopg), run inside the transaction of a `RawTx` (or of an ORM session, for the
few callers that hold one), so atomicity and the version check are unchanged. Date-times go
through SQLAlchemy's own bind processor, so rows written here read back exactly like rows the
ORM wrote; driver errors are wrapped as SQLAlchemy's. Parameters filling sealed columns (registered
by service/store/statements.py from the models' column types) are sealed here, at bind time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from service import sealed
from service.store.driver import RawTx, wrap_driver_error

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class FastSql:
    """Translates and runs fixed statements for one dialect (SQLite or PostgreSQL)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgresql = dialect.name == "postgresql"
        self._datetime = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
        self._texts: dict[str, str] = {}

    def when(self, value: datetime | None) -> Any:
        """A date-time as this dialect stores it (SQLite: SQLAlchemy's text form)."""
        if value is None or self._datetime is None:
            return value
        return self._datetime(value)

    def _text(self, sql: str) -> str:
        text = self._texts.get(sql)
        if text is None:
            text = _PARAM.sub(r"%(\1)s", sql) if self.postgresql else sql
            self._texts[sql] = text
        return text

    @staticmethod
    def _cursor(session: Session | RawTx) -> Any:
        """The transaction's driver cursor (a Session's is looked up once per transaction: asking
        it for its connection on every statement costs more than the statement)."""
        if isinstance(session, RawTx):
            return session.cursor
        cached = session.info.get("fastsql_cursor")
        if cached is not None and cached[0] is session.get_transaction():
            return cached[1]
        cursor = session.connection().connection.driver_connection.cursor()
        session.info["fastsql_cursor"] = (session.get_transaction(), cursor)
        return cursor

    def _fail(self, handle: Session | RawTx, sql: str, params: Any, exc: Exception) -> Exception:
        fairy = handle.fairy if isinstance(handle, RawTx) else handle.connection().connection
        return wrap_driver_error(self.dialect, exc, fairy, sql, params)

    def run(self, session: Session | RawTx, sql: str, params: dict[str, Any] | None = None) -> int:
        """Execute one statement; returns the row count."""
        cur = self._cursor(session)
        params = sealed.bind(sql, params)
        try:
            cur.execute(self._text(sql), params or {})
            return int(cur.rowcount)
        except Exception as exc:
            raise self._fail(session, sql, params, exc) from exc

    def rows(self, session: Session | RawTx, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cur = self._cursor(session)
        params = sealed.bind(sql, params)
        try:
            cur.execute(self._text(sql), params or {})
            return [tuple(r) for r in cur.fetchall()]
        except Exception as exc:
            raise self._fail(session, sql, params, exc) from exc

    def many(self, session: Session | RawTx, sql: str, params: Sequence[dict[str, Any]]) -> None:
        """Insert several rows. SQLite's executemany loops in C; psycopg's sets up a pipeline,
        which costs more than it saves for the few rows of a step, so PostgreSQL gets one
        multi-row INSERT … VALUES (…), (…) instead."""
        if not params:
            return
        params = [sealed.bind(sql, p) for p in params]
        if self.postgresql and len(params) > 1:
            head, _, values = sql.partition(" VALUES ")
            rows, merged = [], {}
            for i, row in enumerate(params):
                rows.append(_PARAM.sub(lambda m, i=i: f":{m.group(1)}__{i}", values))
                merged.update({f"{k}__{i}": v for k, v in row.items()})
            sql, params = f"{head} VALUES {', '.join(rows)}", [merged]
        cur = self._cursor(session)
        try:
            if len(params) == 1:
                cur.execute(self._text(sql), params[0])
            else:
                cur.executemany(self._text(sql), params)
        except Exception as exc:
            raise self._fail(session, sql, params, exc) from exc

    def _own_cursor(self, handle: RawTx, sql: str, params: dict[str, Any]) -> Any:
        """A statement on its own cursor (inside a PostgreSQL batch: its result is read when the
        batch ends)."""
        try:
            cur = handle.fairy.driver_connection.cursor()
            cur.execute(self._text(sql), params)
        except Exception as exc:
            raise self._fail(handle, sql, params, exc) from exc
        return cur

    def counted(self, handle: Session | RawTx, sql: str, params: dict[str, Any]) -> Callable[[], int]:
        """Execute a statement whose row count is read later: inside a PostgreSQL batch it is
        known only when the batch ends (each such statement gets its own cursor)."""
        params = sealed.bind(sql, params)
        if self.postgresql and isinstance(handle, RawTx):
            cur = self._own_cursor(handle, sql, params)
            return lambda: int(cur.rowcount)
        count = self.run(handle, sql, params)
        return lambda: count

    def fetched(self, handle: Session | RawTx, sql: str, params: dict[str, Any]) -> Callable[[], list[tuple[Any, ...]]]:
        """Execute a query whose rows are read later (like `counted`: inside a PostgreSQL batch
        they arrive when the batch ends, with no round trip of their own)."""
        if self.postgresql and isinstance(handle, RawTx):
            cur = self._own_cursor(handle, sql, params)
            return lambda: [tuple(r) for r in cur.fetchall()]
        found = self.rows(handle, sql, params)
        return lambda: found

    @contextmanager
    def batch(self, handle: Session | RawTx) -> Iterator[None]:
        """Statements whose answers nobody reads, sent together: on PostgreSQL a pipeline (one
        round trip for all of them, errors raised at the end of the block); elsewhere as usual."""
        if not self.postgresql or not isinstance(handle, RawTx):
            yield
            return
        try:
            with handle.fairy.driver_connection.pipeline():
                yield
        except Exception as exc:
            raise self._fail(handle, "pipeline", None, exc) from exc

    def in_list(self, prefix: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
        """`:p0, :p1, …` placeholders and their parameters, for an IN (…) list."""
        params = {f"{prefix}{i}": v for i, v in enumerate(values)}
        return ", ".join(f":{k}" for k in params), params
