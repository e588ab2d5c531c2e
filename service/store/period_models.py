"""Important periods (重要时期): date ranges an office declares (全国两会, 国庆节…) during which
a procedure runs something every working day, e.g. a daily screening round
(service/important_periods.py keeps them; the procedure's schedule reads them)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

MAX_NAME = 100


class ImportantPeriod(Base):
    """One period, both days included. Periods may overlap (a day inside two starts once)."""

    __tablename__ = "important_periods"
    __table_args__ = (
        # the schedule reads, at every timer poll of every node, only the periods not over before
        # its catch-up window (last_day >= that day): a range scan instead of every past year's rows
        Index("ix_important_periods_last_day", "last_day"),
        # the service refuses a reversed range with a Chinese message; this keeps any other writer honest
        CheckConstraint("last_day >= first_day", name="ck_important_periods_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
