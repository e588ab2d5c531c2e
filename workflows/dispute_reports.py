"""The screening rounds' reports, department by department: the read model both rounds keep (one
row per department's report of a round, written with its step, rebuilt from the history), the
round's board (who reported, who filed a 零报告, who is still missing) and the compliance view
across rounds (按时/迟报/未报 per department and month).

A report is late when its step completed after its task's deadline (the round's `report_due_at`,
the `report` task's `camunda:dueDate`); a department is missing while its `report` task is open.
Rows come from the read model and the projected task rows only, never from the workflow state.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock
from service.readmodels import Event, ReadModel, Row
from service.store.models import Group, History, HumanTask, Instance, ReadRow

MONTHLY_KEY = "dispute_screening_monthly"  # = workflows.dispute_rounds.MONTHLY.key
DAILY_KEY = "dispute_screening_daily"  # = workflows.dispute_rounds.DAILY.key
ROUND_KEYS = (MONTHLY_KEY, DAILY_KEY)
REPORT_TASK = "report"
MODEL = "dispute_reports"

# A board row's status (API.md) and, on the compliance view, a cell's.
REPORTED, ZERO, MISSING = "reported", "zero_report", "missing"
ON_TIME, LATE, PENDING = "on_time", "late", "pending"
CELL_NAMES = {ON_TIME: "按时", ZERO: "零报告", LATE: "迟报", MISSING: "未报", PENDING: "待报"}


# ----- the read model ----------------------------------------------------------------------------------


def project(event: Event) -> list[Row]:
    """A department's completed `report`: its row (reported or 零报告, when, late or not, how many
    disputes, by whom), keyed `<instance id>:<group>` and tagged with the group."""
    if event.action != "complete" or event.task != REPORT_TASK or not event.groups:
        return []
    group = event.groups[0]
    disputes = event.data.get("disputes")
    count = len(disputes) if isinstance(disputes, list) else 0
    zero = event.data.get("zero_report") is True and count == 0
    due = event.task_due_at
    return [Row(f"{event.instance_id}:{group}", {
        "group": group,
        "status": ZERO if zero else REPORTED,
        "reported_at": clock.iso(event.at),
        "late": bool(due is not None and event.at > due),
        "disputes": count,
        "by": event.user,
        "process": event.process,
        "period": event.case.get("period"),
        "due_at": clock.iso(due),
    }, tag=group, sort_at=event.at)]


READ_MODEL = ReadModel(MODEL, "排查报告（各部门）", project, uses_case=False)  # reads the step, not the case


# ----- the round's board ---------------------------------------------------------------------------------


def group_names(session: Session) -> dict[str, str]:
    return {g.key: g.name for g in session.scalars(select(Group))}


def _groups_of(task: HumanTask) -> list[str]:
    return [g for g in (task.candidate_groups or "").split(",") if g]


def _when(value: Any) -> datetime | None:
    return clock.parse_datetime(value) if value else None


def _stored(session: Session, instance_ids: Iterable[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """instance id → group → its report row."""
    ids = sorted(set(instance_ids))
    found: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    if not ids:
        return found
    for row in session.scalars(select(ReadRow).where(ReadRow.model == MODEL, ReadRow.instance_id.in_(ids))):
        data = json.loads(row.data)
        found[row.instance_id][data.get("group") or row.tag or ""] = data
    return found


def _open_reports(session: Session, instance_ids: Iterable[int]) -> dict[int, dict[str, datetime | None]]:
    """instance id → group still to report → its deadline."""
    ids = sorted(set(instance_ids))
    found: dict[int, dict[str, datetime | None]] = defaultdict(dict)
    if not ids:
        return found
    for task in session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids), HumanTask.state == "open",
                                                        HumanTask.bpmn_id == REPORT_TASK)):
        for group in _groups_of(task)[:1]:
            found[task.instance_id][group] = _when(task.due_at)
    return found


def board(session: Session, inst: Instance, now: datetime | None = None) -> list[dict[str, Any]]:
    """`GET /api/v1/instances/{id}/reports`: every reporting department of the round, by group key —
    `reported` (disputes found) or `zero_report` with its time and whether it was late, or `missing`
    while its report is open (`late` once the deadline passed). `due_at` and `by` are extras."""
    now = now or clock.now()
    names = group_names(session)
    stored = _stored(session, [inst.id]).get(inst.id, {})
    waiting = _open_reports(session, [inst.id]).get(inst.id, {})
    out = []
    for group in sorted(set(stored) | set(waiting)):
        row = stored.get(group)
        if row is not None and group not in waiting:
            out.append({"group": group, "group_name": names.get(group, group), "status": row["status"],
                        "reported_at": row["reported_at"], "late": bool(row["late"]),
                        "disputes": int(row["disputes"]), "due_at": row.get("due_at"), "by": row.get("by")})
            continue
        due = waiting.get(group)
        out.append({"group": group, "group_name": names.get(group, group), "status": MISSING,
                    "reported_at": None, "late": bool(due is not None and now > due), "disputes": 0,
                    "due_at": clock.iso(due), "by": None})
    return out


def round_due(rows: list[dict[str, Any]]) -> datetime | None:
    """The round's report deadline, as its rows know it (every report task has the same one)."""
    found = [_when(r.get("due_at")) for r in rows if r.get("due_at")]
    return max((d for d in found if d is not None), default=None)


# ----- compliance across rounds -----------------------------------------------------------------------------


def _cell(row: dict[str, Any] | None, due: datetime | None, now: datetime) -> dict[str, Any]:
    if row is None:
        status = MISSING if due is not None and now > due else PENDING
        return {"status": status, "name": CELL_NAMES[status], "zero_report": False, "disputes": 0,
                "reported_at": None, "due_at": clock.iso(due)}
    zero = row["status"] == ZERO
    status = LATE if row["late"] else (ZERO if zero else ON_TIME)
    return {"status": status, "name": CELL_NAMES[status], "zero_report": zero, "disputes": int(row["disputes"]),
            "reported_at": row["reported_at"], "due_at": row.get("due_at")}


def _counts() -> dict[str, int]:
    return {"rounds": 0, ON_TIME: 0, LATE: 0, MISSING: 0, PENDING: 0, ZERO: 0}


def _count(counts: dict[str, int], cell: dict[str, Any]) -> None:
    """按时 counts every report filed by the deadline (with disputes or 零报告); 零报告 counts the
    zero reports, on time or late; 未报 the reports still open past the deadline."""
    counts["rounds"] += 1
    status = cell["status"]
    counts[ON_TIME if status == ZERO else status] += 1
    counts[ZERO] += int(cell["zero_report"])


def _rounds_of(session: Session, year: int) -> list[tuple[Instance, str]]:
    """The rounds (not drills) whose period falls in the year, with their period, oldest first."""
    starts = (select(Instance, History.data_after).join(History, History.instance_id == Instance.id)
              .where(Instance.process_key.in_(ROUND_KEYS), Instance.drill.is_not(True), History.action == "start")
              .order_by(Instance.id))
    found = []
    for inst, raw in session.execute(starts):
        try:
            period = (json.loads(raw) if raw else {}).get("period")
        except ValueError:
            period = None
        if isinstance(period, str) and period.startswith(f"{year}-"):
            found.append((inst, period))
    return found


def compliance(session: Session, year: int, now: datetime | None = None) -> dict[str, Any]:
    """`GET /api/v1/reports/dispute-compliance?year=YYYY`: per department, each month's monthly round
    as a cell (on_time/zero_report/late/missing/pending) with its counts, and the daily rounds of
    the year counted the same way."""
    now = now or clock.now()
    rounds = _rounds_of(session, year)
    ids = [inst.id for inst, _p in rounds]
    stored, waiting = _stored(session, ids), _open_reports(session, ids)
    names = group_names(session)
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    cells: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    monthly: dict[str, dict[str, int]] = defaultdict(_counts)
    daily: dict[str, dict[str, int]] = defaultdict(_counts)
    daily_rounds = 0
    for inst, period in rounds:
        rows, due_of = stored.get(inst.id, {}), waiting.get(inst.id, {})
        daily_rounds += int(inst.process_key == DAILY_KEY)
        for group in sorted(set(rows) | set(due_of)):
            cell = _cell(rows.get(group) if group not in due_of else None, due_of.get(group), now)
            if inst.process_key == MONTHLY_KEY:
                cells[group][period[:7]] = {**cell, "instance_id": inst.id, "business_key": inst.business_key}
                _count(monthly[group], cell)
            else:
                _count(daily[group], cell)
    departments = [{"group": g, "group_name": names.get(g, g), "months": cells.get(g, {}),
                    "monthly": monthly.get(g, _counts()), "daily": daily.get(g, _counts())}
                   for g in sorted(set(cells) | set(monthly) | set(daily))]
    return {"year": year, "months": months, "monthly_rounds": len(rounds) - daily_rounds,
            "daily_rounds": daily_rounds, "departments": departments}
