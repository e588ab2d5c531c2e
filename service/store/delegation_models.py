"""委托 while away: a user (the delegator) names a colleague (the delegate) who acts on their tasks
in their name for a period; what the delegate does is recorded with both names
(`history.on_behalf_of`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base, History


class Delegation(Base):
    """One delegation; active while starts_at <= now <= ends_at and not revoked."""

    __tablename__ = "delegations"
    __table_args__ = (
        # the hot path: every request loads the delegations its user holds now (delegate, ends_at ≥ now)
        Index("ix_delegations_delegate_ends", "delegate", "ends_at"),
        # a user's own delegations (the page, the overlap check)
        Index("ix_delegations_delegator_ends", "delegator", "ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delegator: Mapped[str] = mapped_column(String(64))
    delegate: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# 已办 of a delegator: the steps done in their name, newest first. Partial: only rows done for a
# delegator have an entry, so the other steps (nearly all) write no page of it (migration 0024).
HISTORY_ON_BEHALF_INDEX = Index("ix_history_on_behalf_of", History.on_behalf_of, History.at,
                                sqlite_where=History.on_behalf_of.isnot(None),
                                postgresql_where=History.on_behalf_of.isnot(None))
