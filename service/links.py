"""Linked starts and the relations between cases (instance_links).

A diagram's script calls `start_linked(process, data, relation)`: like `notify`, it only queues;
the runtime starts the other case in the step's own transaction (both commit or neither does)
and records the relation, shown on both cases. `procedure_exists(key)` lets a rule apply only
once the procedure it starts is installed (e.g. 集体访 → 应急处置)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service import notices, procedure
from service.store.models import Instance, InstanceLink

# How deep linked starts may chain within one step (a start that starts a case that starts…).
MAX_DEPTH = 3


def start_linked(process: str, data: dict[str, Any] | None = None, relation: str = "link",
                 id_key: str | None = None) -> None:
    """Script helper: start a case of `process` with `data`, linked to this one by `relation`;
    `id_key` names the key of the new case's data that receives this case's id."""
    outbox = notices.current_outbox("start_linked")
    if not isinstance(process, str) or not process:
        raise ValueError("start_linked() 需要流程标识")
    if data is not None and not isinstance(data, dict):
        raise ValueError("start_linked() 的数据必须是字典")
    if not isinstance(relation, str) or not relation.isidentifier():
        raise ValueError("start_linked() 的关系名不合法")
    if id_key is not None and (not isinstance(id_key, str) or not id_key.isidentifier() or id_key.startswith("_")):
        raise ValueError("start_linked() 的 id_key 不合法")
    outbox.starts.append({"process": process, "data": dict(data or {}), "relation": relation, "id_key": id_key})


def procedure_exists(key: str) -> bool:
    """Script helper: whether the procedure `key` is installed on this system."""
    return procedure.get(key) is not None


def links_of(session: Session, instance_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each case's links as API.md shows them: relation, the other case's process, id, key."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return found
    rows = list(session.scalars(select(InstanceLink).where(
        or_(InstanceLink.from_id.in_(instance_ids), InstanceLink.to_id.in_(instance_ids))).order_by(InstanceLink.id)))
    other_ids = {r.to_id for r in rows} | {r.from_id for r in rows}
    others = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(sorted(other_ids))))}
    for row in rows:
        for mine, theirs in ((row.from_id, row.to_id), (row.to_id, row.from_id)):
            if mine in found and theirs in others:
                other = others[theirs]
                found[mine].append({"relation": row.relation, "process": other.process_key, "id": other.id,
                                    "business_key": other.business_key})
    return found
