"""Who may start, see, message and supervise: one policy, read from the procedures' contracts,
used by the pages and the JSON API alike (neither decides any of this on its own).

The platform knows one role of its own, `admin` (designers and user administrators): it may
start any procedure and supervise every case, but sees personal data only where a procedure
names it a reader."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session, object_session
from sqlalchemy.sql import Select

from service import procedure
from service.actors import ADMIN_GROUP, Actor, Delegator
from service.errors import Forbidden
from service.procedure import Procedure
from service.store.models import HumanTask, Instance, InstanceGroup


def _known(process_key: str | None) -> Procedure | None:
    return procedure.get(process_key)


# ----- starting ----------------------------------------------------------------------------------


def may_start(actor: Actor, process_key: str) -> bool:
    """Closed by default: a procedure's declared starters — its groups and the groups matching its
    patterns (or, if it says so, anyone logged in); a diagram no procedure declares can be started
    by the administrator only."""
    if actor.is_admin:
        return True
    declared = _known(process_key)
    if declared is None:
        return False
    starters = declared.starters
    return starters.anyone or bool(actor.groups & starters.groups) \
        or any(fnmatchcase(g, p) for p in starters.patterns for g in actor.groups)


def require_start(actor: Actor, process_key: str) -> None:
    if not may_start(actor, process_key):
        declared = _known(process_key)
        raise Forbidden(declared.starters.refusal if declared else "您无权发起此流程")


def startable(actor: Actor) -> list[Procedure]:
    """The procedures this user may start, for the navigation and the start pages."""
    return [p for p in procedure.registry() if may_start(actor, p.key)]


# ----- messages ----------------------------------------------------------------------------------


def may_message(actor: Actor, process_key: str, name: str) -> bool:
    declared = _known(process_key)
    rule = declared.message(name) if declared else None
    return rule is not None and bool(actor.groups & rule.senders)


def require_message(actor: Actor, process_key: str, name: str) -> None:
    if not may_message(actor, process_key, name):
        declared = _known(process_key)
        rule = declared.message(name) if declared else None
        raise Forbidden(rule.refusal if rule else "该案件不接收此消息")


# ----- supervision -------------------------------------------------------------------------------


def supervised(actor: Actor) -> frozenset[str] | None:
    """The procedures this user supervises (督办); None means all of them (the administrator)."""
    if actor.is_admin:
        return None
    return frozenset(p.key for p in procedure.registry() if actor.groups & p.supervisors)


def is_supervisor(actor: Actor) -> bool:
    scope = supervised(actor)
    return scope is None or bool(scope)


def supervises(actor: Actor, process_key: str) -> bool:
    scope = supervised(actor)
    return scope is None or process_key in scope


def require_supervisor(actor: Actor) -> None:
    if not is_supervisor(actor):
        raise Forbidden("只有督办人员可以使用督办功能")


def require_supervises(actor: Actor, process_key: str) -> None:
    require_supervisor(actor)
    if not supervises(actor, process_key):
        raise Forbidden("该案件不在您的督办范围内")


def may_reassign_to(process_key: str, bpmn_id: str | None, current: list[str] | str, group: str) -> bool:
    """Whether a supervisor may move this step's task to `group` (改派): what the procedure
    declares for the step (`reassign_to`), else the task's own groups; never `admin`."""
    if group == ADMIN_GROUP:
        return False
    own = current.split(",") if isinstance(current, str) else current
    if group in own:
        return True
    declared = _known(process_key)
    if declared is None:
        return False
    allowed = declared.reassign_to.get(bpmn_id or "", declared.reassign_to.get("*", ()))
    return any(_allows(a, group) for a in allowed)


def _allows(entry: str, group: str) -> bool:
    """A `reassign_to` entry: "^<regex>" (the whole key matches), "<prefix>_" or a group key."""
    if entry.startswith("^"):
        return re.fullmatch(entry[1:], group) is not None
    return group.startswith(entry) if entry.endswith("_") else group == entry


def reassign_targets(process_key: str, bpmn_id: str | None, current: list[str] | str,
                     groups: list[dict[str, str]]) -> list[dict[str, str]]:
    """The groups (rows of queries.groups) the 改派 picker offers for this task."""
    return [g for g in groups if may_reassign_to(process_key, bpmn_id, current, g["key"])]


# ----- acting on tasks ---------------------------------------------------------------------------


def _holds(username: str, own: frozenset[str], candidate_groups: list[str] | str, assignee: str | None) -> bool:
    if assignee:
        return assignee == username
    groups = candidate_groups.split(",") if isinstance(candidate_groups, str) else candidate_groups
    return bool(own.intersection(g for g in groups if g))


def may_act(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> bool:
    """A task is this user's if it is assigned to them, or offered to one of their groups and
    claimed by nobody (a claimed task belongs to its claimer alone) — or it is so for someone
    whose work they do now (委托, `acting_for`)."""
    return _holds(actor.username, actor.groups, candidate_groups, assignee) \
        or acting_for(actor, candidate_groups, assignee) is not None


def acting_for(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> Delegator | None:
    """委托: whose right the user acts on for this task — None when it is their own, else the
    delegator it belongs to (the history records both). Delegated rights go one step only: a
    delegator's own delegators are never loaded (no re-delegation)."""
    if _holds(actor.username, actor.groups, candidate_groups, assignee):
        return None
    return next((d for d in actor.delegators if _holds(d.username, d.groups, candidate_groups, assignee)), None)


def acting_groups(actor: Actor) -> frozenset[str]:
    """The groups whose tasks the user may act on now: their own and their delegators' (never the
    platform's `admin`: administering is not delegated)."""
    groups = actor.groups
    for d in actor.delegators:
        groups = groups | (d.groups - {ADMIN_GROUP})
    return groups


def task_holders(actor: Actor) -> list[str]:
    """Users whose claimed tasks this user may act on: themselves and their delegators."""
    return [actor.username, *(d.username for d in actor.delegators)]


def may_transfer(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> bool:
    """转办: whoever may act on the task (its claimer, or a member of its groups while unclaimed)
    may hand it to a colleague."""
    return may_act(actor, candidate_groups, assignee)


def transfer_refusal(actor: Actor, candidate_groups: list[str] | str, assignee: str | None,
                     target: str, target_groups: set[str] | frozenset[str], target_active: bool) -> str | None:
    """Why the task may not be handed to `target` (None: it may): only to another active member
    of one of the task's own groups, never to oneself or to its holder."""
    groups = {g for g in (candidate_groups.split(",") if isinstance(candidate_groups, str) else candidate_groups) if g}
    if target == actor.username:
        return "不能转办给自己"
    if target == assignee:
        return "该任务已由此人签收办理"
    if not target_active:
        return "该用户已停用，不能接收转办"
    if not (groups & set(target_groups)) - {ADMIN_GROUP}:
        return "只能转办给本任务办理组内的同事"
    return None


# ----- seeing cases ------------------------------------------------------------------------------


def sees_all(actor: Actor, process_key: str | None = None) -> bool:
    """Whether this user sees every case of the procedure: its owners and supervisors."""
    if actor.is_admin:
        return True
    declared = _known(process_key)
    return declared is not None and bool(actor.groups & (declared.owners | declared.supervisors))


def _seen_processes(actor: Actor) -> list[str]:
    return [p.key for p in procedure.registry() if actor.groups & (p.owners | p.supervisors)]


def offered_to(actor: Actor, acting: bool = False) -> list[ColumnElement[bool]]:
    """Terms (to OR) matching a HumanTask offered to one of the user's groups (candidate_groups
    holds "a" or "a,b": a group matches as a whole item of that list); `acting`: their delegators'
    groups too."""
    groups = sorted(acting_groups(actor) if acting else actor.groups)
    terms: list[ColumnElement[bool]] = [HumanTask.candidate_groups.in_(groups)] if groups else [false()]
    for g in groups:
        terms += [HumanTask.candidate_groups.startswith(f"{g},", autoescape=True),
                  HumanTask.candidate_groups.endswith(f",{g}", autoescape=True),
                  HumanTask.candidate_groups.contains(f",{g},", autoescape=True)]
    return terms


def visible(query: Select[Any], actor: Actor) -> Select[Any]:
    """Restrict an Instance query to the cases this user may see: every case of the procedures
    they own or supervise, and the cases they take part in."""
    if actor.is_admin:
        return query
    owned = _seen_processes(actor)
    groups = sorted(acting_groups(actor))  # a delegate sees the cases of the tasks they act on
    # Correlated EXISTS on indexed columns: checked per listed row, never a scan of all tasks.
    took_part = exists().where(
        HumanTask.instance_id == Instance.id,
        or_(*offered_to(actor, acting=True), HumanTask.completed_by == actor.username,
            HumanTask.assignee.in_(task_holders(actor))),
    )
    handles = exists().where(InstanceGroup.instance_id == Instance.id, InstanceGroup.group_key.in_(groups))
    conditions = [Instance.handling_group.in_(groups), Instance.started_by == actor.username, took_part, handles]
    if owned:
        conditions.insert(0, Instance.process_key.in_(owned))
    return query.where(or_(*conditions))


def may_view_task(actor: Actor, candidate_groups: str, assignee: str | None, process_key: str) -> bool:
    """A task's page: its holder, its groups (a delegate's: the delegators' too), and who sees
    every case of its procedure."""
    in_groups = bool(acting_groups(actor).intersection(candidate_groups.split(",")))
    return assignee in task_holders(actor) or in_groups or sees_all(actor, process_key)


# ----- personal data -----------------------------------------------------------------------------


def may_see_personal(actor: Actor, inst: Instance) -> bool:
    """Personal data in clear: the procedure's readers, and the unit handling this very case (a
    delegate as their delegators would: they handle the case in their name)."""
    declared = _known(inst.process_key)
    if declared is None or declared.personal is None:
        return True
    groups = acting_groups(actor)
    if groups & declared.personal.readers:
        return True
    if not declared.personal.handling_unit:
        return False
    if inst.handling_group and inst.handling_group in groups:
        return True
    session = object_session(inst)
    return session is not None and session.scalar(select(InstanceGroup.group_key).where(
        InstanceGroup.instance_id == inst.id, InstanceGroup.group_key.in_(sorted(groups))).limit(1)) is not None


def personal_visible(actor: Actor) -> ColumnElement[bool]:
    """`may_see_personal` as an SQL condition on Instance rows, for queries that must keep only
    the cases whose personal data this user sees in clear (a search by ID number)."""
    groups = sorted(actor.groups)
    declared = list(procedure.registry())
    terms: list[ColumnElement[bool]] = [Instance.process_key.not_in([p.key for p in declared])]
    for p in declared:
        if p.personal is None or actor.groups & p.personal.readers:
            terms.append(Instance.process_key == p.key)
        elif p.personal.handling_unit and groups:
            terms.append(and_(Instance.process_key == p.key, or_(
                Instance.handling_group.in_(groups),
                exists().where(InstanceGroup.instance_id == Instance.id, InstanceGroup.group_key.in_(groups)))))
    return or_(*terms)


def sees_some_personal(session: Session, actor: Actor, declared: Procedure) -> bool:
    """Whether this user sees the personal data of at least one case of the procedure in clear
    (its readers always; a handling unit once a case is, or was, its own). Two index probes
    (handling_group, instance_groups) rather than `personal_visible` over every case: a unit with
    no case of it would otherwise scan them all."""
    personal = declared.personal
    if personal is None or actor.groups & personal.readers:
        return True
    if not personal.handling_unit or not actor.groups:
        return False
    groups = sorted(actor.groups)
    current = select(Instance.id).where(Instance.handling_group.in_(groups), Instance.process_key == declared.key)
    earlier = (select(InstanceGroup.instance_id).join(Instance, Instance.id == InstanceGroup.instance_id)
               .where(InstanceGroup.group_key.in_(groups), Instance.process_key == declared.key))
    return any(session.scalar(q.limit(1)) is not None for q in (current, earlier))


def present(data: dict[str, Any], actor: Actor, inst: Instance) -> dict[str, Any]:
    """Instance data as this user may see it."""
    declared = _known(inst.process_key)
    if declared is None or declared.personal is None or may_see_personal(actor, inst):
        return data
    return declared.personal.mask(data)


def mask(process_key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Data as anyone outside the readers sees it (lists, exports, log lines)."""
    declared = _known(process_key)
    return declared.personal.mask(data) if declared and declared.personal else data


# ----- attachments (附件) ------------------------------------------------------------------------


def may_attach(actor: Actor, inst: Instance, open_tasks: list[tuple[str, str | None]]) -> bool:
    """Adding a file to a case: whoever may act on one of its open tasks ((candidate groups,
    assignee) each), and its procedure's owners."""
    if any(may_act(actor, groups, assignee) for groups, assignee in open_tasks):
        return True
    declared = _known(inst.process_key)
    return declared is not None and bool(actor.groups & declared.owners)


def may_open_attachment(actor: Actor, inst: Instance, personal: bool) -> bool:
    """A file is data of its case (the caller has checked the case is visible): a personal one
    (a letter, a scanned ID) only for those who see the personal data in clear."""
    return not personal or may_see_personal(actor, inst)


def may_publish_attachment(inst: Instance, personal: bool) -> bool:
    """A file of a case on a public site (the caller found it published): anyone, unless it may hold personal data."""
    declared = _known(inst.process_key)
    return declared is not None and (not personal or declared.personal is None)


# ----- one's own notice choices (新待办 by SMS / e-mail) ------------------------------------------


def require_own_choices(actor: Actor, username: str) -> None:
    """A person chooses how they themselves are told of new tasks; nobody, not even an
    administrator, chooses for someone else (a text message reaches a private phone)."""
    if actor.username != username or "system" in actor.groups:
        raise Forbidden("只能设置本人的通知方式")


# ----- tables a procedure lets named groups keep (e.g. its important periods) ---------------------


def may_manage(actor: Actor, managers: frozenset[str]) -> bool:
    """The groups a procedure's declaration names as keepers of one of its tables, by their own
    membership (never through a delegation), and the platform administrator."""
    return actor.is_admin or bool(actor.groups & managers)


def require_manage(actor: Actor, managers: frozenset[str], refusal: str) -> None:
    if not may_manage(actor, managers):
        raise Forbidden(refusal)


# ----- 委托 (delegation while away) ---------------------------------------------------------------

MAX_DELEGATION_DAYS = 92  # a delegation covers an absence (leave, training), at most about a quarter


def delegation_errors(actor: Actor, delegate: str, delegate_active: bool | None, starts_at: Any, ends_at: Any,
                      now: Any, overlaps_own: bool, acts_for_others: bool, delegate_away: bool) -> list[dict[str, str]]:
    """Why this delegation may not be made (Chinese field errors; none: it may). `delegate_active`
    is None for an unknown user; the flags say whether, within the period, the user already
    delegates, holds someone else's delegation, or the delegate has delegated their own work."""
    errors = []
    if delegate == actor.username:
        errors.append({"field": "delegate", "message": "不能委托给自己"})
    elif delegate_active is None:
        errors.append({"field": "delegate", "message": f"用户 {delegate} 不存在"})
    elif not delegate_active:
        errors.append({"field": "delegate", "message": f"用户 {delegate} 已停用，不能受托"})
    elif acts_for_others:
        errors.append({"field": "delegate", "message": "您在此期间正受托代他人办理，不能再转委托"})
    elif delegate_away:
        errors.append({"field": "delegate", "message": "该同事在此期间已委托他人代办，不能受托（不得转委托）"})
    if ends_at <= starts_at:
        errors.append({"field": "ends_at", "message": "结束时间须晚于开始时间"})
    elif ends_at <= now:
        errors.append({"field": "ends_at", "message": "结束时间已过，请重新选择"})
    elif (ends_at - starts_at).days >= MAX_DELEGATION_DAYS:
        errors.append({"field": "ends_at", "message": f"委托期限不能超过{MAX_DELEGATION_DAYS}天"})
    elif overlaps_own:
        errors.append({"field": "starts_at", "message": "与您已有的委托时间重叠，请先撤销原委托"})
    return errors


def require_own_delegation(actor: Actor, delegator: str) -> None:
    """A delegation is revoked by the one who made it only."""
    if delegator != actor.username:
        raise Forbidden("只能撤销自己设定的委托")


# ----- 停权 (membership suspensions) --------------------------------------------------------------


def suspendable(group: str) -> bool:
    """Whether the administrator may suspend members of `group`: some installed procedure declares
    it suspendable (never the platform's `admin` group: the office would lock itself out)."""
    return group != ADMIN_GROUP and any(fnmatchcase(group, p) for d in procedure.registry() for p in d.suspendable)


def require_suspensions(actor: Actor) -> None:
    """Suspending, restoring and their record are the administrator's alone (by own membership)."""
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以停权或恢复权限")
