"""Login failure handling (等保 2.0 身份鉴别 b): failed logins are counted per account and per
source address; the threshold within the window locks that account or address for a while, and
the lock holds even against the right password until it runs out or an administrator lifts it.
Times are the service clock's (service/clock.py), so a rehearsal or a test can move them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service import audit, clock, config_store
from service.errors import GovFlowError, NotFound
from service.store.identity_models import ADDRESS_LOCK, USER_LOCK, AccountLock, LoginFailure

LOCKED_MESSAGE = "登录失败次数过多，账户已锁定，请 30 分钟后再试或联系管理员解锁"
_SUBJECT_MAX = 64  # the columns' width: longer usernames or addresses are cut, never refused


class AccountLocked(GovFlowError):
    """Too many failed logins: 423 Locked, the same answer with a right or a wrong password."""

    status = 423
    code = "account_locked"


def locked_message() -> str:
    """The lock message with the configured duration (the default reads as the rule says)."""
    return LOCKED_MESSAGE.replace("30 分钟", f"{config_store.get('identity.lockout_minutes')} 分钟")


def _now() -> datetime:
    return clock.now()


def _live(kind: str, subject: str, now: datetime) -> Any:
    return select(AccountLock).where(AccountLock.kind == kind, AccountLock.subject == subject[:_SUBJECT_MAX],
                                     AccountLock.until > now, AccountLock.unlocked_at.is_(None))


def refuse_if_locked(session: Session, username: str, address: str) -> None:
    """AccountLocked if the account or the source address is locked now."""
    now = _now()
    for kind, subject in ((USER_LOCK, username), (ADDRESS_LOCK, address)):
        if session.scalars(_live(kind, subject, now).limit(1)).first() is not None:
            raise AccountLocked(locked_message())


def record_failure(session: Session, username: str, address: str) -> bool:
    """Count one failed login; lock the account and/or the address that reached the threshold.
    True when this failure locked something (the caller answers with the lock message)."""
    now = _now()
    username, address = username[:_SUBJECT_MAX], address[:_SUBJECT_MAX]
    session.add(LoginFailure(username=username, address=address, at=now))
    session.flush()
    since = now - timedelta(minutes=int(config_store.get("identity.lockout_window_minutes")))
    limits = {USER_LOCK: int(config_store.get("identity.lockout_failures")),
              ADDRESS_LOCK: int(config_store.get("identity.lockout_address_failures"))}
    until = now + timedelta(minutes=int(config_store.get("identity.lockout_minutes")))
    locked = False
    for kind, column, subject in ((USER_LOCK, LoginFailure.username, username),
                                  (ADDRESS_LOCK, LoginFailure.address, address)):
        limit = limits[kind]
        count = session.scalar(select(func.count()).select_from(LoginFailure)
                               .where(column == subject, LoginFailure.at > since))
        if int(count or 0) >= limit:
            if session.scalars(_live(kind, subject, now).limit(1)).first() is None:
                session.add(AccountLock(kind=kind, subject=subject, locked_at=now, until=until))
                audit.record(session, audit.LOCK, target=subject, username=username, address=address,
                             detail=f"{'账户' if kind == USER_LOCK else '来源地址'}连续登录失败 {count} 次，"
                                    f"锁定至 {clock.iso(until)}")
            locked = True
    return locked


def forget_failures(session: Session, username: str) -> None:
    """A successful login starts the account's count again (the address keeps its own)."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username[:_SUBJECT_MAX]))


def current_locks(session: Session) -> list[dict[str, Any]]:
    """The locks in force now, newest first (the admin page and API)."""
    rows = session.scalars(select(AccountLock).where(AccountLock.until > _now(), AccountLock.unlocked_at.is_(None))
                           .order_by(AccountLock.id.desc()))
    return [{"id": r.id, "kind": r.kind, "subject": r.subject, "locked_at": clock.iso(r.locked_at),
             "until": clock.iso(r.until)} for r in rows]


def unlock(session: Session, lock_id: int, admin: str) -> dict[str, Any]:
    """An administrator lifts a lock before it runs out; the subject's failures are forgotten
    (else the next mistyped password would lock it again at once)."""
    row = session.get(AccountLock, lock_id, with_for_update=True)
    if row is None or row.unlocked_at is not None or clock.parse_datetime(row.until) <= _now():
        raise NotFound("该锁定不存在或已解除")
    row.unlocked_at, row.unlocked_by = _now(), admin
    column = LoginFailure.username if row.kind == USER_LOCK else LoginFailure.address
    session.execute(delete(LoginFailure).where(column == row.subject))
    audit.record(session, audit.UNLOCK, target=row.subject, username=admin,
                 detail=f"管理员解除{'账户' if row.kind == USER_LOCK else '来源地址'}锁定")
    return {"id": row.id, "kind": row.kind, "subject": row.subject, "unlocked_by": admin}
