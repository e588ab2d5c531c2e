"""防篡改: every history and audit row carries a keyed hash chained to the previous row.

Each row's `row_hash` is HMAC-SM3 (key: `keyring.chain_key()`, never rotated) over the chain's link
before it and a canonical encoding of the row's clear values (every column but `id` and
`row_hash`: re-sealing personal data with a new key changes no hash). The link after a row is a
second HMAC of its hash, so a chain's head — kept apart from the rows, on the instance row for a
case's history (`history_seq`, `history_head`) and in `chain_heads` for the audit log — cannot be
rolled back to an earlier row by anyone without the key: a deleted last row is found too.
`seq` numbers the rows of one chain (1, 2, …), so a gap names a deleted row and a duplicate or an
unnumbered row an inserted one (service/chain_verify.py walks the chains).

Chains: one per case (its steps are serialised by the instance row, which every writer locks
before it reads the head) and one for the audit log (its head row is locked). Hand-written inserts
go through `write_history`; ORM `History(...)` objects are chained by a `before_flush` listener."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import event, inspect, text
from sqlalchemy.orm import Session

from service import clock, keyring
from service.store import statements as stmt
from service.store.chain_models import ChainHead  # noqa: F401 - its table is in the metadata
from service.store.models import History

Head = tuple[int, str | None]  # (seq of the last row, link after it)
EMPTY: Head = (0, None)
AUDIT = "audit"  # the audit log's chain in chain_heads
NOT_HASHED = frozenset({"id", "row_hash"})

HEAD_OF = "SELECT history_seq, history_head FROM instances WHERE id = :id"
SET_HEAD = "UPDATE instances SET history_seq = :seq, history_head = :head WHERE id = :id"
# PostgreSQL: the instance row lock every step's UPDATE takes (not a key lock: inserts of rows
# referring to the case go on).
LOCK = " FOR NO KEY UPDATE"
CHAIN_HEAD = "SELECT seq, head FROM chain_heads WHERE name = :name"
NEW_CHAIN = "INSERT INTO chain_heads (name, seq, head, tail_seq) VALUES (:name, 0, NULL, 0) ON CONFLICT (name) DO NOTHING"
SET_CHAIN = "UPDATE chain_heads SET seq = :seq, head = :head WHERE name = :name"
_HISTORY_PARAMS = tuple(c.name for c in History.__table__.columns if c.name != "id")

# ----- the digest ------------------------------------------------------------------------------

_keyed: tuple[bytes, hmac.HMAC] | None = None
_keyed_lock = threading.Lock()


def _mac(*parts: bytes) -> str:
    """HMAC-SM3 of the parts (the keyed context is made once per key and copied)."""
    global _keyed
    key = keyring.chain_key()
    keyed = _keyed
    if keyed is None or keyed[0] != key:
        with _keyed_lock:
            keyed = _keyed = (key, hmac.HMAC(key, hashes.SM3()))
    h = keyed[1].copy()
    for part in parts:
        h.update(part)
    return h.finalize().hex()


def _moment(value: datetime, wall: bool) -> str:
    """A date-time as the same text on every database: Beijing wall time. SQLite keeps the wall
    time a value was given in (`wall`: hash that) and gives it back without a zone."""
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None) if wall else value.astimezone(clock.BEIJING).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")


def canonical(values: Mapping[str, Any], wall: bool = False) -> bytes:
    """The row's clear values as fixed bytes: sorted names, NULLs left out (so a column added
    later, NULL in old rows, leaves their hashes valid), date-times as Beijing wall time, booleans
    as 0/1 (SQLite reads them back as integers)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or name in NOT_HASHED:
            continue
        if isinstance(value, datetime):
            value = _moment(value, wall)
        elif isinstance(value, bool):
            value = int(value)
        out[name] = value
    return orjson.dumps(out, option=orjson.OPT_SORT_KEYS, default=str)


def row_hash(link: str | None, values: Mapping[str, Any], wall: bool = False) -> str:
    return _mac((link or "").encode(), b"\n", canonical(values, wall))


def link_after(hash_: str) -> str:
    """The chain's link after a row: what the next row hashes over, and the stored head."""
    return _mac(b"head\n", hash_.encode())


def seal(rows: Iterable[dict[str, Any]], head: Head, wall: bool = False) -> Head:
    """Number and hash `rows` (dicts, set in place) after `head`; returns the new head."""
    seq, link = head
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["row_hash"] = digest = row_hash(link, row, wall)
        link = link_after(digest)
    return seq, link


# ----- history: the hand-written inserts --------------------------------------------------------


def read_head(sql: Any, tx: Any, case_id: int) -> Callable[[], Head]:
    """The case's head, read right after the step's guarded UPDATE of its instance row (which
    holds the row: no one else moves the head before commit); inside a PostgreSQL batch it is
    known when the batch ends."""
    fetched = sql.fetched(tx, HEAD_OF, {"id": case_id})
    return lambda: _head(fetched())


def _head(rows: list[tuple[Any, ...]]) -> Head:
    return (int(rows[0][0] or 0), rows[0][1]) if rows else EMPTY


def lock_head(sql: Any, tx: Any, case_id: int) -> Head:
    """The case's head for a writer that did not step the case: the instance row is locked first
    (SQLite writers hold the database's write lock already)."""
    return _head(sql.rows(tx, HEAD_OF + (LOCK if sql.postgresql else ""), {"id": case_id}))


def write_history(sql: Any, tx: Any, rows: list[dict[str, Any]],
                  heads: Mapping[int, Head | None] | None = None) -> None:
    """Insert history rows (dicts of History's columns, `at` a datetime; columns left out are
    NULL), each case's chained to its head (`heads`, as the step read it, or locked and read
    here), and move the heads. Every hand-written history insert goes through here."""
    if not rows:
        return
    wall = not sql.postgresql
    by_case: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_case.setdefault(int(row["instance_id"]), []).append(row)
    moved = []
    for case_id, case_rows in by_case.items():
        head = heads.get(case_id) if heads else None
        for row in case_rows:
            for name in _HISTORY_PARAMS:
                row.setdefault(name, None)
            if len(row) != len(_HISTORY_PARAMS):  # every key is hashed: only History's columns
                raise RuntimeError(f"history row with unknown columns {sorted(set(row) - set(_HISTORY_PARAMS))}")
        new = seal(case_rows, head if head is not None else lock_head(sql, tx, case_id), wall)
        moved.append({"id": case_id, "seq": new[0], "head": new[1]})
    sql.many(tx, stmt.NEW_HISTORY, [{**r, "at": sql.when(r["at"])} for r in rows])
    for params in moved:
        sql.run(tx, SET_HEAD, params)


# ----- history: ORM objects -----------------------------------------------------------------------


def _columns(obj: Any) -> dict[str, Any]:
    return {c.name: getattr(obj, c.key) for c in obj.__table__.columns if c.name not in NOT_HASHED}


def _chain_new_history(session: Session, _context: Any, _instances: Any) -> None:
    """before_flush: chain the History objects added to the session, in the order they were added."""
    new = [o for o in session.new if isinstance(o, History) and o.row_hash is None]
    if not new:
        return
    new.sort(key=lambda o: inspect(o).insert_order or 0)
    conn = session.connection()
    postgresql = conn.dialect.name == "postgresql"
    by_case: dict[int, list[History]] = {}
    for obj in new:
        by_case.setdefault(int(obj.instance_id), []).append(obj)
    for case_id, objs in by_case.items():
        found = conn.execute(text(HEAD_OF + (LOCK if postgresql else "")), {"id": case_id}).all()
        values = [_columns(o) for o in objs]
        seq, head = seal(values, _head([tuple(r) for r in found]), wall=not postgresql)
        for obj, row in zip(objs, values, strict=True):
            obj.seq, obj.row_hash = row["seq"], row["row_hash"]
        conn.execute(text(SET_HEAD), {"id": case_id, "seq": seq, "head": head})


_installed = False


def install() -> None:
    """Register the ORM listener (once per process; service/store/db.py calls it)."""
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _chain_new_history)
        _installed = True


install()

# ----- the audit log ------------------------------------------------------------------------------


def _lock_chain(session: Session, name: str) -> Head:
    conn = session.connection()
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    found = conn.execute(text(CHAIN_HEAD + lock), {"name": name}).all()
    if not found:
        conn.execute(text(NEW_CHAIN), {"name": name})
        found = conn.execute(text(CHAIN_HEAD + lock), {"name": name}).all()
    return int(found[0][0]), found[0][1]


def seal_audit(session: Any, values: dict[str, Any]) -> None:
    """Set values["seq"] and values["row_hash"] for a new audit row, chained to the audit chain's
    head, which stays locked (PostgreSQL; SQLite writers hold BEGIN IMMEDIATE) until the row's
    transaction ends: the rows of concurrent transactions form one chain."""
    wall = session.connection().dialect.name != "postgresql"
    seq, head = seal([values], _lock_chain(session, AUDIT), wall)
    session.connection().execute(text(SET_CHAIN), {"name": AUDIT, "seq": seq, "head": head})


def mark_audit_pruned(session: Any, through_seq: int) -> None:
    """Call before deleting the audit rows numbered up to `through_seq` (past `audit.keep_days`):
    the chain then starts after them (the tail), and verify does not name them deleted."""
    conn = session.connection()
    found = conn.execute(text("SELECT row_hash FROM audit_log WHERE seq = :seq"), {"seq": through_seq}).all()
    if not found or found[0][0] is None:
        return
    _lock_chain(session, AUDIT)
    conn.execute(text("UPDATE chain_heads SET tail_seq = :seq, tail_head = :head WHERE name = :name"),
                 {"seq": through_seq, "head": link_after(found[0][0]), "name": AUDIT})


# ----- chaining the rows of a database made before the chains (migration 0022) -------------------

BACKFILL_CASES = 500  # cases read per batch


def backfill(conn: Any) -> int:
    """Chain every unchained history row (per case, in id order) and audit row, and set the heads:
    `govflow verify` passes right after the upgrade. Returns the rows chained."""
    from sqlalchemy import inspect as inspect_db
    from sqlalchemy import select

    wall = conn.dialect.name != "postgresql"
    existing = {c["name"] for c in inspect_db(conn).get_columns("history")}
    table = History.__table__
    columns = [table.c[c.name] for c in table.columns if c.name in existing and c.name not in ("row_hash",)]
    case_ids = [r[0] for r in conn.execute(text("SELECT id FROM instances ORDER BY id"))]
    chained = 0
    for start in range(0, len(case_ids), BACKFILL_CASES):
        batch = case_ids[start:start + BACKFILL_CASES]
        rows = conn.execute(select(*columns).where(table.c.instance_id.in_(batch), table.c.row_hash.is_(None))
                            .order_by(table.c.instance_id, table.c.id)).mappings().all()
        by_case: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_case.setdefault(int(row["instance_id"]), []).append(dict(row))
        updates, heads = [], []
        for case_id, case_rows in by_case.items():
            found = conn.execute(text(HEAD_OF), {"id": case_id}).all()
            seq, head = seal(case_rows, _head([tuple(r) for r in found]), wall)
            updates += [{"id": r["id"], "seq": r["seq"], "h": r["row_hash"]} for r in case_rows]
            heads.append({"id": case_id, "seq": seq, "head": head})
        if updates:
            conn.execute(text("UPDATE history SET seq = :seq, row_hash = :h WHERE id = :id"), updates)
            conn.execute(text(SET_HEAD), heads)
            chained += len(updates)
    return chained + _backfill_audit(conn, wall)


def _backfill_audit(conn: Any, wall: bool) -> int:
    from sqlalchemy import inspect as inspect_db

    if not inspect_db(conn).has_table("audit_log"):
        return 0
    from sqlalchemy import select

    from service.store.audit_models import AuditRow

    table = AuditRow.__table__
    rows = [dict(r) for r in conn.execute(select(*[c for c in table.columns if c.name != "row_hash"])
                                          .where(table.c.row_hash.is_(None)).order_by(table.c.id)).mappings()]
    if not rows:
        return 0  # a new database: no head row either (it is made with the first audit row)
    conn.execute(text(NEW_CHAIN), {"name": AUDIT})
    found = conn.execute(text(CHAIN_HEAD), {"name": AUDIT}).all()
    seq, head = seal(rows, (int(found[0][0]), found[0][1]), wall)
    conn.execute(text("UPDATE audit_log SET seq = :seq, row_hash = :h WHERE id = :id"),
                 [{"id": r["id"], "seq": r["seq"], "h": r["row_hash"]} for r in rows])
    conn.execute(text(SET_CHAIN), {"name": AUDIT, "seq": seq, "head": head})
    return len(rows)
