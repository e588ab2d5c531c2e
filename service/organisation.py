"""组织管理: the administrator's users, groups and memberships. Users are created (initial password
by the identity rules, changed at first login outside the demo organisation), edited, deactivated
and reactivated — never deleted, so every history row keeps its name —, given a new password or
unlocked; groups are created with a kind, renamed or given another kind, never re-keyed (the
diagrams name their keys). Each function validates everything first (Invalid with Chinese field
errors, nothing written) and records the change in the audit log in the caller's transaction.
The demo organisation (service/demo.py) and the Excel import (service/org_excel.py) go through
the same functions. Reads for the pages and the API are service/org_views.py's."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service import audit, clock, identity, lockout
from service.actors import ADMIN_GROUP, SYSTEM, Actor
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.store.identity_models import USER_LOCK
from service.store.models import ApiToken, Group, History, HumanTask, User

# 组类别: a small fixed set (the lists group and filter by it; procedures keep naming keys)
KINDS: dict[str, str] = {"department": "部门", "county": "县区", "leaders": "领导", "office": "办公室",
                         "platform": "平台"}
DEFAULT_KIND = "office"
USERNAME = re.compile(r"[a-z][a-z0-9_.-]{1,31}")
GROUP_KEY = re.compile(r"[a-z][a-z0-9_]{1,63}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
PHONE = re.compile(r"\+?[0-9][0-9 -]{2,30}")
# "system": the timers' and engine's own actor (service/actors.py); the others: the pages' own paths
RESERVED_USERNAMES = frozenset({"system", "new", "export", "import"})
NAME_MAX, EMAIL_MAX = 128, 256
USERNAME_RULE = "用户名须以小写字母开头，由小写字母、数字、下划线、点或连字符组成，共 2 至 32 个字符"
GROUP_KEY_RULE = "组标识须以小写字母开头，由小写字母、数字或下划线组成，共 2 至 64 个字符"
REFUSAL = "只有系统管理员可以管理用户和组织"
LAST_ADMIN = "不能停用或移出最后一个在用的系统管理员：请先让另一名在用的用户加入系统管理员组"
USER_FIELDS = ("name", "email", "phone")
GROUP_FIELDS = ("name", "kind")
PERSON_LABELS = {"name": "姓名", "email": "电子邮箱", "phone": "电话"}


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(REFUSAL)


def text(value: Any) -> str:
    """A submitted value as trimmed text (None → "")."""
    return "" if value is None else str(value).strip()


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


# ----- checks (also the Excel import's, which checks every row before writing any) ----------------


def username_errors(username: str) -> list[dict[str, str]]:
    if not username:
        return [_error("username", "请填写用户名")]
    if not USERNAME.fullmatch(username):
        return [_error("username", USERNAME_RULE)]
    if username in RESERVED_USERNAMES:
        return [_error("username", f"用户名 {username} 为系统保留，请换一个")]
    return []


def person_errors(values: Mapping[str, Any], fields: Iterable[str] = USER_FIELDS) -> list[dict[str, str]]:
    """姓名 required; 电子邮箱 and 电话 optional, checked when given."""
    errors = []
    for field in fields:
        value = text(values.get(field))
        if field == "name":
            if not value:
                errors.append(_error("name", "请填写姓名"))
            elif len(value) > NAME_MAX or not value.isprintable():
                errors.append(_error("name", f"姓名不能超过 {NAME_MAX} 个字符，且不能含控制字符"))
        elif field == "email" and value and (len(value) > EMAIL_MAX or not EMAIL.fullmatch(value)):
            errors.append(_error("email", "电子邮箱格式不正确，例如 zhang@example.gov.cn"))
        elif field == "phone" and value and not PHONE.fullmatch(value):
            errors.append(_error("phone", "电话只能包含数字、空格和连字符（可以 + 开头），3 至 32 位，例如 0883-2123456"))
    return errors


def password_errors(username: str, password: str) -> list[dict[str, str]]:
    problems = identity.password_problems(username, password)
    return [_error("password", "；".join(problems))] if problems else []


def group_errors(values: Mapping[str, Any], fields: Iterable[str] = GROUP_FIELDS) -> list[dict[str, str]]:
    errors = []
    for field in fields:
        value = text(values.get(field))
        if field == "key" and not GROUP_KEY.fullmatch(value):
            errors.append(_error("key", "请填写组标识" if not value else GROUP_KEY_RULE))
        elif field == "name" and (not value or len(value) > NAME_MAX or not value.isprintable()):
            errors.append(_error("name", "请填写组名称" if not value else f"组名称不能超过 {NAME_MAX} 个字符"))
        elif field == "kind" and value not in KINDS:
            errors.append(_error("kind", f"组类别须为：{'、'.join(KINDS.values())}"))
    return errors


def kind_code(value: Any) -> str:
    """A kind given by code (`department`) or by its Chinese label (部门)."""
    value = text(value)
    return next((code for code, label in KINDS.items() if value == label), value)


def _unknown_fields(values: Mapping[str, Any], allowed: Iterable[str]) -> list[dict[str, str]]:
    return [_error(k, f"不支持修改字段 {k}") for k in values if k not in allowed]


def generate_password(length: int = 14) -> str:
    """A random password meeting the rules (all four classes, no look-alike characters)."""
    pools = ("ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789", "-_!@#%+=")
    chars = [secrets.choice(pool) for pool in pools]
    chars += [secrets.choice("".join(pools)) for _ in range(length - len(pools))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


# ----- reading rows -------------------------------------------------------------------------------


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户不存在：{username}")
    return user


def find_group(session: Session, key: str) -> Group:
    group = session.get(Group, key)
    if group is None:
        raise NotFound(f"组不存在：{key}")
    return group


def split_keys(value: str) -> list[str]:
    """Group keys written in one text, separated by 、, commas, semicolons or spaces."""
    return list(dict.fromkeys(k for k in re.split(r"[,，、;；\s]+", value) if k))


def _groups(session: Session, keys: Any) -> tuple[list[Group], list[dict[str, str]]]:
    """The groups named (a list, or one text of keys separated by commas or 、)."""
    if isinstance(keys, str):
        keys = split_keys(keys)
    if keys is None:
        keys = []
    if not isinstance(keys, list | tuple | set | frozenset):
        return [], [_error("groups", "所属组须为组标识的列表")]
    wanted = list(dict.fromkeys(text(k) for k in keys if text(k)))
    found = {g.key: g for g in session.scalars(select(Group).where(Group.key.in_(wanted)))} if wanted else {}
    missing = [k for k in wanted if k not in found]
    if missing:
        return [], [_error("groups", f"组不存在：{'、'.join(missing)}")]
    return [found[k] for k in wanted], []


def active_admins(session: Session) -> set[str]:
    return {u.username for u in session.scalars(select(User).where(User.active.is_(True)))
            if ADMIN_GROUP in u.group_keys}


def _keep_an_admin(session: Session, user: User) -> None:
    """Conflict when `user` is the last active administrator (about to stop being one)."""
    if user.active and ADMIN_GROUP in user.group_keys and not active_admins(session) - {user.username}:
        raise Conflict(LAST_ADMIN)


# ----- users --------------------------------------------------------------------------------------


def create_user(session: Session, values: Mapping[str, Any], *, rules: bool = True) -> dict[str, Any]:
    """A new active user: `values` holds username, name, email, phone, groups and password (empty:
    one is generated and returned, shown once). The password must meet the identity rules and be
    changed at first login — except the demo organisation's documented one (`rules=False`)."""
    username = text(values.get("username"))
    errors = username_errors(username) + person_errors(values)
    if not errors and session.scalars(select(User.id).where(User.username == username)).first() is not None:
        errors.append(_error("username", f"用户名 {username} 已被使用（停用的用户也保留用户名）"))
    groups, group_problems = _groups(session, values.get("groups"))
    password = values.get("password") or ""
    if not isinstance(password, str):
        errors.append(_error("password", "密码须为文本"))
        password = ""
    generated = not password
    if generated:
        password = generate_password()
    elif rules:
        errors += password_errors(username, password)
    errors += group_problems
    if errors:
        raise Invalid("用户未创建", errors)
    name = text(values.get("name"))
    user = User(username=username, name=name, email=text(values.get("email")) or None,
                phone=text(values.get("phone")) or None, active=True, password_hash="!")
    session.add(user)
    session.flush()
    identity.set_password(session, user, password, must_change=not identity.is_demo(session))
    audit.record(session, "user", target=username, detail=f"创建用户 {name}（{username}）")
    set_groups(session, user, groups)
    return {"username": username, "password": password if generated else None}


def update_user(session: Session, username: str, values: Mapping[str, Any]) -> list[str]:
    """Change the given ones of name, email, phone; the labels of what changed."""
    user = find_user(session, username)
    errors = _unknown_fields(values, USER_FIELDS) + person_errors(values, [f for f in USER_FIELDS if f in values])
    if errors:
        raise Invalid("用户信息未修改", errors)
    changed = []
    for field in USER_FIELDS:
        if field in values:
            value = text(values[field]) or (None if field != "name" else "")
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed.append(PERSON_LABELS[field])
    if changed:
        was = f"（姓名改为 {user.name}）" if "姓名" in changed else ""
        audit.record(session, "user", target=username, detail=f"修改{'、'.join(changed)}{was}")
    return changed


def _drop_tokens(session: Session, user: User) -> None:
    session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def deactivate(session: Session, username: str) -> None:
    """停用: cannot sign in, sessions end at the next request, API tokens are revoked; the row and
    its name stay for the history. The last active administrator cannot be deactivated."""
    user = find_user(session, username)
    if not user.active:
        raise Conflict(f"用户 {user.name}（{username}）已是停用状态")
    _keep_an_admin(session, user)
    user.active = False
    _drop_tokens(session, user)
    released = _release_claims(session, user)
    audit.record(session, "user", target=username, detail=f"停用用户 {user.name}（{username}）"
                 + (f"，{released} 件已签收待办退回所在组" if released else ""))


def _release_claims(session: Session, user: User) -> int:
    """The deactivated user's claimed open tasks go back to their groups' inboxes (nobody could
    finish them any more), each a 退回签收 in its case's history."""
    origin = audit.origin()
    tasks = session.scalars(select(HumanTask).where(HumanTask.assignee == user.username,
                                                    HumanTask.state == "open")).all()
    for task in tasks:
        task.assignee = None
        session.add(History(instance_id=task.instance_id, at=clock.now(),
                            username=origin.username if origin and origin.username else SYSTEM.username,
                            action="unclaim", task_bpmn_id=task.bpmn_id, task_name=task.name, task_id=task.id,
                            comment=f"用户 {user.name} 已停用，签收退回"))
    return len(tasks)


def reactivate(session: Session, username: str) -> None:
    user = find_user(session, username)
    if user.active:
        raise Conflict(f"用户 {user.name}（{username}）已是启用状态")
    user.active = True
    audit.record(session, "user", target=username, detail=f"启用用户 {user.name}（{username}）")


def reset_password(session: Session, username: str, password: str | None = None) -> str | None:
    """A new password (given and checked by the rules, or generated and returned once), changed by
    the user at the next login; the user's API tokens are revoked (a reset means the old secret
    may be known)."""
    user = find_user(session, username)
    generated = not password
    if not isinstance(password, str | None):
        raise Invalid("密码未重置", [_error("password", "密码须为文本")])
    if password:
        errors = password_errors(username, password)
        if errors:
            raise Invalid("密码未重置", errors)
    new = password or generate_password()
    identity.set_password(session, user, new, must_change=not identity.is_demo(session))
    _drop_tokens(session, user)
    audit.record(session, "password_reset", target=username, detail=f"重置 {user.name}（{username}）的密码")
    return new if generated else None


def locked_users(session: Session) -> set[str]:
    return {lock["subject"] for lock in lockout.current_locks(session) if lock["kind"] == USER_LOCK}


def unlock(session: Session, username: str, admin: str) -> int:
    """Lift the account locks of `username` (service/lockout.py unlock); how many were lifted."""
    user = find_user(session, username)
    ids = [lock["id"] for lock in lockout.current_locks(session)
           if lock["kind"] == USER_LOCK and lock["subject"] == username[:64]]
    if not ids:
        raise NotFound(f"用户 {user.name}（{username}）当前未被锁定")
    for lock_id in ids:  # each writes its own `unlock` audit row (the audit hooks of lockout.py)
        lockout.unlock(session, lock_id, admin)
    return len(ids)


# ----- groups and memberships ---------------------------------------------------------------------


def create_group(session: Session, values: Mapping[str, Any]) -> Group:
    key, name, kind = text(values.get("key")), text(values.get("name")), kind_code(values.get("kind"))
    errors = group_errors({"key": key, "name": name, "kind": kind}, ("key", "name", "kind"))
    if not errors and session.get(Group, key) is not None:
        errors.append(_error("key", f"组标识 {key} 已存在"))
    if errors:
        raise Invalid("组未创建", errors)
    group = Group(key=key, name=name, kind=kind)
    session.add(group)
    session.flush()
    audit.record(session, "group", target=key, detail=f"创建组 {name}（{key}），类别：{KINDS[kind]}")
    return group


def update_group(session: Session, key: str, values: Mapping[str, Any]) -> list[str]:
    """Rename a group or change its kind; its key never changes (the diagrams name it)."""
    group = find_group(session, key)
    if "key" in values and text(values["key"]) != key:
        raise Invalid("组未修改", [_error("key", "组标识不能修改：流程图按组标识分派任务")])
    values = {k: (kind_code(v) if k == "kind" else v) for k, v in values.items() if k != "key"}
    errors = _unknown_fields(values, GROUP_FIELDS) + group_errors(values, [f for f in GROUP_FIELDS if f in values])
    if errors:
        raise Invalid("组未修改", errors)
    changed = []
    if "name" in values and text(values["name"]) != group.name:
        changed.append(f"名称由 {group.name} 改为 {text(values['name'])}")
        group.name = text(values["name"])
    if "kind" in values and values["kind"] != group.kind:
        changed.append(f"类别由 {KINDS.get(group.kind, group.kind)} 改为 {KINDS[values['kind']]}")
        group.kind = values["kind"]
    if changed:
        audit.record(session, "group", target=key, detail="；".join(changed))
    return changed


def add_member(session: Session, key: str, username: str) -> bool:
    """Put the user in the group; False when already a member (nothing written)."""
    group, user = find_group(session, key), find_user(session, username)
    if group in user.groups:
        return False
    user.groups = [*user.groups, group]
    audit.record(session, "membership", target=f"{key}/{username}",
                 detail=f"{user.name}（{username}）加入 {group.name}（{key}）")
    return True


def remove_member(session: Session, key: str, username: str) -> bool:
    """Take the user out of the group; False when not a member. The last active administrator
    stays in the administrators' group."""
    group, user = find_group(session, key), find_user(session, username)
    if group not in user.groups:
        return False
    if key == ADMIN_GROUP:
        _keep_an_admin(session, user)
    user.groups = [g for g in user.groups if g.key != key]
    audit.record(session, "membership", target=f"{key}/{username}",
                 detail=f"{user.name}（{username}）退出 {group.name}（{key}）")
    return True


def set_groups(session: Session, user: User, groups: Iterable[Group]) -> None:
    """Make `groups` the user's memberships (the import's and the demo's), one audit row each."""
    wanted = {g.key: g for g in groups}
    for key in sorted(set(user.group_keys) - set(wanted)):
        remove_member(session, key, user.username)
    for key in [k for k in wanted if k not in user.group_keys]:
        add_member(session, key, user.username)


def set_group_keys(session: Session, user: User, keys: Any) -> None:
    groups, errors = _groups(session, keys)
    if errors:
        raise Invalid("所属组未修改", errors)
    set_groups(session, user, groups)
