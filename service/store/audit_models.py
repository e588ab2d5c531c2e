"""安全审计: the audit log's table — one row per security event (who, from where, what, when,
result), hash-chained by service/hash_chain.py (`seq`, `row_hash`). Rows are only ever added:
no code of the application updates or deletes them (网络安全法 第二十一条: kept ≥ 180 days)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

RESULTS = ("success", "failure", "denied")


class AuditRow(Base):
    """One security event. `username` is who acted (or tried to: a failed login names the account
    tried), `address` the source address (None for the command line and the timers), `target`
    what the event was about (an account, a setting key, a case's business key, a file)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint("result IN ('success', 'failure', 'denied')", name="ck_audit_log_result"),
        # the page's default listing, newest first within a period, and any export of a period
        Index("ix_audit_log_at", "at"),
        # the filters an investigation starts from: one kind (all 登录失败), one user's actions,
        # one source address's — each read newest first, so `at` follows in the index
        Index("ix_audit_log_kind_at", "kind", "at"),
        Index("ix_audit_log_username_at", "username", "at"),
        Index("ix_audit_log_address_at", "address", "at"),
        # the chain's order (service/hash_chain.py): each row takes the next place once, and the
        # verifier walks the rows by it; NULL (not yet chained) is allowed more than once
        Index("ux_audit_log_seq", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
