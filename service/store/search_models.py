"""Tables of 案件查询: the searchable personal fields of a case (as keyed hashes, never the
values) and each user's saved filters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class CaseSearchKey(Base):
    """One searchable personal field of a case (e.g. the petitioner's ID number): the HMAC of its
    normalised value under the installation's secret, so the table alone reveals no value and
    cannot be matched against a list of guessed ID numbers. Written in the step's transaction."""

    __tablename__ = "case_search_keys"
    __table_args__ = (
        # a search probes (key, hash) and gets the cases: one index range, whatever the case count
        Index("ix_case_search_keys_key_hash", "key", "value_hash"),
    )

    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64))


class SavedFilter(Base):
    """A user's named search (Camunda Tasklist's filters): the query string of /search, without
    personal values (those are never stored)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_filters_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
