"""备份的计划与记录: the daily backup (settings `backup.at_minute`, `backup.directory`,
`backup.keep`), 立即备份 and `govflow backup`, each recorded as a BackupRun with its result.

Once across nodes, as scheduled rounds start once per period (service/schedule.py: a unique
idempotency key): every app process polls `run_due`; the day's backup is claimed by inserting the
day's BackupRun row (its `day` is unique), so one node wins and runs it, the others get an
IntegrityError and skip. A failed day is retried an hour later (at most MAX_ATTEMPTS times), a
claim whose node died mid-backup is taken over after STALE_SECONDS, each by a conditional UPDATE
that again only one node wins. A new installation does not back-date: the first daily backup is
the first moment after the first deployment. After a successful backup into the settings'
directory, all but the `backup.keep` newest backups there are deleted.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import weakref
from datetime import datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from service import audit, backup, clock, config_store
from service.actors import Actor
from service.backup import NAME, Made, manifest_path
from service.clock import BEIJING
from service.config import ROOT
from service.errors import Forbidden
from service.store.backup_models import COMMAND, DAILY, FAILED, MANUAL, OK, RUNNING, BackupRun
from service.store.db import Database
from service.store.models import Definition

log = logging.getLogger(__name__)

DIRECTORY_KEY = "backup.directory"
MINUTE_KEY = "backup.at_minute"
KEEP_KEY = "backup.keep"
POLL_SECONDS = 30.0  # how often each node asks whether the day's backup is due
RETRY_SECONDS = 3600.0
STALE_SECONDS = 6 * 3600.0
MAX_ATTEMPTS = 3
NODE = f"{socket.gethostname()}:{os.getpid()}"[:128]
REFUSAL = "只有系统管理员可以查看和执行数据库备份"
KIND_LABELS = {DAILY: "每日自动", MANUAL: "立即备份", COMMAND: "命令行"}
STATUS_LABELS = {RUNNING: "进行中", OK: "成功", FAILED: "失败"}


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(REFUSAL)


def directory() -> Path:
    """The settings' backup directory; a relative one is under the installation directory."""
    path = Path(str(config_store.get(DIRECTORY_KEY))).expanduser()
    return path if path.is_absolute() else ROOT / path


def _moment(now: datetime) -> datetime:
    minute = int(config_store.get(MINUTE_KEY))
    return datetime.combine(now.date(), day_time(minute // 60, minute % 60), tzinfo=BEIJING)


def next_moment(db: Database, now: datetime | None = None) -> datetime:
    """When the next daily backup is due: today's moment unless today's already ran, else tomorrow's."""
    now = clock.now() if now is None else now
    moment = _moment(now)
    with db.read() as session:
        done = session.scalar(select(BackupRun.status).where(BackupRun.day == now.date().isoformat()))
    if now < moment and done is None:
        return moment
    return _moment(now + timedelta(days=1))


# ----- records -------------------------------------------------------------------------------------


def _has_runs(db: Database) -> bool:
    """Whether the schema has backup_runs (a backup taken before migrating an old one has not)."""
    if db.dialect == "sqlite" and not backup.sqlite_path(db.url).is_file():
        return False  # connecting would create an empty file
    with db.read_engine.connect() as conn:
        return inspect(conn).has_table(BackupRun.__tablename__)


def _finish(run: BackupRun, made: Made | None, error: str | None, seconds: float) -> None:
    run.finished_at = clock.now()
    run.duration_seconds = round(seconds, 3)
    run.status = OK if made is not None else FAILED
    run.error = error
    if made is not None:
        run.path, run.size_bytes, run.sha256 = str(made.path), made.manifest["size"], made.manifest["sha256"]


def _make(url: str, into: Path, keep: int | None) -> tuple[Made | None, str | None, float]:
    """Back up (then prune to `keep` if given): (made or None, the Chinese error or None, seconds)."""
    started = time.monotonic()
    try:
        made = backup.backup(url, into)
        if keep is not None:
            made.removed = prune(into, keep)
    except Exception as exc:  # noqa: BLE001 - recorded as the run's result, shown to the administrator
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.exception("备份失败：%s", backup.scrub(str(message), url))
        return None, backup.scrub(str(message), url), time.monotonic() - started
    return made, None, time.monotonic() - started


def record(db: Database, kind: str, username: str | None, into: Path, keep: int | None) -> dict[str, Any]:
    """Run a backup now and record it afterwards (the copy never holds its own record): 立即备份
    and `govflow backup`. Returns the run as the page and the API show it."""
    started_at = clock.now()
    made, error, seconds = _make(db.url, into, keep)
    run = BackupRun(kind=kind, status=RUNNING, started_at=started_at, username=username, node=NODE, attempts=1)
    _finish(run, made, error, seconds)
    if not _has_runs(db):
        return view(run)
    with db.write() as session:
        session.add(run)
        session.flush()
        _audited(session, run, username)
        return view(run)


def _audited(session: Any, run: BackupRun, username: str | None) -> None:
    """The backup's audit row, in the transaction recording its run (none before migration 0020:
    `govflow backup` of a database not yet upgraded)."""
    if not inspect(session.connection()).has_table("audit_log"):
        return
    ok = run.status == OK
    audit.record(session, audit.BACKUP, target=Path(run.path).name if run.path else None, username=username,
                 result=audit.SUCCESS if ok else audit.FAILURE,
                 detail=f"{KIND_LABELS.get(run.kind, run.kind)}：" + (f"{run.path}（{size_text(run.size_bytes)}）"
                                                                    if ok else f"失败：{run.error}"))


def manual(db: Database, actor: Actor) -> dict[str, Any]:
    """立即备份 (page or API, the administrator): into the settings' directory, then retention."""
    require_admin(actor)
    return record(db, MANUAL, actor.username, directory(), int(config_store.get(KEEP_KEY)))


# ----- the daily backup ---------------------------------------------------------------------------


class _State:
    """The last day this process knows to be settled (done, or not to be done): a poll then reads nothing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settled: str | None = None


_states: weakref.WeakKeyDictionary[Database, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(db: Database) -> _State:
    with _states_lock:
        return _states.setdefault(db, _State())


def _retry_due(run: BackupRun, now: datetime) -> bool:
    if run.attempts >= MAX_ATTEMPTS:
        return False
    if run.status == FAILED:
        return run.finished_at is None or clock.parse_datetime(run.finished_at) <= now - timedelta(seconds=RETRY_SECONDS)
    return run.status == RUNNING and clock.parse_datetime(run.started_at) <= now - timedelta(seconds=STALE_SECONDS)


def _claim(db: Database, day: str, existing: BackupRun | None, now: datetime) -> int | None:
    """The day's run id if this node now holds it, else None (another node got there first)."""
    try:
        with db.write() as session:
            if existing is None:
                run = BackupRun(kind=DAILY, day=day, status=RUNNING, started_at=now, node=NODE, attempts=1)
                session.add(run)
                session.flush()
                return run.id
            taken = session.execute(
                update(BackupRun)
                .where(BackupRun.id == existing.id, BackupRun.status == existing.status,
                       BackupRun.attempts == existing.attempts)
                .values(status=RUNNING, started_at=now, finished_at=None, error=None, node=NODE,
                        attempts=existing.attempts + 1))
            return existing.id if taken.rowcount == 1 else None
    except IntegrityError:
        return None


def run_due(db: Database, now: datetime | None = None) -> dict[str, Any] | None:
    """Make the day's backup if its moment has come and no node made it yet; returns the run, or
    None when nothing was due here."""
    now = clock.now() if now is None else clock.parse_datetime(now)
    moment = _moment(now)
    day = now.date().isoformat()
    state = _state(db)
    if now < moment or state.settled == day:
        return None
    with state.lock:
        with db.read() as session:
            first = session.scalar(select(func.min(Definition.deployed_at)))
            existing = session.scalars(select(BackupRun).where(BackupRun.day == day)).first()
        if first is None or clock.parse_datetime(first) > moment:
            state.settled = day  # a new installation: its first backup is at the next moment
            return None
        if existing is not None and not _retry_due(existing, now):
            if existing.status == OK or existing.attempts >= MAX_ATTEMPTS:
                state.settled = day
            return None
        run_id = _claim(db, day, existing, now)
        if run_id is None:
            return None
        log.info("每日备份开始（%s，第 %s 次）", day, 1 if existing is None else existing.attempts + 1)
        made, error, seconds = _make(db.url, directory(), int(config_store.get(KEEP_KEY)))
        with db.write() as session:
            run = session.get(BackupRun, run_id)
            assert run is not None
            _finish(run, made, error, seconds)
            _audited(session, run, audit.SYSTEM)
            if made is not None:
                state.settled = day
            return view(run)


def poll(db: Database) -> None:
    """The scheduler's job (service/timers.py): never raises, a failure is logged and retried."""
    try:
        run_due(db)
    except Exception:  # noqa: BLE001 - the scheduler must survive a database outage
        log.exception("每日备份检查失败，下次轮询重试")


# ----- the page's and the API's view --------------------------------------------------------------


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""


def view(run: BackupRun) -> dict[str, Any]:
    return {
        "id": run.id, "kind": run.kind, "kind_label": KIND_LABELS.get(run.kind, run.kind), "day": run.day,
        "status": run.status, "status_label": STATUS_LABELS.get(run.status, run.status),
        "started_at": clock.iso(run.started_at), "finished_at": clock.iso(run.finished_at),
        "duration_seconds": run.duration_seconds, "file": Path(run.path).name if run.path else None,
        "path": run.path, "size_bytes": run.size_bytes, "size": size_text(run.size_bytes), "sha256": run.sha256,
        "error": run.error, "username": run.username, "node": run.node, "attempts": run.attempts,
    }


def settings_view() -> dict[str, Any]:
    minute = int(config_store.get(MINUTE_KEY))
    return {"directory": str(directory()), "at": f"{minute // 60:02d}:{minute % 60:02d}", "at_minute": minute,
            "keep": int(config_store.get(KEEP_KEY))}


def overview(db: Database, limit: int = 30) -> dict[str, Any]:
    """The settings, the last result, the recent runs and the backups in the directory."""
    with db.read() as session:
        config_store.load(session)  # the values stored now, whichever node stored them
        runs = [view(r) for r in session.scalars(select(BackupRun).order_by(BackupRun.id.desc()).limit(limit))]
    return {"settings": settings_view(), "next_at": clock.iso(next_moment(db)), "last": runs[0] if runs else None,
            "runs": runs, "files": [{**f, "size": size_text(f["size_bytes"])} for f in listing(directory())]}


# ----- the files in a directory, retention ----------------------------------------------------------


def _order(path: Path) -> tuple[str, int]:
    match = NAME.fullmatch(path.name)
    assert match is not None
    return match.group(1), int(match.group(2) or 1)


def listing(into: Path) -> list[dict[str, Any]]:
    """The complete backups in `into` (a file and its manifest), newest first."""
    if not into.is_dir():
        return []
    found = []
    for path in sorted((p for p in into.iterdir() if NAME.fullmatch(p.name)), key=_order, reverse=True):
        try:
            manifest = json.loads(manifest_path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not finished (or not ours)
        found.append({"file": path.name, "path": str(path), "size_bytes": path.stat().st_size,
                      "created_at": manifest.get("created_at"), "counts": manifest.get("counts", {}),
                      "schema_revision": manifest.get("schema_revision"), "sha256": manifest.get("sha256")})
    return found


def prune(into: Path, keep: int) -> list[str]:
    """Delete all but the `keep` newest complete backups (file and manifest); returns their names."""
    removed = []
    for old in listing(into)[max(keep, 1):]:
        path = Path(old["path"])
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
        removed.append(path.name)
    if removed:
        log.info("备份保留 %s 份，已删除较早的：%s", keep, "、".join(removed))
    return removed
