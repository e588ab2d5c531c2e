"""Backups: one row per backup run (the daily one, 立即备份 in the page or the API, `govflow
backup`), with its result for the administrator's page (migration 0018)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

DAILY = "daily"      # the scheduled backup, once per day across every node
MANUAL = "manual"    # 立即备份 (page or API)
COMMAND = "command"  # `govflow backup DIR`
KINDS = (DAILY, MANUAL, COMMAND)

RUNNING = "running"
OK = "ok"
FAILED = "failed"


class BackupRun(Base):
    """One backup run. A daily run's `day` (Beijing date, YYYY-MM-DD) is unique: the row is the
    claim that makes the day's backup run once whichever node polls first (NULL for the others)."""

    __tablename__ = "backup_runs"
    __table_args__ = (
        UniqueConstraint("day", name="uq_backup_runs_day"),
        CheckConstraint("kind IN ('daily', 'manual', 'command')", name="ck_backup_runs_kind"),
        CheckConstraint("status IN ('running', 'ok', 'failed')", name="ck_backup_runs_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    day: Mapped[str | None] = mapped_column(String(10), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)  # measured, not by the clock
    path: Mapped[str | None] = mapped_column(Text, nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    node: Mapped[str | None] = mapped_column(String(128), nullable=True)  # host:pid that ran it
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
