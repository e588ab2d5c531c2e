"""People: password hashing, API bearer tokens, user lookup."""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service import clock
from service.actors import Actor
from service.errors import Unauthorized
from service.store.models import ApiToken, Group, User

TOKEN_LIFETIME = timedelta(hours=12)
# A hash to compare against when the user does not exist, so timing does not tell.
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    """scrypt by default; GOVFLOW_PASSWORD_HASH may name a cheaper method for test suites."""
    method = os.environ.get("GOVFLOW_PASSWORD_HASH")
    return generate_password_hash(password, method=method) if method else generate_password_hash(password)


def actor_for(user: User) -> Actor:
    return Actor(username=user.username, name=user.name, groups=frozenset(user.group_keys))


def authenticate(session: Session, username: object, password: object) -> User:
    """The active user with this password, or Unauthorized (same message either way)."""
    if not isinstance(username, str) or not isinstance(password, str) or not username:
        raise Unauthorized("用户名或密码错误")
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        global _dummy_hash
        _dummy_hash = _dummy_hash or hash_password("govflow-dummy-password")
        check_password_hash(_dummy_hash, password)
        raise Unauthorized("用户名或密码错误")
    if not check_password_hash(user.password_hash, password):
        raise Unauthorized("用户名或密码错误")
    return user


def _real_now() -> datetime:
    """Sessions live in real time: rehearsing with the virtual clock must not log people out."""
    return datetime.now(clock.BEIJING)


def real_now() -> datetime:
    return _real_now()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User) -> str:
    token = secrets.token_urlsafe(32)
    now = _real_now()
    session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    session.add(ApiToken(token_hash=_digest(token), user_id=user.id, created_at=now, expires_at=now + TOKEN_LIFETIME))
    return token


def user_for_token(session: Session, token: str) -> tuple[User, datetime]:
    """The token's user and when the token expires (Unauthorized if unknown or expired)."""
    row = session.get(ApiToken, _digest(token))
    if row is None:
        raise Unauthorized("访问令牌无效，请重新获取")
    expires_at = clock.parse_datetime(row.expires_at)
    if expires_at < _real_now():
        raise Unauthorized("访问令牌已过期，请重新获取")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("用户不存在或已停用")
    return user, expires_at


def ensure_group(session: Session, key: str, name: str) -> Group:
    group = session.get(Group, key)
    if group is None:
        group = Group(key=key, name=name)
        session.add(group)
    else:
        group.name = name
    return group


def ensure_user(session: Session, username: str, name: str, password: str, groups: list[str]) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        user = User(username=username, name=name, password_hash=hash_password(password), active=True)
        session.add(user)
    user.name = name
    user.groups = [session.get(Group, g) for g in groups if session.get(Group, g) is not None]
    return user
