"""信访件办理情况统计表 (信访工作办法 第十条): each handling unit's quarterly report of petitions
received and handled, and the office's annual report, counted from the stored records (the
instance rows, the append-only history, the human-task rows and the notices), never from the
workflow state.

One row per handling unit — the unit that handles the case now (`instances.handling_group`,
set at 交办 and moved by 改派); cases not handed over (still being registered and routed, or
不予受理) make the row 未交办 (`unit` null). Within the period [start, end):

- `received`: the case's `received_at` (登记 data) falls in the period;
- `handled`: 审核办理结果 completed with `accept` in the period (the moment of acceptance is
  the moment the case counts as handled);
- `on_time` / `overdue`: of those, accepted by / after the handling deadline that applied to
  that review (its task's `due_at`: 60 days, plus approved extensions); `overdue` also counts the
  running cases not yet accepted whose current deadline passed before the period's end (and
  before now) — a backlog figure, so a year's `overdue` is not the sum of its quarters';
- `extended`: cases with an extension approved (延期审批 `approve`) in the period;
- `urged`: cases with at least one 催办 (`urge` of the ladder, `manual_urge` of a supervisor) in
  the period, sent while the unit held the case (from the opening of its first 办理 task); for
  未交办 cases, any 催办 (those of the routing stage);
- `average_days`: mean days from `received_at` to the acceptance, over the cases handled in the
  period, one decimal (half up); null when none were handled.

Drills (演练) are left out of every figure.

workflows/petition.py imports this module for its declaration, so what both need is restated
here, not imported from there (a test checks that the two agree).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock
from service.ledgers import Column, Ledger, Period, days_between
from service.ledgers import stored_data as _data  # one reading of stored rows for every ledger
from service.ledgers import stored_moment as _when
from service.store.models import History, HumanTask, Instance, Notice

PROCESS_KEY = "petition"  # = workflows.petition.PROCESS_KEY
# 信访科 and the leaders (= workflows.petition.CHAIN_GROUPS).
READERS = frozenset({"xfk", "office_leader", "secretary_general", "leadership"})

HANDLE_TASK = "handle"
REVIEW_TASK = "review_result"
EXTENSION_TASK = "extension_approve"
URGE_KINDS = ("urge", "manual_urge")
UNASSIGNED = "未交办"

# 登记 accepts a received_at up to the end of tomorrow (petition.validate_start), so a case whose
# receipt falls in a period was started after the period began minus two days: the received
# count reads only those start rows, not every case ever registered.
RECEIPT_LEAD = timedelta(days=2)


def _ours() -> tuple[Any, ...]:
    """This procedure's cases, drills (演练) left out of every figure."""
    return (Instance.process_key == PROCESS_KEY, Instance.drill.is_not(True))


@dataclass
class _Unit:
    received: set[int] = field(default_factory=set)
    handled: set[int] = field(default_factory=set)
    on_time: set[int] = field(default_factory=set)
    overdue: set[int] = field(default_factory=set)
    extended: set[int] = field(default_factory=set)
    urged: set[int] = field(default_factory=set)
    days: dict[int, float] = field(default_factory=dict)

    def busy(self) -> bool:
        return bool(self.received or self.handled or self.overdue or self.extended or self.urged)


def _average(total: float, count: int) -> float | None:
    if not count:
        return None
    return float(Decimal(str(total / count)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _completions(task: str, start: datetime | None = None, end: datetime | None = None) -> Any:
    """History rows of a completed step of this procedure (optionally within [start, end))."""
    query = (select(History.instance_id, History.at, History.data_after, History.task_id, Instance.handling_group)
             .join(Instance, Instance.id == History.instance_id)
             .where(*_ours(), History.action == "complete", History.task_bpmn_id == task))
    if start is not None and end is not None:
        query = query.where(History.at >= start, History.at < end)
    return query


def build(session: Session, period: Period, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """The report's rows, one per handling unit (未交办 last); see the module's docstring."""
    now = clock.now()
    cutoff = min(period.end, now)
    units: dict[str | None, _Unit] = defaultdict(_Unit)

    # 收件: the 登记 row's received_at.
    received = (select(History.instance_id, History.data_after, Instance.handling_group)
                .join(Instance, Instance.id == History.instance_id)
                .where(*_ours(), History.action == "start",
                       Instance.started_at >= period.start - RECEIPT_LEAD))
    for instance_id, data_after, unit in session.execute(received):
        if period.contains(_when(_data(data_after).get("received_at"))):
            units[unit].received.add(instance_id)

    # 办结: the accepted reviews of the period, their deadlines (the review task's due date).
    reviews = _completions(REVIEW_TASK, period.start, period.end).add_columns(HumanTask.due_at) \
        .outerjoin(HumanTask, HumanTask.id == History.task_id).order_by(History.id)
    accepted: dict[int, tuple[datetime, datetime | None, str | None]] = {}
    for instance_id, at, data_after, _task_id, unit, due in session.execute(reviews):
        if _data(data_after).get("decision") == "accept":
            accepted[instance_id] = (_when(at) or now, _when(due), unit)
    if accepted:
        reviewed_ids = _completions(REVIEW_TASK, period.start, period.end).with_only_columns(History.instance_id)
        starts = select(History.instance_id, History.data_after).where(
            History.action == "start", History.instance_id.in_(reviewed_ids.scalar_subquery()))
        receipts = {iid: _when(_data(raw).get("received_at")) for iid, raw in session.execute(starts)}
        for instance_id, (at, due, unit) in accepted.items():
            row = units[unit]
            row.handled.add(instance_id)
            (row.on_time if due is None or at <= due else row.overdue).add(instance_id)
            receipt = receipts.get(instance_id)
            if receipt is not None:
                row.days[instance_id] = days_between(receipt, at)

    # 超期未办结: running, current deadline passed before the period's end, not yet accepted.
    late = (*_ours(), Instance.status == "running",
            Instance.due_at.is_not(None), Instance.due_at < cutoff)
    done_ids = {iid for iid, _at, raw, _t, _u in session.execute(_completions(REVIEW_TASK).where(*late))
                if _data(raw).get("decision") == "accept"}
    for instance_id, unit in session.execute(select(Instance.id, Instance.handling_group).where(*late)):
        if instance_id not in done_ids:
            units[unit].overdue.add(instance_id)

    # 延期: extensions approved in the period.
    for instance_id, _at, raw, _t, unit in session.execute(_completions(EXTENSION_TASK, period.start, period.end)):
        if _data(raw).get("decision") == "approve":
            units[unit].extended.add(instance_id)

    # 催办: sent in the period while the unit held the case (its first 办理 task opened).
    handed = (select(HumanTask.instance_id, func.min(HumanTask.created_at).label("at"))
              .where(HumanTask.process_key == PROCESS_KEY, HumanTask.bpmn_id == HANDLE_TASK)
              .group_by(HumanTask.instance_id).subquery())
    urges = (select(Notice.instance_id, Notice.created_at, Instance.handling_group, handed.c.at)
             .join(Instance, Instance.id == Notice.instance_id)
             .outerjoin(handed, handed.c.instance_id == Notice.instance_id)
             .where(*_ours(), Notice.kind.in_(URGE_KINDS),
                    Notice.created_at >= period.start, Notice.created_at < period.end))
    for instance_id, created_at, unit, handed_at in session.execute(urges):
        sent, since = _when(created_at), _when(handed_at)
        if unit is None or (sent is not None and since is not None and sent >= since):
            units[unit].urged.add(instance_id)

    rows = []
    for unit in sorted((u for u, row in units.items() if row.busy()), key=lambda u: (u is None, u or "")):
        row = units[unit]
        rows.append({
            "unit_name": group_names.get(unit, unit) if unit else UNASSIGNED,
            "received": len(row.received),
            "handled": len(row.handled),
            "on_time": len(row.on_time),
            "overdue": len(row.overdue),
            "extended": len(row.extended),
            "urged": len(row.urged),
            "average_days": _average(sum(row.days.values()), len(row.days)),
            "unit": unit,
            "_days_total": sum(row.days.values()),  # for the 合计 row's average
            "_days_count": len(row.days),
        })
    return rows


def total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """合计: the sums (each case is in one row only), the average over every handled case."""
    sums = {key: sum(int(r[key]) for r in rows)
            for key in ("received", "handled", "on_time", "overdue", "extended", "urged")}
    days = sum(float(r.get("_days_total") or 0) for r in rows)
    count = sum(int(r.get("_days_count") or 0) for r in rows)
    return {"unit_name": "合计", **sums, "average_days": _average(days, count), "unit": None}


LEDGER = Ledger(
    key="petitions",
    name="信访件办理情况统计表",
    readers=READERS,
    columns=(
        Column("unit_name", "办理单位", "text", 26),
        Column("received", "收件数", "int", 9),
        Column("handled", "办结数", "int", 9),
        Column("on_time", "按期办结", "int", 10),
        Column("overdue", "超期", "int", 9),
        Column("extended", "延期", "int", 9),
        Column("urged", "被催办", "int", 9),
        Column("average_days", "平均办理天数", "float", 13),
        Column("unit", "单位代码", "text", 18),
    ),
    build=build,
    periods=("quarter", "year"),
    total=total,
    description="依据信访工作办法第十条：按办理单位统计本期收件（按收件日期）、办结（信访科审核通过）、"
                "按期办结与超期（含已过办理期限仍未办结的在办件）、延期（经批准）、被催办的件数，"
                "以及自收件至审核通过的平均天数。尚未交办及不予受理的信访件列入“未交办”。",
)
