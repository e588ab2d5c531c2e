"""身份鉴别 (等保 2.0 identification and authentication): login failures and locks, each user's
password history and second factor, recovery codes. Tables of their own so `users` keeps its
shape; a user without a `credentials` row is one whose password was set before these rules
(the demo organisation's, or a database from before migration 0019)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.sealed import SealedText
from service.store.models import Base

USER_LOCK = "user"
ADDRESS_LOCK = "address"


class IdentityMark(Base):
    """A fact about this database's identity rules, e.g. `demo`: the demo organisation was
    loaded here (`govflow init --demo`), so its documented passwords need no change and no
    second factor. Apart from `settings`, which administrators change on their page."""

    __tablename__ = "identity_marks"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


class LoginFailure(Base):
    """One failed login: counted per account and per source address over the failure window."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountLock(Base):
    """A lock of an account (`kind` user, `subject` the username) or of a source address (`kind`
    address): in force until `until`, unless an administrator unlocked it earlier."""

    __tablename__ = "account_locks"
    __table_args__ = (Index("ix_account_locks_subject", "kind", "subject", "until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unlocked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Credential(Base):
    """A user's password age and second factor. `must_change`: the next login goes to the
    change-password page first (a new production account, a password reset by an admin)."""

    __tablename__ = "credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    # sealed like personal data (service/sealed.py): the secret alone lets anyone make codes
    totp_secret: Mapped[str | None] = mapped_column(SealedText, nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the last accepted TOTP time step: a code is good once (RFC 6238 §5.2)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PasswordHistory(Base):
    """The hashes of a user's earlier passwords: a new one may not repeat the last few."""

    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_user", "user_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(256))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """A second-factor recovery code (stored hashed, good once)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
