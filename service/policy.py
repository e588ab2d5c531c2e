"""Who may start, see, message and supervise: one policy, read from the procedures' contracts,
used by the pages and the JSON API alike (neither decides any of this on its own).

The platform knows one role of its own, `admin` (designers and user administrators): it may
start any procedure and supervise every case, but sees personal data only where a procedure
names it a reader."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, false, or_, select
from sqlalchemy.orm import object_session
from sqlalchemy.sql import Select

from service import procedure
from service.actors import ADMIN_GROUP, Actor
from service.errors import Forbidden
from service.procedure import Procedure
from service.store.models import HumanTask, Instance, InstanceGroup


def _known(process_key: str | None) -> Procedure | None:
    return procedure.get(process_key)


# ----- starting ----------------------------------------------------------------------------------


def may_start(actor: Actor, process_key: str) -> bool:
    """Closed by default: a procedure's declared starters (or, if it says so, anyone logged in);
    a diagram no procedure declares can be started by the administrator only."""
    if actor.is_admin:
        return True
    declared = _known(process_key)
    if declared is None:
        return False
    return declared.starters.anyone or bool(actor.groups & declared.starters.groups)


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
    return any(group.startswith(a) if a.endswith("_") else group == a for a in allowed)


def reassign_targets(process_key: str, bpmn_id: str | None, current: list[str] | str,
                     groups: list[dict[str, str]]) -> list[dict[str, str]]:
    """The groups (rows of queries.groups) the 改派 picker offers for this task."""
    return [g for g in groups if may_reassign_to(process_key, bpmn_id, current, g["key"])]


# ----- acting on tasks ---------------------------------------------------------------------------


def may_act(actor: Actor, candidate_groups: list[str] | str, assignee: str | None) -> bool:
    """A task is this user's if it is assigned to them, or offered to one of their groups and
    claimed by nobody (a claimed task belongs to its claimer alone)."""
    if assignee:
        return assignee == actor.username
    groups = candidate_groups.split(",") if isinstance(candidate_groups, str) else candidate_groups
    return bool(actor.groups.intersection(g for g in groups if g))


# ----- seeing cases ------------------------------------------------------------------------------


def sees_all(actor: Actor, process_key: str | None = None) -> bool:
    """Whether this user sees every case of the procedure: its owners and supervisors."""
    if actor.is_admin:
        return True
    declared = _known(process_key)
    return declared is not None and bool(actor.groups & (declared.owners | declared.supervisors))


def _seen_processes(actor: Actor) -> list[str]:
    return [p.key for p in procedure.registry() if actor.groups & (p.owners | p.supervisors)]


def offered_to(actor: Actor) -> list[ColumnElement[bool]]:
    """Terms (to OR) matching a HumanTask offered to one of the user's groups (candidate_groups
    holds "a" or "a,b": a group matches as a whole item of that list)."""
    groups = sorted(actor.groups)
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
    groups = sorted(actor.groups)
    # Correlated EXISTS on indexed columns: checked per listed row, never a scan of all tasks.
    took_part = exists().where(
        HumanTask.instance_id == Instance.id,
        or_(*offered_to(actor), HumanTask.completed_by == actor.username, HumanTask.assignee == actor.username),
    )
    handles = exists().where(InstanceGroup.instance_id == Instance.id, InstanceGroup.group_key.in_(groups))
    conditions = [Instance.handling_group.in_(groups), Instance.started_by == actor.username, took_part, handles]
    if owned:
        conditions.insert(0, Instance.process_key.in_(owned))
    return query.where(or_(*conditions))


def may_view_task(actor: Actor, candidate_groups: str, assignee: str | None, process_key: str) -> bool:
    """A task's page: its holder, its groups, and who sees every case of its procedure."""
    in_groups = bool(actor.groups.intersection(candidate_groups.split(",")))
    return assignee == actor.username or in_groups or sees_all(actor, process_key)


# ----- personal data -----------------------------------------------------------------------------


def may_see_personal(actor: Actor, inst: Instance) -> bool:
    """Personal data in clear: the procedure's readers, and the unit handling this very case."""
    declared = _known(inst.process_key)
    if declared is None or declared.personal is None:
        return True
    if actor.groups & declared.personal.readers:
        return True
    if not declared.personal.handling_unit:
        return False
    if inst.handling_group and inst.handling_group in actor.groups:
        return True
    session = object_session(inst)
    return session is not None and session.scalar(select(InstanceGroup.group_key).where(
        InstanceGroup.instance_id == inst.id, InstanceGroup.group_key.in_(sorted(actor.groups))).limit(1)) is not None


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
