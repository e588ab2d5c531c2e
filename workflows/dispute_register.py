"""纠纷登记簿 (seed 003: 凡受理、调解的各类纠纷，均应登《纠纷登记簿》): one row per dispute case
registered in the period (its 登记 time), with its type, risk, the unit handling it, where it
stands, when it closed and the parties' satisfaction at the follow-up visit (督查回访) — read from
the stored records (the case rows, the append-only history and the open task rows), never from
the workflow state. The parties are masked for everyone (张*、李*): a ledger is a list.

Drills (演练) are left out. workflows/dispute_case.py declares this ledger
(`ledgers=(dispute_register.LEDGER,)`), so what both need is restated here, not imported.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock
from service.ledgers import Column, Ledger, Period
from service.ledgers import stored_data as _data  # one reading of stored rows for every ledger
from service.store.models import History, HumanTask, Instance
from workflows.personal_masks import mask_names

PROCESS_KEY = "dispute_case"  # = workflows.dispute_case.PROCEDURE.key
# 综治办 and the leaders (the contract's reports readers).
READERS = frozenset({"zzb", "leadership", "secretary_general", "office_leader"})
ASSIGN_TASK = "assign"
FOLLOW_UP_TASK = "follow_up"
STATUS_NAMES = {"completed": "已办结", "terminated": "已终止", "error": "异常"}


def mask_parties(value: Any) -> Any:
    """The parties as petitioners' names are shown to those who may not see them (张三、李四 → 张*、李*)."""
    return mask_names(value) if isinstance(value, str) else value


def build(session: Session, period: Period, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """The register's rows for the period, oldest registration first."""
    cases = list(session.scalars(select(Instance).where(
        Instance.process_key == PROCESS_KEY, Instance.drill.is_not(True),
        Instance.started_at >= period.start, Instance.started_at < period.end).order_by(Instance.started_at,
                                                                                         Instance.id)))
    if not cases:
        return []
    ids = [c.id for c in cases]
    start: dict[int, dict[str, Any]] = {}
    assigned: dict[int, str] = {}
    satisfaction: dict[int, str] = {}
    for instance_id, action, task, raw in session.execute(
            select(History.instance_id, History.action, History.task_bpmn_id, History.data_after)
            .where(History.instance_id.in_(ids), History.action.in_(("start", "complete"))).order_by(History.id)):
        data = _data(raw)
        if action == "start":
            start[instance_id] = data
        elif task == ASSIGN_TASK and isinstance(data.get("handling_group"), str):
            assigned[instance_id] = data["handling_group"]
        elif task == FOLLOW_UP_TASK and isinstance(data.get("satisfaction"), str):
            satisfaction[instance_id] = data["satisfaction"]
    steps: dict[int, list[str]] = defaultdict(list)
    for instance_id, name in session.execute(select(HumanTask.instance_id, HumanTask.name).where(
            HumanTask.instance_id.in_(ids), HumanTask.state == "open").order_by(HumanTask.created_at)):
        steps[instance_id].append(name)
    rows = []
    for inst in cases:
        data = start.get(inst.id, {})
        unit = inst.handling_group or assigned.get(inst.id)
        reporter = data.get("reported_by") if isinstance(data.get("reported_by"), str) else None
        if inst.status == "running":
            status_name = "办理中：" + "、".join(dict.fromkeys(steps[inst.id])) if steps[inst.id] else "办理中"
        else:
            status_name = STATUS_NAMES.get(inst.status, inst.status)
        rows.append({
            "business_key": inst.business_key,
            "registered_at": clock.parse_datetime(inst.started_at),
            "parties": mask_parties(data.get("parties")),
            "type": data.get("type"),
            "place": data.get("place"),
            "risk": data.get("risk"),
            "reported_by_name": group_names.get(reporter, reporter) if reporter else "综治办登记",
            "handling_group_name": group_names.get(unit, unit) if unit else "未指派",
            "status_name": status_name,
            "closed_at": clock.parse_datetime(inst.completed_at) if inst.completed_at else None,
            "satisfaction": satisfaction.get(inst.id),
            "handling_group": unit,
            "status": inst.status,
        })
    return rows


LEDGER = Ledger(
    key="disputes",
    name="纠纷登记簿",
    readers=READERS,
    columns=(
        Column("business_key", "编号", "text", 14),
        Column("registered_at", "登记时间", "datetime", 17),
        Column("parties", "当事人", "text", 16),
        Column("type", "纠纷类型", "text", 12),
        Column("place", "发生地点", "text", 16),
        Column("risk", "风险等级", "text", 9),
        Column("reported_by_name", "排查上报单位", "text", 18),
        Column("handling_group_name", "调处单位", "text", 18),
        Column("status_name", "办理状态", "text", 18),
        Column("closed_at", "办结时间", "datetime", 17),
        Column("satisfaction", "回访满意度", "text", 11),
        Column("handling_group", "调处单位代码", "text", 16),
        Column("status", "状态代码", "text", 10),
    ),
    build=build,
    periods=("month", "quarter", "year"),
    description="依据纠纷登记制度：本期登记受理的矛盾纠纷逐件登记（按登记时间），含调处单位、办理状态、"
                "办结时间及督查回访满意度。当事人姓名按个人信息保护要求脱敏显示。",
)
