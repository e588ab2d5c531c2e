"""身份鉴别 (等保 2.0 identification and authentication): password rules and history, forced
change (first login, expiry), the sign-in sequence (lock → password → second factor → change),
session limits and API tokens listed and revoked. The demo organisation (`govflow init --demo`)
is marked in `identity_marks` and skips forced change and the second factor, so its documented
passwords keep working; a production database gets every rule."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from service import audit, auth, clock, config_store, lockout, totp
from service.errors import Forbidden, Invalid, NotFound, Unauthorized
from service.store.db import Database
from service.store.identity_models import Credential, IdentityMark, PasswordHistory
from service.store.models import ApiToken, User

DEMO_KEY = "demo"  # a row of `identity_marks`, written by load_demo
DEMO_NOTICE = "演示环境：未启用强制改密和双因素认证"
TIMEOUT_MESSAGE = "会话已超时，请重新登录"
_CLASSES = (string.ascii_uppercase, string.ascii_lowercase, string.digits)


def wall_now() -> datetime:
    """Sessions, password age and TOTP run on the wall clock: the service clock without the
    virtual offset (rehearsing a month ahead must not log people out or expire passwords), still
    pinned in tests (clock.start_from)."""
    return clock.now() - clock.offset()


# ----- the demo flag ------------------------------------------------------------------------------


def mark_demo(session: Session) -> None:
    if session.get(IdentityMark, DEMO_KEY) is None:
        session.add(IdentityMark(key=DEMO_KEY, value="true"))


def is_demo(session: Session) -> bool:
    row = session.get(IdentityMark, DEMO_KEY)
    return row is not None and row.value == "true"


# ----- passwords ----------------------------------------------------------------------------------


def password_problems(username: str, password: str) -> list[str]:
    """What the password breaks of the rules that need no history (Chinese, one per rule)."""
    problems = []
    least = int(config_store.get("identity.password_min_length"))
    if len(password) < least:
        problems.append(f"密码长度至少 {least} 个字符")
    kinds = sum(any(c in chars for c in password) for chars in _CLASSES)
    kinds += any(not c.isalnum() for c in password)
    if kinds < 3:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    if username and username.lower() in password.lower():
        problems.append("密码不能包含用户名")
    return problems


def _reused(session: Session, user: User, password: str) -> bool:
    keep = int(config_store.get("identity.password_history"))
    rows = session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user.id)
                           .order_by(PasswordHistory.changed_at.desc(), PasswordHistory.id.desc()).limit(keep))
    hashes = list(rows)
    if not hashes and user.password_hash:
        hashes = [user.password_hash]
    return any(check_password_hash(h, password) for h in hashes)


def credential(session: Session, user_id: int) -> Credential:
    cred = session.get(Credential, user_id)
    if cred is None:
        cred = Credential(user_id=user_id, must_change=False)
        session.add(cred)
    return cred


def set_password(session: Session, user: User, password: str, must_change: bool = False) -> None:
    """Store a new password (kept in the history); `must_change` for one an admin hands out."""
    user.password_hash = auth.hash_password(password)
    session.flush()
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, changed_at=wall_now()))
    cred = credential(session, user.id)
    cred.password_changed_at, cred.must_change = wall_now(), must_change


def change_password(session: Session, user: User, current: str, new: str, confirm: str) -> None:
    """The user's own change: Invalid with one message per field, nothing written."""
    errors: list[dict[str, str]] = []
    if not current or not check_password_hash(user.password_hash, current):
        errors.append({"field": "current", "message": "当前密码不正确"})
    problems = password_problems(user.username, new)
    if not problems and _reused(session, user, new):
        problems.append(f"新密码不能与最近 {config_store.get('identity.password_history')} 次使用过的密码相同")
    if problems:
        errors.append({"field": "new", "message": "；".join(problems)})
    if new != confirm:
        errors.append({"field": "confirm", "message": "两次输入的新密码不一致"})
    if errors:
        raise Invalid("密码未修改", errors)
    set_password(session, user, new)
    audit.record(session, audit.PASSWORD_CHANGE, target=user.username, detail="本人修改密码", username=user.username)


def must_change(session: Session, user: User) -> bool:
    """Production: a first login (no credential yet), a reset password, or one past its age."""
    if is_demo(session):
        return False
    cred = session.get(Credential, user.id)
    if cred is None or cred.must_change or cred.password_changed_at is None:
        return True
    days = int(config_store.get("identity.password_max_days"))
    return days > 0 and wall_now() - clock.parse_datetime(cred.password_changed_at) > timedelta(days=days)


# ----- signing in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """A password accepted; what the user must still do before the pages open."""

    user_id: int
    username: str
    must_change: bool
    second_factor: str | None  # "verify" (enrolled), "enrol" (required, not yet), None


def _failed(db: Database, username: str, address: str, exc: Unauthorized, step: str = "密码") -> Exception:
    with db.write() as session:
        audit.record(session, audit.LOGIN_FAILED, target=username, detail=f"{step}验证失败：{exc.message}",
                     result=audit.FAILURE, username=username, address=address)
        locked = lockout.record_failure(session, username, address)
    return lockout.AccountLocked(lockout.locked_message()) if locked else exc


def _signed(session: Session, user: User, address: str) -> SignIn:
    """A password accepted: the account's failures forgotten, what it still owes, the login row."""
    lockout.forget_failures(session, user.username)
    second = None
    cred = session.get(Credential, user.id)
    if cred is not None and cred.totp_enabled_at is not None:
        second = "verify"  # whoever enrolled, even by choice in the demo organisation, gives the code
    elif not is_demo(session) and totp.required_for(user.group_keys):
        second = "enrol"
    signed = SignIn(user.id, user.username, must_change(session, user), second)
    owed = {"verify": "；待输入动态验证码", "enrol": "；待绑定双因素认证"}.get(second or "", "")
    audit.record(session, audit.LOGIN, target=user.username, username=user.username, address=address,
                 detail="密码正确" + owed + ("；须修改密码" if signed.must_change else ""))
    return signed


def sign_in(db: Database, username: object, password: object, address: str | None) -> SignIn:
    """Lock check, then the password; a failure is counted (per account and address) and may
    lock. Only well-formed attempts are counted: a malformed request proves nothing."""
    address = address or "unknown"
    with db.write() as session:
        refused = _lock_refusal(session, username, address) if isinstance(username, str) and username else None
        if refused is None:
            try:
                return _signed(session, auth.authenticate(session, username, password), address)
            except Unauthorized as exc:
                error = exc
    if refused is not None:
        raise refused  # after the commit of its audit row
    if isinstance(username, str) and username and isinstance(password, str):
        raise _failed(db, username, address, error)
    raise error


def second_factor(db: Database, user_id: int, code: object, address: str | None) -> None:
    """The code after the password; a wrong one counts as a failed login."""
    with db.write() as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise Unauthorized("用户不存在或已停用")
        username = user.username
        refused = _lock_refusal(session, username, address or "unknown")
        cred = session.get(Credential, user_id)
        if refused is None and cred is not None and isinstance(code, str) and totp.verify(session, cred, code, wall_now()):
            lockout.forget_failures(session, username)
            audit.record(session, audit.SECOND_FACTOR, target=username, detail="登录验证通过",
                         username=username, address=address)
            return
    if refused is not None:
        raise refused
    raise _failed(db, username, address or "unknown", Unauthorized("动态验证码不正确或已使用"), "动态验证码")


def _lock_refusal(session: Session, username: str, address: str) -> lockout.AccountLocked | None:
    """The refusal if the account or the address is locked, its audit row added to `session` (the
    caller commits it, then raises the refusal)."""
    try:
        lockout.refuse_if_locked(session, username, address)
    except lockout.AccountLocked as exc:
        audit.record(session, audit.LOGIN_FAILED, target=username, detail=f"已锁定，拒绝登录：{exc.message}",
                     result=audit.DENIED, username=username, address=address)
        return exc
    return None


def api_token(db: Database, body: dict[str, Any], address: str | None) -> dict[str, Any]:
    """POST /api/v1/auth/token: the same rules as the login page; a user who needs the second
    factor sends `otp` (a TOTP or recovery code); one who must change the password does so on
    the page first."""
    signed = sign_in(db, body.get("username"), body.get("password"), address)
    if signed.second_factor == "enrol":
        raise Forbidden("该账户须先在网页登录并绑定双因素认证，才能获取访问令牌")
    if signed.second_factor == "verify":
        second_factor(db, signed.user_id, body.get("otp"), address)
    if signed.must_change:
        raise Forbidden("密码须修改：请先在网页登录并修改密码，再获取访问令牌")
    with db.write() as session:
        user = session.get(User, signed.user_id)
        assert user is not None
        value = auth.issue_token(session, user)
        audit.record(session, audit.TOKEN, target=user.username, detail="签发访问令牌（API 登录）",
                     username=user.username, address=address)
        return {"token": value, "user": {"username": user.username, "name": user.name, "groups": user.group_keys}}


def session_expired(login_at: float | None, seen_at: float | None) -> bool:
    """Idle longer than `identity.idle_minutes`, or older than `identity.session_hours`."""
    now = wall_now().timestamp()
    if login_at is None or seen_at is None:
        return False
    idle = int(config_store.get("identity.idle_minutes")) * 60
    longest = int(config_store.get("identity.session_hours")) * 3600
    return now - seen_at > idle or now - login_at > longest


# ----- API tokens ---------------------------------------------------------------------------------


def tokens(session: Session, user_id: int | None = None) -> list[dict[str, Any]]:
    """Live tokens (of one user, or everyone's for the admin), newest first; `id` is the stored
    digest, never the token itself."""
    query = select(ApiToken, User.username, User.name).join(User, User.id == ApiToken.user_id) \
        .where(ApiToken.expires_at > auth.real_now()).order_by(ApiToken.created_at.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [{"id": t.token_hash, "username": u, "name": n, "created_at": clock.iso(t.created_at),
             "expires_at": clock.iso(t.expires_at)} for t, u, n in session.execute(query)]


def revoke_token(session: Session, token_id: str, user_id: int | None) -> None:
    """Delete a token (the owner's own, or any when `user_id` is None: the admin)."""
    row = session.get(ApiToken, token_id)
    if row is None or (user_id is not None and row.user_id != user_id):
        raise NotFound("访问令牌不存在或已失效")
    owner = session.get(User, row.user_id)
    audit.record(session, audit.TOKEN, target=owner.username if owner else str(row.user_id),
                 detail="注销访问令牌" + ("（本人）" if user_id is not None else "（管理员）"))
    session.execute(delete(ApiToken).where(ApiToken.token_hash == token_id))
