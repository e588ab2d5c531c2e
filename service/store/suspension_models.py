"""停权: the administrator withholds a member's rights in a group (a county web admin who keeps
making mistakes, 网站管理制度 第十一条) and gives them back. The table is append-only: every
suspension and every restoration is a row (who did it, when, why); a membership is suspended
while its latest row is a suspension."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

SUSPEND = "suspend"
RESTORE = "restore"
MAX_REASON = 500

# SQL of "the membership (user, group) is suspended now": its latest event is a suspension (a
# suspension no later event follows). Format with the SQL expressions of the username and the
# group key; for statements written as text (service/task_notices.py's deliveries).
SUSPENDED_NOW_SQL = (
    "EXISTS (SELECT 1 FROM membership_suspensions s WHERE s.username = {username} AND s.group_key = {group} "
    "AND s.action = 'suspend' AND NOT EXISTS (SELECT 1 FROM membership_suspensions r "
    "WHERE r.username = s.username AND r.group_key = s.group_key AND r.seq > s.seq))"
)


class MembershipSuspension(Base):
    """One event of a (user, group) membership: `seq` counts them (1 the first suspension, 2 its
    restoration, …), so suspensions are the odd rows and restorations the even ones."""

    __tablename__ = "membership_suspensions"
    __table_args__ = (
        # Two things at once: (1) every request reads its user's (and delegators') rows by
        # username — a prefix of this index, a few rows per user at most; (2) two administrators
        # suspending (or restoring) the same membership at once both write seq n+1: the second
        # insert fails here and gets 409 instead of a doubled event.
        UniqueConstraint("username", "group_key", "seq", name="uq_membership_suspensions_seq"),
        CheckConstraint("action IN ('suspend', 'restore')", name="ck_membership_suspensions_action"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the record page lists by it, newest first
    username: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    done_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
