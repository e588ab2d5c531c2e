"""值班表 (duty roster): who is on duty in each shift and which leader leads it (领导带班), kept by
service/duty_roster.py. Who may keep it is the business of the procedure that offers the page."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

MAX_NOTE = 200
SHIFT_KINDS = ("day", "night")  # 白班 08:00–20:00, 夜班 20:00–08:00 of the next day


class DutyShift(Base):
    """One shift of one day: its duty officer and (optionally) its duty leader. A shift nobody
    holds has no row."""

    __tablename__ = "duty_shifts"
    __table_args__ = (
        # One roster entry per (day, shift): an import or two managers saving at once cannot double
        # a shift. Its index also serves every read: a month page or a period's coverage is a range
        # on `day` (the prefix), the on-duty lookup of an emergency report an exact (day, kind).
        UniqueConstraint("day", "kind", name="uq_duty_shifts_day_kind"),
        # the service refuses anything else in Chinese; this keeps any other writer honest
        CheckConstraint("kind IN ('day', 'night')", name="ck_duty_shifts_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    officer: Mapped[str] = mapped_column(String(64))  # a username
    leader: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a username (领导带班)
    note: Mapped[str] = mapped_column(String(MAX_NOTE), default="")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
