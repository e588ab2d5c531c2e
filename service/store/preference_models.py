"""Per-user delivery choices (issue 9 item 15): beside the in-app notice, which always shows,
a person may ask to be told of a new task (新待办) by SMS and/or e-mail. One row per chosen
channel; no row means in-app only, so nobody is texted who did not ask for it."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

CHANNELS = ("sms", "email")  # the channels a person may add to the in-app notice


class NoticeChannel(Base):
    """User `user_id` wants new-task notices also through `channel` ('sms' or 'email')."""

    __tablename__ = "notice_channels"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
