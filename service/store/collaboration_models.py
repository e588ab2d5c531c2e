"""Tables of working together (issue 9 item 14): a user's frequent comments (常用意见) and the
receipts (签收回执) a handling unit leaves when it first signs for a task handed to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class CommonComment(Base):
    """One of a user's frequent comments; the picker lists the most used first."""

    __tablename__ = "common_comments"
    __table_args__ = (
        UniqueConstraint("username", "text", name="uq_common_comments_user_text"),
        Index("ix_common_comments_user_used", "username", "used_count"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    # at most 500 characters (service/common_comments.py); Text so PostgreSQL's unique index and
    # SQLite's agree on what "the same text" is
    text: Mapped[str] = mapped_column(Text)
    used_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TaskReceipt(Base):
    """签收回执: the handling unit (`group_key`) signed for this task, by whom and when. Written in
    the first claim's transaction; an unclaim and a re-claim keep the first one."""

    __tablename__ = "task_receipts"
    __table_args__ = (
        UniqueConstraint("task_id", "group_key", name="uq_task_receipts_task_group"),
        Index("ix_task_receipts_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    bpmn_id: Mapped[str] = mapped_column(String(128))
    group_key: Mapped[str] = mapped_column(String(64))
    received_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
