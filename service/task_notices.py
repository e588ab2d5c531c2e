"""新待办 (issue 9 item 15): every human task a step opens tells its candidate groups (or its
assignee) with an in-app notice, written in the step's own transaction by `notices.write`;
SMS and e-mail go only to the people who chose them (/me/notifications, `notice_channels`).

The hot path: a step opens one task or a few. Their notices are addressed to the groups (one row
per task and group, never one per member) and written with the deliveries inside the step's own
write batch (service.notices.write_opened, called where the step projects its open tasks: no
extra round trip on PostgreSQL); the deliveries are a single INSERT … SELECT that starts from
the people who opted in, so no member list is read and nothing is queued for anyone else."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service import clock
from service.actors import Actor
from service.errors import Invalid, NotFound
from service.store import statements as stmt
from service.store.db import RawTx
from service.store.models import Notice, User
from service.store.preference_models import CHANNELS, NoticeChannel
from service.store.suspension_models import SUSPENDED_NOW_SQL

if TYPE_CHECKING:
    from service.store.fastsql import FastSql

KIND = "task_assigned"
KIND_NAME = "新待办"
REASSIGN_KIND = "reassign"  # 改派 hands an open task to someone new: the same choices apply
CHANNEL_NAMES = {"sms": "短信", "email": "邮件"}

NEW_TASK_NOTICE = stmt.insert(Notice, {
    **stmt.params("kind instance_id task_id text"), "recipient_user": ":user", "recipient_group": ":group",
    "created_at": ":now", "created_by": ":by", "dedup_key": "NULL",
}, defaulted=("id",))

# The deliveries of new-task notices just written: from the (few) people who opted in, to those
# of them the notice reaches (its user, or a member of its group whose membership is not
# suspended now: 停权, service/suspensions.py), active, with an address.
_ADDRESS = "CASE c.channel WHEN 'sms' THEN u.phone ELSE u.email END"
_MEMBER = ("EXISTS (SELECT 1 FROM user_groups g WHERE g.user_id = u.id AND g.group_key = n.recipient_group "
           f"AND NOT {SUSPENDED_NOW_SQL.format(username='u.username', group='g.group_key')})")
_DELIVERIES = (
    "INSERT INTO deliveries (notice_id, channel, address, state, attempts) "
    f"SELECT n.id, c.channel, {_ADDRESS}, 'pending', 0 "
    f"FROM notice_channels c JOIN users u ON u.id = c.user_id JOIN notices n ON (n.recipient_user = u.username OR {_MEMBER}) "
    f"WHERE u.active AND COALESCE({_ADDRESS}, '') <> '' AND "
    "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notice_id = n.id) AND "
)
STEP_DELIVERIES = _DELIVERIES + "n.instance_id = :instance_id AND n.kind = 'task_assigned' AND n.task_id IN "
NOTICE_DELIVERIES = _DELIVERIES + "n.id = :notice_id"
# PostgreSQL: the notices and their deliveries in ONE statement (the INSERT as a CTE whose rows
# the deliveries join), so a step's batch carries one more statement, not two.
_PG_DELIVERIES = (
    "INSERT INTO deliveries (notice_id, channel, address, state, attempts) "
    f"SELECT n.id, c.channel, {_ADDRESS}, 'pending', 0 "
    f"FROM n JOIN users u ON (n.recipient_user = u.username OR {_MEMBER}) JOIN notice_channels c ON c.user_id = u.id "
    f"WHERE u.active AND COALESCE({_ADDRESS}, '') <> ''"
)
_HEAD, _, _VALUES = NEW_TASK_NOTICE.partition(" VALUES ")
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_PG_STATEMENTS: dict[int, str] = {}


def _pg_statement(count: int) -> str:
    """The combined statement for `count` notices (parameters suffixed __0, __1, …), built once."""
    found = _PG_STATEMENTS.get(count)
    if found is None:
        rows = ", ".join(_PARAM.sub(lambda m, i=i: f":{m.group(1)}__{i}", _VALUES) for i in range(count))
        found = _PG_STATEMENTS[count] = (f"WITH n AS ({_HEAD} VALUES {rows} RETURNING id, recipient_user, "
                                         f"recipient_group) {_PG_DELIVERIES}")
    return found


def text(business_key: str, task_name: str, due_at: datetime | None) -> str:
    """新待办：XF-2026-000001 归纳分类（期限 2026-12-08）"""
    due = f"（期限 {due_at.astimezone(clock.BEIJING).date().isoformat()}）" if due_at else ""
    return f"{KIND_NAME}：{business_key} {task_name}{due}"


def queued(opened: list[dict[str, Any]], ready: dict[str, dict[str, Any]], business_key: str,
           by: str | None) -> list[dict[str, Any]]:
    """The outbox items (see service.notices) of the tasks a step opened (`ready`: the step's
    open tasks with their deadlines): one per task, to its assignee or else its candidate
    groups. A task assigned to the person whose step opened it tells nobody: they are looking
    at it."""
    items = []
    for task in opened:
        assignee = task.get("assignee")
        if assignee and assignee == by:
            continue
        recipients = [f"user:{assignee}"] if assignee else list(dict.fromkeys(task["candidate_groups"]))
        if not recipients:
            continue
        meta = ready.get(task["id"]) or {}
        items.append({"kind": KIND, "recipients": recipients, "task_id": task["id"], "fields": {},
                      "text": text(business_key, task["name"], meta.get("due_at"))})
    return items


def write(sql: FastSql, tx: Session | RawTx, instance_id: int, items: list[dict[str, Any]], now: datetime,
          by: str | None) -> int:
    """Write new-task notices (`queued` items) and their opted-in deliveries: statements whose
    answers nobody reads, so they go in the caller's batch (the step's: one round trip on
    PostgreSQL for all of it). No supervision-log row: a new task is no 督办 action. Returns
    how many notices were written."""
    rows = []
    for item in items:
        for target in item["recipients"]:
            user = target[5:] if target.startswith("user:") else None
            rows.append({"kind": KIND, "instance_id": instance_id, "task_id": item["task_id"], "user": user,
                         "group": None if user else target, "text": item["text"], "now": sql.when(now), "by": by})
    if not rows:
        return 0
    if sql.postgresql:
        sql.run(tx, _pg_statement(len(rows)), {f"{k}__{i}": v for i, row in enumerate(rows) for k, v in row.items()})
        return len(rows)
    marks, params = sql.in_list("t", list(dict.fromkeys(item["task_id"] for item in items)))
    sql.many(tx, NEW_TASK_NOTICE, rows)
    sql.run(tx, f"{STEP_DELIVERIES}({marks})", {**params, "instance_id": instance_id})
    return len(rows)


def queue_deliveries(sql: FastSql, tx: Session | RawTx, notice_id: int) -> None:
    """Opted-in deliveries of one notice written elsewhere (改派, 转办: a task new to its holder)."""
    sql.run(tx, NOTICE_DELIVERIES, {"notice_id": notice_id})


# ----- a person's choices (/me/notifications, GET/PUT /api/v1/me/notifications) ----------------------


def _user(session: Session, actor: Actor) -> User:
    user = session.scalars(select(User).where(User.username == actor.username)).first()
    if user is None:
        raise NotFound("用户不存在")
    return user


def choices(session: Session, actor: Actor) -> dict[str, Any]:
    """In-app always; SMS and e-mail as chosen, with whether an address is on file for each."""
    user = _user(session, actor)
    chosen = set(session.scalars(select(NoticeChannel.channel).where(NoticeChannel.user_id == user.id)))
    return {"in_app": True, "sms": "sms" in chosen, "email": "email" in chosen,
            "has_phone": bool(user.phone), "has_email": bool(user.email)}


def _flag(body: dict[str, Any], name: str, current: bool) -> bool:
    value = body.get(name, current)
    if not isinstance(value, bool):
        raise Invalid("通知方式设置有误", [{"field": name, "message": "应为 true 或 false"}])
    return value


def choose(session: Session, actor: Actor, body: Any) -> dict[str, Any]:
    """Store the person's choices (`sms`, `email` booleans; `in_app` may only stay on). A channel
    without an address on file is refused (422), and then nothing changes."""
    if not isinstance(body, dict):
        raise Invalid("通知方式设置有误", [{"field": "", "message": "应为对象"}])
    current = choices(session, actor)
    if body.get("in_app", True) is not True:
        raise Invalid("站内通知不能关闭", [{"field": "in_app", "message": "站内通知始终开启"}])
    wanted = {c: _flag(body, c, current[c]) for c in CHANNELS}
    errors = []
    if wanted["sms"] and not current["has_phone"]:
        errors.append({"field": "sms", "message": "您未登记手机号码，无法选择短信通知，请联系管理员登记"})
    if wanted["email"] and not current["has_email"]:
        errors.append({"field": "email", "message": "您未登记电子邮箱，无法选择邮件通知，请联系管理员登记"})
    if errors:
        raise Invalid("通知方式设置有误", errors)
    user = _user(session, actor)
    session.execute(delete(NoticeChannel).where(NoticeChannel.user_id == user.id))
    session.add_all(NoticeChannel(user_id=user.id, channel=c) for c in CHANNELS if wanted[c])
    return {**current, **wanted}
