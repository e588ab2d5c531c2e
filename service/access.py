"""Who may see what: instance visibility and the masking of petitioners' personal data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, or_
from sqlalchemy.sql import Select

from service.actors import Actor
from service.store.models import HumanTask, Instance
from workflows import module_for

# The petition's chain (PROCEDURES.md, Confidentiality): 信访科 and the leaders who sign.
CHAIN_GROUPS = frozenset({"xfk", "office_leader", "secretary_general", "leadership"})
# Who sees every case of a process (besides supervisors).
OWNER_GROUPS: dict[str, frozenset[str]] = {
    "petition": frozenset({"xfk"}),
    "dispute_case": frozenset({"zzb"}),
    "dispute_screening_monthly": frozenset({"zzb"}),
    "dispute_screening_daily": frozenset({"zzb"}),
}


def sees_all(actor: Actor, process_key: str | None = None) -> bool:
    if actor.is_supervisor:
        return True
    if process_key is None:
        return False
    return bool(actor.groups & OWNER_GROUPS.get(process_key, frozenset()))


def visible(query: Select[Any], actor: Actor) -> Select[Any]:
    """Restrict an Instance query to the cases this user takes part in."""
    if actor.is_supervisor:
        return query
    owned = [p for p, groups in OWNER_GROUPS.items() if actor.groups & groups]
    groups = sorted(actor.groups)
    # Correlated EXISTS on indexed columns: checked per listed row, never a scan of all tasks.
    # (candidate_groups holds "a" or "a,b": match a group as a whole item of that list)
    group_terms = [HumanTask.candidate_groups.in_(groups)]
    for g in groups:
        group_terms += [HumanTask.candidate_groups.startswith(f"{g},", autoescape=True),
                        HumanTask.candidate_groups.endswith(f",{g}", autoescape=True),
                        HumanTask.candidate_groups.contains(f",{g},", autoescape=True)]
    took_part = exists().where(
        HumanTask.instance_id == Instance.id,
        or_(*group_terms, HumanTask.completed_by == actor.username, HumanTask.assignee == actor.username),
    )
    conditions = [Instance.handling_group.in_(groups), Instance.started_by == actor.username, took_part]
    if owned:
        conditions.insert(0, Instance.process_key.in_(owned))
    return query.where(or_(*conditions))


def may_see_personal(actor: Actor, inst: Instance) -> bool:
    """Personal data: the chain, and the unit handling this very petition."""
    if actor.groups & CHAIN_GROUPS:
        return True
    return bool(inst.handling_group and inst.handling_group in actor.groups)


def present(data: dict[str, Any], actor: Actor, inst: Instance) -> dict[str, Any]:
    """Instance data as this user may see it."""
    module = module_for(inst.process_key)
    masker = getattr(module, "mask_personal", None)
    if masker is None or may_see_personal(actor, inst):
        return data
    return masker(data)
