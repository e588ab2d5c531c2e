"""The emergencies of a year as the statistics count them (ISSUE 12 item 8, API.md
`GET /api/v1/reports/emergencies`) and the 预案演练记录 (应急预案 四(一), item 6) — read from the
stored records only, never from the workflow state:

- the case rows (`instances`: `drill`, `started_at` — the year an emergency counts for —, `status`);
- the append-only history: the start row's data (`type`, `place`, `people_count`, `reported_at`,
  `report_late`, `drill`: the keys the start derives are kept there), the `verify` completion (its
  time), `decide_level`'s `level` and `declare_end`'s `ended_at`;
- the open task rows (where a running emergency stands).

Drills (演练) run the same steps but are left out of every figure; the summary says how many.
workflows/emergency.py declares the ledger through workflows/emergency_stats.py, so what both
need (the process key, the types) is restated here, not imported.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock
from service.ledgers import Column, Ledger, Period
from service.ledgers import stored_data as _data  # one reading of stored rows for every ledger
from service.ledgers import stored_moment as _when
from service.store.models import History, HumanTask, Instance

PROCESS_KEY = "emergency_response"  # = workflows.emergency.PROCEDURE.key
# 综治办 (the emergency office), the leading group and the leaders (API.md "Reports": emergencies).
READERS = frozenset({"zzb", "emergency_group", "leadership", "secretary_general", "office_leader"})
# 预案演练记录: the emergency office keeps it (the administrator always may read it).
DRILL_READERS = frozenset({"zzb"})
# API.md's `type` enum, in its order (by_type lists each, zeros included).
TYPES = ("群体性事件", "治安刑事案件", "食品卫生安全", "涉外涉密安全", "网络信息安全", "水电设施安全",
         "劳动安全", "职工纠纷", "自然灾害", "信访人极端行为", "其他")
LEVELS = ("general", "major")
LEVEL_NAMES = {"general": "一般", "major": "重大"}
VERIFY_TASK = "verify"
DECIDE_TASK = "decide_level"
END_TASK = "declare_end"
STATUS_NAMES = {"completed": "已办结", "terminated": "已终止", "error": "异常"}


def _status_name(inst: Instance, steps: list[str]) -> str:
    if inst.status == "running":
        return "处置中：" + "、".join(dict.fromkeys(steps)) if steps else "处置中"
    return STATUS_NAMES.get(inst.status, inst.status)


def emergencies(session: Session, period: Period, drills: bool) -> list[dict[str, Any]]:
    """One record per emergency started in the period — the drills (`drills=True`) or every
    other one — oldest first, with what the figures need (times as aware datetimes)."""
    query = select(Instance).where(Instance.process_key == PROCESS_KEY, Instance.started_at >= period.start,
                                   Instance.started_at < period.end)
    query = query.where(Instance.drill.is_(True)) if drills else query.where(Instance.drill.is_not(True))
    cases = list(session.scalars(query.order_by(Instance.started_at, Instance.id)))
    if not cases:
        return []
    ids = [c.id for c in cases]
    start: dict[int, dict[str, Any]] = {}
    verified: dict[int, datetime] = {}
    level: dict[int, str] = {}
    commander: dict[int, str] = {}
    ended: dict[int, datetime] = {}
    for instance_id, action, task, at, raw in session.execute(
            select(History.instance_id, History.action, History.task_bpmn_id, History.at, History.data_after)
            .where(History.instance_id.in_(ids), History.action.in_(("start", "complete"))).order_by(History.id)):
        data = _data(raw)
        if action == "start":
            start.setdefault(instance_id, data)
        elif task == VERIFY_TASK:
            verified.setdefault(instance_id, clock.parse_datetime(at))
        elif task == DECIDE_TASK and data.get("level") in LEVELS:
            level[instance_id] = data["level"]
            if isinstance(data.get("commander"), str):
                commander[instance_id] = data["commander"]
        elif task == END_TASK:
            # the end the leading group declared (its form's ended_at), else when it was declared
            ended[instance_id] = _when(data.get("ended_at")) or clock.parse_datetime(at)
    steps: dict[int, list[str]] = defaultdict(list)
    for instance_id, name in session.execute(select(HumanTask.instance_id, HumanTask.name).where(
            HumanTask.instance_id.in_(ids), HumanTask.state == "open").order_by(HumanTask.created_at)):
        steps[instance_id].append(name)
    found = []
    for inst in cases:
        data = start.get(inst.id, {})
        reported = _when(data.get("reported_at")) or clock.parse_datetime(inst.started_at)
        people = data.get("people_count")
        found.append({
            "instance_id": inst.id, "business_key": inst.business_key,
            "type": data.get("type") if isinstance(data.get("type"), str) else None,
            "place": data.get("place") if isinstance(data.get("place"), str) else None,
            "people_count": people if isinstance(people, int) and not isinstance(people, bool) else None,
            "reported_at": reported, "report_late": data.get("report_late") is True,
            "verified_at": verified.get(inst.id), "level": level.get(inst.id),
            "commander": commander.get(inst.id), "ended_at": ended.get(inst.id),
            "status": inst.status, "status_name": _status_name(inst, steps[inst.id]),
        })
    return found


def minutes_to_verify(record: dict[str, Any]) -> float | None:
    if record["verified_at"] is None:
        return None
    return (record["verified_at"] - record["reported_at"]) / timedelta(minutes=1)


def hours_to_end(record: dict[str, Any]) -> float | None:
    if record["ended_at"] is None:
        return None
    return (record["ended_at"] - record["reported_at"]) / timedelta(hours=1)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 1) if known else None


def summary(session: Session, year: int) -> dict[str, Any]:
    """The object of API.md: every figure over the year's emergencies, drills left out
    (`drills` says how many); an average is null while nothing was verified / ended."""
    period = Period.of_year(year)
    records = emergencies(session, period, drills=False)
    by_type = dict.fromkeys(TYPES, 0)
    for record in records:
        key = record["type"] or "其他"
        by_type[key] = by_type.get(key, 0) + 1
    by_level = dict.fromkeys(LEVELS, 0)
    for record in records:
        if record["level"] in by_level:
            by_level[record["level"]] += 1
    drill_count = session.scalar(select(func.count(Instance.id)).where(
        Instance.process_key == PROCESS_KEY, Instance.drill.is_(True), Instance.started_at >= period.start,
        Instance.started_at < period.end))
    return {
        "year": year,
        "total": len(records),
        "by_type": by_type,
        "by_level": by_level,
        "late_reports": sum(1 for r in records if r["report_late"]),
        "average_minutes_to_verify": _mean([minutes_to_verify(r) for r in records]),
        "average_hours_to_end": _mean([hours_to_end(r) for r in records]),
        "drills": int(drill_count or 0),
    }


# ----- the ledger: one row per emergency of the year (drills excluded) -----------------------------------


def _row(record: dict[str, Any]) -> dict[str, Any]:
    verify = minutes_to_verify(record)
    end = hours_to_end(record)
    return {
        "business_key": record["business_key"],
        "type": record["type"],
        "level_name": LEVEL_NAMES.get(record["level"] or "", "未确定"),
        "reported_at": record["reported_at"],
        "late": "迟报" if record["report_late"] else "否",
        "verify_minutes": round(verify, 1) if verify is not None else None,
        "ended_at": record["ended_at"],
        "end_hours": round(end, 1) if end is not None else None,
        "status_name": record["status_name"],
        "place": record["place"],
        "people_count": record["people_count"],
        "level": record["level"],
        "status": record["status"],
    }


def build(session: Session, period: Period, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """The ledger's rows: every emergency started in the period but the drills, oldest first."""
    return [_row(r) for r in emergencies(session, period, drills=False)]


LEDGER = Ledger(
    key="emergencies",
    name="突发事件统计台账",
    readers=READERS,
    columns=(
        Column("business_key", "编号", "text", 14),
        Column("type", "类型", "text", 14),
        Column("level_name", "级别", "text", 8),
        Column("reported_at", "报告时间", "datetime", 17),
        Column("late", "迟报", "text", 6),
        Column("verify_minutes", "核实用时（分钟）", "float", 10),
        Column("ended_at", "结束时间", "datetime", 17),
        Column("end_hours", "处置用时（小时）", "float", 10),
        Column("status_name", "状态", "text", 18),
        Column("place", "发生地点", "text", 18),
        Column("people_count", "涉及人数", "int", 8),
    ),
    build=build,
    periods=("year",),
    description="依据处置群体性突发事件应急预案：本年度报告的突发事件逐件登记（按报告时间），演练不计入。"
                "核实用时为报告至综治办核实完成的分钟数，处置用时为报告至宣布应急结束的小时数；"
                "迟报为发现后超过报告时限才报告的。",
)


# ----- the 预案演练记录 ----------------------------------------------------------------------------------


def drill_rows(session: Session, period: Period) -> list[dict[str, Any]]:
    """The drills of the period, oldest first: what 应急预案 四(一) asks the office to record."""
    return [{"business_key": r["business_key"], "instance_id": r["instance_id"], "type": r["type"],
             "reported_at": r["reported_at"], "place": r["place"], "people_count": r["people_count"],
             "level": r["level"], "level_name": LEVEL_NAMES.get(r["level"] or "", "未确定"),
             "commander": r["commander"], "ended_at": r["ended_at"], "status": r["status"],
             "status_name": r["status_name"]}
            for r in emergencies(session, period, drills=True)]


DRILLS = Ledger(  # not declared by the procedure (it is no statistic): the record's columns and readers
    key="emergency-drills",
    name="应急预案演练记录",
    readers=DRILL_READERS,
    columns=(
        Column("business_key", "编号", "text", 14),
        Column("type", "演练类型", "text", 14),
        Column("reported_at", "演练时间", "datetime", 17),
        Column("place", "地点", "text", 18),
        Column("people_count", "涉及人数", "int", 8),
        Column("level_name", "响应级别", "text", 8),
        Column("commander", "总指挥", "text", 10),
        Column("ended_at", "结束时间", "datetime", 17),
        Column("status_name", "状态", "text", 18),
    ),
    build=lambda session, period, _names: drill_rows(session, period),
    periods=("year",),
    description="依据处置群体性突发事件应急预案四（一）：本年度组织的应急预案演练逐次登记；演练不计入任何统计。",
)
