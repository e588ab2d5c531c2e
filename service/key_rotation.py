"""`govflow rotate-key [--drop-old]`: a new data key, every sealed value sealed again with it.

Key file ring: the new key is written first in the file (the old ones stay, so every value still
opens); running servers read the file again within keyring.RECHECK_SECONDS and seal new values
with the new key. Then every sealed column is walked in primary-key batches, each batch its own
short transaction, and each value not yet under the new key (values still in clear from before
sealing included) is sealed again — only if the row still holds what was read, so a step that
changed it meanwhile wins (it sealed with the new key anyway). A run that stops halfway is simply
run again (`--drop-old` alone re-seals with the current key without making another one). With
`--drop-old`, the keys no stored value uses any more are removed from the file at the end.

Environment ring (GOVFLOW_KEYS): the command cannot change the environment of the servers, so it
prints the new GOVFLOW_KEYS; once every node runs with it, `govflow rotate-key --drop-old`
re-seals with its first key and prints the ring without the keys no value uses.

The duplicate-key hashes of the cases (instances.match_hash) made before they were keyed are
recomputed in the same walk."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.orm import Session

from service import keyring, procedure, sealed, search_keys
from service.config import Settings
from service.keyring import DataKey, Keyring, KeyringError
from service.store.db import Database

BATCH = 200


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    key: str  # the single-column primary key

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


def sealed_columns() -> list[SealedColumn]:
    """Every column typed SealedText/SealedBytes in the models (all of service/store/*_models.py)."""
    import service.store as store
    from service.store.models import Base

    for info in pkgutil.iter_modules(store.__path__):
        if info.name == "models" or info.name.endswith("_models"):
            importlib.import_module(f"service.store.{info.name}")
    found = []
    for table in Base.metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, sealed.SealedText | sealed.SealedBytes)]
        if names:
            found.extend(SealedColumn(table.name, name, _primary_key(table)) for name in names)
    return found


def _primary_key(table: Table) -> str:
    keys = [c.name for c in table.primary_key.columns]
    if len(keys) != 1:
        raise RuntimeError(f"{table.name}: sealed columns need a single-column primary key")
    return keys[0]


def _batches(db: Database, col: SealedColumn) -> Iterator[list[tuple[Any, Any]]]:
    """(primary key, stored value) of the non-empty values, in key order, BATCH at a time."""
    last: Any = None
    while True:
        where = f"{col.column} IS NOT NULL" + (f" AND {col.key} > :last" if last is not None else "")
        with db.read() as session:
            rows = session.execute(text(f"SELECT {col.key}, {col.column} FROM {col.table} WHERE {where} "
                                        f"ORDER BY {col.key} LIMIT {BATCH}"), {"last": last}).all()
        if not rows:
            return
        last = rows[-1][0]
        yield [(r[0], r[1]) for r in rows]


@contextmanager
def _writable(session: Session, table: str) -> Iterator[None]:
    """Lift the table's refusing triggers (the history is append-only in the database itself) for
    this batch's transaction only: other transactions never see them missing (SQLite: the
    batch holds the write lock and its DDL is transactional; PostgreSQL: DISABLE TRIGGER inside the
    transaction, which also holds the table's inserts until it commits). Re-sealing changes no
    clear value, so the history's hash chain stays valid."""
    if session.get_bind().dialect.name == "postgresql":
        names = session.execute(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal "
            "AND tgenabled <> 'D'"), {"t": table}).scalars().all()
        for name in names:
            session.execute(text(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"'))
        yield
        for name in names:
            session.execute(text(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"'))
        return
    found = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                                 "AND sql LIKE '%BEFORE UPDATE%'"), {"t": table}).all()
    for name, _sql in found:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in found:
        session.execute(text(sql))


def reseal(db: Database, key: DataKey, out: Any = print) -> dict[str, int]:
    """Seal every stored value not under `key` with it; returns column label → values changed
    ("" → how many of them were in clear)."""
    changed: dict[str, int] = {"": 0}
    for col in sealed_columns():
        count = 0
        for rows in _batches(db, col):
            stale = [(pk, value) for pk, value in rows if value and sealed.key_id_of(value) != key.id]
            if not stale:
                continue
            with db.write() as session, _writable(session, col.table):  # one batch, one transaction
                for pk, value in stale:
                    result = session.execute(
                        text(f"UPDATE {col.table} SET {col.column} = :new WHERE {col.key} = :pk "
                             f"AND {col.column} = :old"),
                        {"new": sealed.reseal(value, key), "pk": pk, "old": value})
                    count += result.rowcount
                    changed[""] += result.rowcount if not sealed.is_sealed(value) else 0
        changed[col.label] = count
        out(f"  {col.label}：重新加密 {count} 项")
    return changed


def usage(db: Database) -> Counter[str]:
    """How many stored values each key id seals ("" counts the values still in clear)."""
    used: Counter[str] = Counter()
    for col in sealed_columns():
        for rows in _batches(db, col):
            used.update(sealed.key_id_of(value) or "" for _pk, value in rows if value)
    return used


def rehash_matches(db: Database) -> int:
    """Recompute the cases' duplicate-key hashes (keyed); returns how many changed."""
    changed = 0
    for declared in procedure.registry():
        if not declared.duplicate_key:
            continue
        with db.read() as session:
            cases = session.execute(text("SELECT id, match_hash FROM instances WHERE process_key = :p "
                                         "AND status = 'running' AND match_hash IS NOT NULL"),
                                    {"p": declared.key}).all()
        for case_id, stored in cases:
            with db.read() as session:
                history = [(a, sealed.unseal(d)) for a, d in session.execute(text(
                    "SELECT action, data_after FROM history WHERE instance_id = :id ORDER BY id"), {"id": case_id})]
            value = search_keys.latest_values([declared.duplicate_key], history).get(declared.duplicate_key)
            fresh = search_keys.match_digest(declared.key, value)
            if fresh and fresh != stored:
                with db.write() as session:
                    session.execute(text("UPDATE instances SET match_hash = :h WHERE id = :id"),
                                    {"h": fresh, "id": case_id})
                changed += 1
    return changed


def _scrub(db: Database, clear: int) -> None:
    """Leave no clear copy behind: SQLite's WAL is checkpointed and truncated (the old frames held
    the values as they were); PostgreSQL keeps dead row versions until VACUUM FULL rewrites them."""
    if db.dialect == "sqlite":
        fairy = db.engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
        try:
            busy = fairy.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            fairy.close()
        if busy and busy[0]:
            print("提示：数据库正被读取，预写日志（WAL）未能清空；请稍后再运行一次本命令。")
    elif clear:
        print("提示：PostgreSQL 在表文件中保留旧的行版本，其中仍有原来的明文，直到被覆盖；"
              "请在维护时段运行 VACUUM FULL history, instance_states, submissions, attachment_blobs。")


def _write_ring(ring: Keyring) -> None:
    keyring.write_key_file(keyring.key_file_path(), ring, replace=True)
    keyring.reset()


def main(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        ring = keyring.ring(fresh=True)
    except KeyringError as exc:
        print(f"密钥轮换失败：{exc}")
        return 1
    from_env = bool(os.environ.get("GOVFLOW_KEYS"))
    drop_old = bool(getattr(args, "drop_old", False))
    if from_env and not drop_old:
        new = Keyring(ring.chain_key, (keyring.new_key(), *ring.keys), ring.source)
        print("密钥环来自环境变量 GOVFLOW_KEYS，本命令无法修改它。新的密钥环如下（新密钥在前，旧密钥保留）：")
        print(new.to_text().strip())
        print(f"请在每个节点把 GOVFLOW_KEYS 设为上面的内容并重启服务，然后运行 govflow rotate-key --drop-old，"
              f"用新密钥 {new.current.id} 重新加密全部个人信息并删除不再使用的旧密钥。")
        return 0
    if not from_env and not drop_old:
        ring = Keyring(ring.chain_key, (keyring.new_key(ring.current.algorithm), *ring.keys), ring.source)
        _write_ring(ring)
        print(f"已生成新的数据密钥 {ring.current.id}（{ring.current.algorithm}）并写入密钥文件 {ring.source}；"
              "旧密钥仍保留，已加密的数据照常可读。")
        # the servers look at the key file again within RECHECK_SECONDS: after that they seal
        # with the new key too, and what they wrote before is caught by the walk below
        time.sleep(keyring.RECHECK_SECONDS + 0.5)
    key = ring.current
    db = Database(settings.database_url)
    if db.dialect == "sqlite":  # what an UPDATE frees is zeroed, not left behind in free pages
        event.listen(db.engine, "connect", lambda conn, _record: conn.execute("PRAGMA secure_delete = ON"))
    try:
        print(f"正在用密钥 {key.id} 重新加密全部个人信息（每批 {BATCH} 条一个事务，可随时中断后重新运行）：")
        changed = reseal(db, key)
        clear = changed.pop("")
        rehashed = rehash_matches(db)
        print(f"重新加密完成：共 {sum(changed.values())} 项（其中原为明文的 {clear} 项）"
              + (f"；重新计算查重哈希 {rehashed} 件" if rehashed else ""))
        _scrub(db, clear)
        if not drop_old:
            print("旧密钥仍在密钥文件中；确认无误后运行 govflow rotate-key --drop-old 删除不再使用的旧密钥。")
            return 0
        used = usage(db)
        for _ in range(3):  # a server that had not yet seen the new key may have sealed with an old one
            if set(used) <= {key.id}:
                break
            reseal(db, key, out=lambda _line: None)
            used = usage(db)
        left = [k for k in ring.keys if k.id == key.id or used.get(k.id)]
        dropped = [k.id for k in ring.keys if k not in left]
        pruned = Keyring(ring.chain_key, tuple(left), ring.source)
        if from_env:
            print("请在每个节点把 GOVFLOW_KEYS 设为下面的内容并重启服务" +
                  (f"（已删除不再使用的密钥 {'、'.join(dropped)}）：" if dropped else "（没有可删除的旧密钥）："))
            print(pruned.to_text().strip())
        elif dropped:
            _write_ring(pruned)
            print(f"已从密钥文件删除不再使用的旧密钥：{'、'.join(dropped)}")
        else:
            print("没有可删除的旧密钥。")
        still = [k for k in left if k.id != key.id]
        if still:
            print(f"仍有数据使用旧密钥 {'、'.join(k.id for k in still)}（服务正在写入？），请稍后再运行一次 --drop-old。")
        return 0
    except KeyringError as exc:
        print(f"密钥轮换失败：{exc}")
        return 1
    finally:
        db.dispose()
