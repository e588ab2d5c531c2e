"""附件: files uploaded to a case (a scanned letter, a reply draft), kept in the database so every
node on one PostgreSQL serves them, and never in the engine's state JSON. The content has a
table of its own: the case page lists attachments without reading a byte of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.sealed import SealedBytes
from service.store.models import Base


class Attachment(Base):
    """One uploaded file: what it is (kind, verified media type, size, sha256), at which step
    (`task_bpmn_id` "start" for registration), who uploaded it when, and whether it is the
    petitioner's personal data (shown only to those who see that data in clear)."""

    __tablename__ = "attachments"
    # a case's attachments in upload order: the panel and the per-case count read this index
    __table_args__ = (Index("ix_attachments_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    task_bpmn_id: Mapped[str] = mapped_column(String(128))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    personal: Mapped[bool] = mapped_column(Boolean, default=False)


class AttachmentBlob(Base):
    """The bytes of one attachment, read only when it is downloaded."""

    __tablename__ = "attachment_blobs"

    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(SealedBytes)  # sealed: scans of ID cards, letters
