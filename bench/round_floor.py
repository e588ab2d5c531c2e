"""round_sqlite_sql_only: what SQLite alone costs the screening round — the statements one round
sent (each report its own transaction), replayed with no Python around them on a copy of the
database taken just before that round. With the raw engine's time for the same round it bounds
the service's ratio from above: a round can cost no less than its engine plus its SQL, so
raw / (raw + sql) is the ratio the service would reach if everything else it does were free."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

# Copies replayed (one each: a replay writes the round's rows, so it cannot run twice).
REPLAYS = 3


@contextmanager
def _traced(engines: list[Any]) -> Iterator[list[tuple[int, str]]]:
    """Every statement the engines' connections run inside the block, with their parameters bound
    (SQLite's expanded SQL), in order, each with the connection it ran on (a read may hold its
    own connection while a write runs on another); transactions as BEGIN IMMEDIATE … COMMIT."""
    statements: list[tuple[int, str]] = []

    def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        key = id(dbapi_conn)
        dbapi_conn.set_trace_callback(lambda sql: statements.append((key, sql)))

    def on_checkin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(None)

    for engine in engines:
        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "checkin", on_checkin)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "checkout", on_checkout)
            event.remove(engine, "checkin", on_checkin)


def _copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection set up as the service's (WAL, synchronous=NORMAL, foreign keys on)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def _replay(path: Path, statements: list[tuple[int, str]]) -> float:
    """Seconds to run `statements` on the database at `path`, in order, each on the connection
    standing for the one it was recorded on."""
    conns = {key: _connect(path) for key in dict.fromkeys(key for key, _sql in statements)}
    try:
        began = time.perf_counter()
        for key, sql in statements:
            conns[key].execute(sql).fetchall()
        return time.perf_counter() - began
    finally:
        for conn in conns.values():
            conn.close()


def sql_only(svc: Any, db_path: Path, drive: Callable[[], Any]) -> dict[str, Any]:
    """Drive one round (`drive`) through the service while recording its SQL, then replay that SQL
    alone on copies of the database as it was before the round; the fastest replay counts."""
    with tempfile.TemporaryDirectory(prefix="govflow-floor-") as tmp:
        copies = [Path(tmp) / f"copy{n}.db" for n in range(REPLAYS)]
        for copy in copies:
            _copy(db_path, copy)
        engines = [svc.db.engine] + ([svc.db.read_engine] if svc.db.read_engine is not svc.db.engine else [])
        with _traced(engines) as statements:
            drive()
        recorded = list(statements)
        seconds = min(_replay(copy, recorded) for copy in copies)
    return {"seconds": seconds, "statements": len(recorded),
            "transactions": sum(1 for _key, sql in recorded if sql == "BEGIN IMMEDIATE")}
