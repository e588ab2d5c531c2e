"""转办: whoever holds a task (its claimer, or a member of its groups while it is unclaimed) hands
it to a colleague, another active member of one of the task's own groups (a membership suspended
by 停权 does not count: service/suspensions.py), with an optional note.
One transaction: the task's assignee, a history row 「转办 给 …」, the unit's 签收回执 if it had
none yet, and a notice to the new holder."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import clock, policy, receipts, suspensions, task_notices
from service.actors import Actor
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.store.db import Database
from service.store.models import Group, History, HumanTask, Instance, Notice, User, UserGroup

MAX_NOTE = 500
HISTORY_ACTION = "transfer"
NOTICE_KIND = "transfer"


def _groups(task: HumanTask) -> list[str]:
    return [g for g in task.candidate_groups.split(",") if g]


def colleagues(session: Session, task: HumanTask, actor: Actor) -> list[dict[str, Any]]:
    """The people this task may be handed to (the 转办 picker): active members of its groups
    (memberships suspended now left out), without the actor and its present holder, each with the
    groups they share with the task. One query for the members."""
    groups = _groups(task)
    if not groups:
        return []
    names = {g.key: g.name for g in session.scalars(select(Group).where(Group.key.in_(groups)))}
    shared: dict[str, tuple[str, list[str]]] = {}
    for username, name, group in session.execute(
            select(User.username, User.name, UserGroup.group_key).join(UserGroup, UserGroup.user_id == User.id)
            .where(UserGroup.group_key.in_(groups), User.active.is_(True),
                   suspensions.held(User.username, UserGroup.group_key))
            .order_by(User.username, UserGroup.group_key)):
        shared.setdefault(username, (name, []))[1].append(group)
    found = [{"username": username, "name": name, "groups": [names.get(g, g) for g in held]}
             for username, (name, held) in shared.items()
             if policy.transfer_refusal(actor, task.candidate_groups, task.assignee, username, set(held), True) is None]
    return sorted(found, key=lambda u: (u["name"], u["username"]))


def transfer(db: Database, task_id: str, to: Any, note: Any, actor: Actor) -> dict[str, Any]:
    """Hand the task to `to`: 404 unknown task, 409 already done, 403 not the actor's to hand on,
    422 a person outside the task's groups (or a bad note); nothing is written on refusal."""
    if not isinstance(to, str) or not to.strip():
        raise Invalid("请选择转办给哪位同事", [{"field": "to", "message": "此项为必填项"}])
    to = to.strip()
    if note is not None and not isinstance(note, str):
        raise Invalid("转办说明必须是文字", [{"field": "note", "message": "应为字符串"}])
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"转办说明不能超过{MAX_NOTE}字", [{"field": "note", "message": f"已输入{len(note)}字"}])
    now = clock.now()
    with db.write() as session:
        task = session.get(HumanTask, task_id)
        if task is None:
            raise NotFound("任务不存在")
        if task.state != "open":
            raise Conflict("该任务已办理，不能转办")
        if not policy.may_transfer(actor, task.candidate_groups, task.assignee):
            if task.assignee:
                raise Forbidden(f"该任务已由 {task.assignee} 签收，只有签收人可以转办")
            raise Forbidden("您无权转办此任务")
        target = session.scalars(select(User).where(User.username == to)).first()
        if target is None:
            raise Invalid("转办对象不存在", [{"field": "to", "message": f"用户 {to} 不存在"}])
        held = suspensions.memberships(session, [target.username]).get(target.username, frozenset())
        refusal = policy.transfer_refusal(actor, task.candidate_groups, task.assignee, target.username,
                                          held, bool(target.active))
        if refusal is not None and held != frozenset(target.group_keys) \
                and policy.transfer_refusal(actor, task.candidate_groups, task.assignee, target.username,
                                            frozenset(target.group_keys), bool(target.active)) is None:
            refusal = f"{target.name}（{target.username}）在本任务办理组的权限已被停用（停权），不能接收转办"
        if refusal is not None:
            raise Invalid(refusal, [{"field": "to", "message": refusal}])
        before = task.assignee
        # guarded: a colleague's claim or a completion in between matches no row
        moved = session.execute(
            update(HumanTask)
            .where(HumanTask.id == task.id, HumanTask.state == "open",
                   HumanTask.assignee == before if before else HumanTask.assignee.is_(None))
            .values(assignee=target.username).execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            raise Conflict("该任务刚被他人签收或已办理，请刷新")
        receipts.record(session, task, actor, now)  # handing it on means the unit has received it
        text = f"给 {target.name}（{target.username}）" + (f"：{note}" if note else "")
        session.add(History(instance_id=task.instance_id, at=now, username=actor.username, action=HISTORY_ACTION,
                            task_bpmn_id=task.bpmn_id, task_name=task.name, task_id=task.id, comment=text))
        inst = session.get(Instance, task.instance_id)
        key = inst.business_key if inst else task.business_key
        notice = Notice(kind=NOTICE_KIND, instance_id=task.instance_id, task_id=task.id,
                        recipient_user=target.username, created_at=now, created_by=actor.username,
                        text=f"【转办】{actor.name or actor.username} 将 {key}「{task.name}」转给您办理"
                             + (f"：{note}" if note else ""))
        session.add(notice)
        session.flush()  # its id, for the SMS/e-mail of a new holder who chose them (as 新待办, 改派)
        task_notices.queue_deliveries(db.sql, session, notice.id)
        return {"id": task.id, "assignee": target.username, "assignee_name": target.name, "from": before,
                "note": note or None}
