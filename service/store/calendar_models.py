"""The legal calendar's stored overrides: single days an administrator changed, and the years whose
official holiday notice is loaded (service/calendar.py reads them over the built-in tables)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class CalendarDay(Base):
    """Admin override of one day (a new year's State Council notice, a local arrangement)."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CalendarYear(Base):
    """A year whose official holiday notice an admin has loaded: its dates are final."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    loaded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(256), default="")
