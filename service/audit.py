"""安全审计 (等保 2.0 安全审计): one row per security event — who, from where, what, when, result.

Callers use `record()` inside the transaction of the change it describes, so a change never lands
without its row and a rolled-back change leaves none; an event that changes nothing (an export, a
view of personal data, a logout) has `write()` open a transaction of its own. The web layer sets
who and from where once per request (`bind()`), like the notices' outbox: service code never reads
Flask. Rows are never updated or deleted by the application: they are hash-chained
(service/hash_chain.py), and kept at least `audit.keep_days` (网络安全法 第二十一条: six months)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from service import clock, hash_chain, procedure
from service.actors import Actor
from service.errors import Forbidden
from service.store.audit_models import RESULTS, AuditRow

# ----- the kinds of event (the page shows their Chinese labels) -----------------------------------

LOGIN = "login"
LOGOUT = "logout"
LOGIN_FAILED = "login_failed"
LOCK = "lock"
UNLOCK = "unlock"
PASSWORD_CHANGE = "password_change"
PASSWORD_RESET = "password_reset"
SECOND_FACTOR = "second_factor"
TOKEN = "token"
USER = "user"
GROUP = "group"
MEMBERSHIP = "membership"
PERMISSION = "permission"
SETTING = "setting"
DEPLOY = "deploy"
EXPORT = "export"
CLOCK = "clock"
UNMASKED_VIEW = "unmasked_view"
BACKUP = "backup"
RESTORE = "restore"
ORG_IMPORT = "org_import"

KIND_LABELS: dict[str, str] = {
    LOGIN: "登录", LOGOUT: "退出登录", LOGIN_FAILED: "登录失败", LOCK: "锁定", UNLOCK: "解除锁定",
    PASSWORD_CHANGE: "修改密码", PASSWORD_RESET: "重置密码", SECOND_FACTOR: "双因素认证", TOKEN: "访问令牌",
    USER: "用户管理", GROUP: "组管理", MEMBERSHIP: "成员变更", PERMISSION: "停权与恢复", SETTING: "参数设置",
    DEPLOY: "流程部署", EXPORT: "数据导出", CLOCK: "拨动时钟", UNMASKED_VIEW: "查看个人信息",
    BACKUP: "数据备份", RESTORE: "数据恢复", ORG_IMPORT: "组织导入",
}
SUCCESS, FAILURE, DENIED = RESULTS
RESULT_LABELS: dict[str, str] = {SUCCESS: "成功", FAILURE: "失败", DENIED: "拒绝"}

SYSTEM = "system"  # who acts when nobody does: the timers, the daily backup, start-up deploys
CLI = "cli"  # the `govflow` command
REFUSAL = "只有系统管理员可以查看和导出审计日志"
_WIDTHS = {"username": 64, "address": 64, "target": 200}  # the columns' widths: longer is cut, never refused


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(REFUSAL)


def now() -> datetime:
    """When an event happened: the wall clock (the service clock without the virtual offset), so
    rehearsing a month ahead never back- or fore-dates the log; still pinned in tests."""
    return clock.now() - clock.offset()


# ----- who and from where ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Who acts and from where (a request's user and remote address; the CLI, the timers)."""

    username: str | None
    address: str | None


@dataclass(frozen=True)
class _Bound:
    who: str | Callable[[], str | None] | None
    address: str | None


_origin: ContextVar[_Bound | None] = ContextVar("audit_origin", default=None)


@contextmanager
def bind(username: str | Callable[[], str | None] | None, address: str | None) -> Iterator[None]:
    """Make `record()` default to this user and address inside the block. `username` may be a
    function, asked when a row is written (a request learns its user only after its bearer token
    or session is read)."""
    token = _origin.set(_Bound(username, address))
    try:
        yield
    finally:
        _origin.reset(token)


def origin() -> Origin | None:
    bound = _origin.get()
    if bound is None:
        return None
    who = bound.who() if callable(bound.who) else bound.who
    return Origin(who, bound.address)


# ----- writing ---------------------------------------------------------------------------------------


def _cut(name: str, value: str | None) -> str | None:
    return None if value is None else str(value)[:_WIDTHS[name]]


def record(session: Any, kind: str, *, target: str | None = None, detail: str = "",
           result: str = SUCCESS, username: str | None = None, address: str | None = None) -> None:
    """Add one audit row to `session` (an ORM Session), in the caller's transaction. `username`
    and `address` default to the bound origin (no origin: the system, no address)."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown audit kind {kind!r}")
    if result not in RESULT_LABELS:
        raise ValueError(f"unknown audit result {result!r}")
    bound = origin()
    if username is None:
        username = (bound.username if bound else None) or SYSTEM
    if address is None and bound is not None:
        address = bound.address
    values: dict[str, Any] = {
        "at": now(), "username": _cut("username", username), "address": _cut("address", address), "kind": kind,
        "target": _cut("target", target), "detail": detail or "", "result": result,
    }
    hash_chain.seal_audit(session, values)
    session.execute(insert(AuditRow).values(**values))


def write(db: Any, kind: str, **fields: Any) -> None:
    """`record()` in a transaction of its own (`db` a service.store.db.Database): for an event that
    changes nothing else — an export, a view, a logout."""
    with db.write() as session:
        record(session, kind, **fields)


def unmasked_view(db: Any, process_key: str, business_key: str | None, instance_id: int) -> None:
    """One `unmasked_view` row when a case whose procedure declares personal data is shown with it
    in clear (the caller has asked service.policy); nothing for a procedure without any."""
    declared = procedure.registry().get(process_key)
    if declared is None or declared.personal is None:
        return
    write(db, UNMASKED_VIEW, target=business_key or f"#{instance_id}", detail=f"{declared.name}：个人信息明文显示")
