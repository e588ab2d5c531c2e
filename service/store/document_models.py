"""Issued documents: the per-year number a printed paper (e.g. a 交办单) got the first time it was
issued for a case, kept so that every reprint shows the same number (service/documents.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class IssuedDocument(Base):
    __tablename__ = "issued_documents"
    __table_args__ = (
        # one number per case and document: a second issue (a reprint, a double click, a
        # concurrent first print on another node) finds this row instead of taking a new number
        UniqueConstraint("instance_id", "doc_key", name="uq_issued_documents_instance_doc"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    doc_key: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(128))  # e.g. 临人大信〔2026〕12号
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
