"""备份与恢复 (issue 14 item 5): a consistent copy of the database while the server runs, with a
manifest beside it, and its restore into an empty database.

SQLite: the online backup API (sqlite3 `Connection.backup`, all pages in one step: one read
snapshot, writers go on in WAL mode) into `govflow-<YYYYMMDD-HHMMSS>.db`, a single self-contained
file. PostgreSQL: `pg_dump --format=custom` into `govflow-<…>.dump`, run on a snapshot exported by
a REPEATABLE READ transaction (`pg_export_snapshot`), so the manifest's counts are those of the
very rows in the dump. The password never reaches a command line or a log: libpq reads it from
PGPASSWORD.

The manifest `<file>.json` holds the schema revision, the count and a digest of the ids of the
instances, human_tasks, timers and history rows, and the file's SHA-256. A restore refuses a file
whose checksum does not match, a database that already holds data, a backup from a newer schema
or another kind of database; after restoring it migrates to the newest revision and checks that
the restored rows are those the manifest lists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service import clock, keyring
from service.errors import Conflict, Invalid, NotFound, Unavailable
from service.store.backup_models import FAILED, RUNNING, BackupRun

log = logging.getLogger(__name__)

PG_DUMP = "/usr/bin/pg_dump"
PG_RESTORE = "/usr/bin/pg_restore"
TABLES = ("instances", "human_tasks", "timers", "history")  # what a manifest counts
MANIFEST_FORMAT = 1
NAME = re.compile(r"govflow-(\d{8}-\d{6})(?:-(\d+))?\.(db|dump)")
SUFFIX = {"sqlite": "db", "postgresql": "dump"}
KIND_NAME = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
COMMAND_SECONDS = 6 * 3600  # a pg_dump/pg_restore still running after this is stuck
CHUNK = 1 << 20
UNFINISHED_IN_COPY = "本数据库由备份恢复：备份制作时这次备份尚未完成，其结果记录在原数据库中"


class BackupFailed(Unavailable):
    """Making or restoring a backup failed (disk full, pg_dump missing, the server refused)."""

    code = "backup_failed"


@dataclass
class Made:
    """A finished backup: the file, its manifest, how long it took and what retention removed."""

    path: Path
    manifest: dict[str, Any]
    seconds: float
    removed: list[str] = field(default_factory=list)

    @property
    def manifest_path(self) -> Path:
        return manifest_path(self.path)


def dialect_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def safe_url(url: str) -> str:
    """The database URL as shown to people and logs: never the password."""
    return make_url(url).render_as_string(hide_password=True)


def scrub(text: str, url: str) -> str:
    """`text` (a driver's or pg_dump's message) with the URL's password replaced, should it appear."""
    password = make_url(url).password
    return text.replace(str(password), "***") if password else text


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def sqlite_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise Invalid("内存数据库不能备份或恢复")
    return Path(path)


# ----- facts of a snapshot: revision, counts, ids ----------------------------------------------------

Rows = Callable[[str], list[tuple[Any, ...]]]


def _facts(rows: Rows, tables: set[str]) -> dict[str, Any]:
    """The schema revision and, per counted table, its row count and the SHA-256 of its sorted ids
    (the same on SQLite and PostgreSQL: sorted here, not by a collation)."""
    revision = rows("SELECT version_num FROM alembic_version")[0][0] if "alembic_version" in tables else None
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    for table in TABLES:
        ids = [r[0] for r in rows(f"SELECT id FROM {table}")] if table in tables else []  # noqa: S608 - fixed names
        ids.sort(key=lambda v: (isinstance(v, str), v))
        counts[table] = len(ids)
        digests[table] = hashlib.sha256("\n".join(str(i) for i in ids).encode()).hexdigest()
    return {"schema_revision": revision, "counts": counts, "ids_sha256": digests}


def database_facts(url: str) -> dict[str, Any]:
    """The facts of the database at `url` now (after a restore; tests compare them)."""
    from service.store.db import Database

    db = Database(url)
    try:
        with db.read_engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            return _facts(lambda sql: [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()], tables)
    finally:
        db.dispose()


# ----- making a backup -------------------------------------------------------------------------------


def _claim_name(directory: Path, dialect: str) -> Path:
    """`govflow-<stamp>.<db|dump>` created empty (exclusively: two backups in one second, on two
    nodes, get `-2`, `-3` …); the finished file replaces it."""
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        path = directory / f"govflow-{stamp}{'' if n == 1 else f'-{n}'}.{SUFFIX[dialect]}"
        try:
            with open(path, "x"):
                return path
        except FileExistsError:
            continue
    raise BackupFailed(f"备份目录 {directory} 中同一秒的备份文件过多")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _fsync(partial)
    os.replace(partial, path)


def backup(url: str, directory: Path) -> Made:
    """Back up the database at `url` into `directory` (created if missing): the file and its
    manifest, both written under temporary names and renamed when complete."""
    dialect = dialect_of(url)
    started = time.monotonic()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        final = _claim_name(directory, dialect)
    except OSError as exc:
        raise BackupFailed(f"无法写入备份目录 {directory}：{exc.strerror or exc}") from exc
    partial = final.with_name(f".{final.name}.partial")
    try:
        facts = _sqlite_backup(url, partial) if dialect == "sqlite" else _pg_backup(url, partial)
        _fsync(partial)
        manifest = {
            "format": MANIFEST_FORMAT, "file": final.name, "dialect": dialect,
            "created_at": clock.now_iso(), **facts,
            "keys": keyring.ring().fingerprint(),  # a restore needs the same keyring (ids only)
            "size": partial.stat().st_size, "sha256": _sha256(partial),
        }
        os.replace(partial, final)
        _write_json(manifest_path(final), manifest)
    except BaseException as exc:
        for leftover in (partial, final, manifest_path(final)):
            leftover.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupFailed(f"写入备份文件失败：{exc.strerror or exc}") from exc
        if isinstance(exc, sqlite3.Error):
            raise BackupFailed(f"SQLite 备份失败：{exc}") from exc
        raise
    seconds = time.monotonic() - started
    log.info("备份完成：%s（%s 字节，%.1f 秒）", final, manifest["size"], seconds)
    return Made(final, manifest, seconds)


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _sqlite_backup(url: str, partial: Path) -> dict[str, Any]:
    source = sqlite_path(url)
    if not source.is_file():
        raise NotFound(f"数据库文件不存在：{source}")
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(partial))
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # pages=-1: every page in one step, from one read snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # the copy is one file, no -wal beside it
        return _facts(lambda sql: dst.execute(sql).fetchall(), _sqlite_tables(dst))
    finally:
        dst.close()
        src.close()


def pg_connection(url: str) -> tuple[dict[str, Any], str | None]:
    """libpq parameters of a SQLAlchemy PostgreSQL URL (host, port, user, dbname and its query
    options) and, apart, its password."""
    parsed = make_url(url)
    params: dict[str, Any] = {k: v for k, v in {
        "host": parsed.host, "port": parsed.port, "user": parsed.username, "dbname": parsed.database,
    }.items() if v is not None}
    params.update({k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()})
    return params, parsed.password


def _pg_command(tool: str, url: str, *args: str) -> None:
    """Run pg_dump/pg_restore on `url`: the password in the environment, never in argv."""
    from psycopg.conninfo import make_conninfo

    params, password = pg_connection(url)
    cmd = [tool, "--no-password", f"--dbname={make_conninfo(**params)}", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password:
        env["PGPASSWORD"] = password
    name = Path(tool).name
    log.info("运行 %s", shlex.join(cmd))
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False)
    except FileNotFoundError as exc:
        raise BackupFailed(f"找不到 {tool}：请安装 PostgreSQL 客户端程序（postgresql-client）") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackupFailed(f"{name} 超过 {COMMAND_SECONDS // 3600} 小时仍未完成，已停止") from exc
    if proc.returncode != 0:
        tail = scrub("\n".join(proc.stderr.strip().splitlines()[-5:]), url)
        raise BackupFailed(f"{name} 失败（退出码 {proc.returncode}）：{tail}")


def _pg_backup(url: str, partial: Path) -> dict[str, Any]:
    import psycopg

    params, password = pg_connection(url)
    try:
        with psycopg.connect(**params, **({"password": password} if password else {})) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.cursor() as cur:
                snapshot = cur.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
                tables = {r[0] for r in cur.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}
                facts = _facts(lambda sql: cur.execute(sql).fetchall(), tables)
                # the dump reads the snapshot this transaction holds open until it ends
                _pg_command(PG_DUMP, url, "--format=custom", f"--file={partial}", f"--snapshot={snapshot}")
            conn.rollback()
    except psycopg.Error as exc:
        raise BackupFailed(f"连接 PostgreSQL 失败：{scrub(str(exc).strip(), url)}") from exc
    return facts


# ----- restore ----------------------------------------------------------------------------------------


def read_manifest(file: Path) -> dict[str, Any]:
    """The manifest beside `file`, checked against the file (its size and SHA-256)."""
    if not file.is_file():
        raise NotFound(f"备份文件不存在：{file}")
    if not NAME.fullmatch(file.name):
        raise Invalid(f"{file.name} 不是 GovFlow 备份文件（应为 govflow-年月日-时分秒.db 或 .dump）")
    beside = manifest_path(file)
    try:
        manifest = json.loads(beside.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise Invalid(f"找不到备份说明文件 {beside.name}，无法校验备份，不能恢复") from exc
    except (OSError, ValueError) as exc:
        raise Invalid(f"备份说明文件 {beside.name} 无法读取，不能恢复") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT \
            or manifest.get("dialect") not in SUFFIX or not isinstance(manifest.get("counts"), dict):
        raise Invalid(f"备份说明文件 {beside.name} 格式不正确，不能恢复")
    if _sha256(file) != manifest.get("sha256") or file.stat().st_size != manifest.get("size"):
        raise Invalid("备份文件校验失败：SHA-256 与备份说明不符，文件已损坏或被改动，不能恢复")
    return manifest


def holdings(url: str) -> tuple[list[str], list[str]]:
    """(the tables of the database at `url`, those of them holding rows); alembic_version's one
    row is not data (a migrated but unused database is empty)."""
    from service.store.db import Database

    if dialect_of(url) == "sqlite" and not sqlite_path(url).exists():
        return [], []
    db = Database(url)
    try:
        with db.read_engine.connect() as conn:
            tables = sorted(inspect(conn).get_table_names())
            full = [t for t in tables if t != "alembic_version"
                    and conn.exec_driver_sql(f'SELECT 1 FROM "{t}" LIMIT 1').first() is not None]  # noqa: S608
    finally:
        db.dispose()
    return tables, full


def _known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    from service.store.db import MIGRATIONS_DIR

    return [s.revision for s in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()]


def restore(file: Path, url: str) -> dict[str, Any]:
    """Restore the backup `file` into the empty database at `url`, migrate it to the newest schema
    and check the restored rows against the manifest; returns {manifest, facts, database}."""
    manifest = read_manifest(file)
    dialect = dialect_of(url)
    if manifest["dialect"] != dialect:
        raise Invalid(f"这是 {KIND_NAME[manifest['dialect']]} 的备份，不能恢复到 {KIND_NAME[dialect]} 数据库")
    revisions = _known_revisions()
    if manifest.get("schema_revision") not in revisions:
        raise Invalid(f"备份的数据库版本 {manifest.get('schema_revision')} 不是本程序所知的版本（最高为 "
                      f"{revisions[0]}）：请先升级 GovFlow 再恢复")
    if dialect == "sqlite" and sqlite_path(url).resolve() == file.resolve():
        raise Invalid("不能把备份文件恢复到它自身")
    keyring.check_fingerprint(manifest.get("keys"))  # the keys its personal data is sealed with
    try:
        tables, full = holdings(url)
    except OperationalError as exc:
        raise BackupFailed(f"无法连接目标数据库 {safe_url(url)}：{scrub(str(exc.orig or exc).strip(), url)}") from exc
    if full:
        shown = "、".join(full[:3]) + (f" 等 {len(full)} 个" if len(full) > 3 else "")
        raise Conflict(f"目标数据库已有数据（已有记录的表：{shown}），恢复只能写入空数据库：请将 DATABASE_URL "
                       "指向新建的空数据库后重试", [{"field": "database", "message": f"已有数据的表：{'、'.join(full)}"}])
    if dialect == "postgresql" and tables:
        # an unused database's empty tables are replaced (pg_restore --clean): only the same schema's
        present = database_facts(url)["schema_revision"]
        if present != manifest["schema_revision"]:
            raise Invalid(f"目标数据库已建有版本 {present} 的空表，与备份的数据库版本 {manifest['schema_revision']} "
                          "不同：请使用新建的空数据库")
    started = time.monotonic()
    if dialect == "sqlite":
        _sqlite_restore(file, sqlite_path(url))
    else:
        # tables without a row (a migrated, unused database) are dropped and restored from the file
        _pg_command(PG_RESTORE, url, "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction",
                    *(["--clean", "--if-exists"] if tables else []), str(file))
    from service.store.db import Database

    db = Database(url)
    try:
        db.migrate()
        with db.write() as session:  # the run that made this copy was still running in it
            session.execute(update(BackupRun).where(BackupRun.status == RUNNING)
                            .values(status=FAILED, error=UNFINISHED_IN_COPY))
    finally:
        db.dispose()
    facts = database_facts(url)
    wrong = [t for t in TABLES if facts["counts"][t] != manifest["counts"].get(t)
             or facts["ids_sha256"][t] != manifest.get("ids_sha256", {}).get(t)]
    if wrong:
        raise BackupFailed(f"恢复后的数据与备份说明不符（{'、'.join(wrong)}），请勿使用该数据库")
    _audited(file, url, manifest)
    log.info("已由 %s 恢复到 %s（%.1f 秒）", file, safe_url(url), time.monotonic() - started)
    return {"manifest": manifest, "facts": facts, "database": safe_url(url)}


def _audited(file: Path, url: str, manifest: dict[str, Any]) -> None:
    """The restore's audit row, in the restored database (whose chain it continues)."""
    from service import audit
    from service.store.db import Database

    db = Database(url)
    try:
        audit.write(db, audit.RESTORE, target=file.name, username=None if audit.origin() else audit.CLI,
                    detail=f"由备份 {file}（{manifest.get('created_at') or '时间不详'}，数据库版本 "
                           f"{manifest.get('schema_revision')}）恢复到 {safe_url(url)}，核对一致")
    finally:
        db.dispose()


def _sqlite_restore(file: Path, target: Path) -> None:
    """The online backup API in reverse: every page of the file into the (empty) target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    dst = sqlite3.connect(str(target), timeout=30)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupFailed(f"SQLite 恢复失败：{exc}") from exc
    finally:
        dst.close()
        src.close()
