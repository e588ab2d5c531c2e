"""A search's results as an Excel file, written by the ledgers' writer (service/ledger_excel.py):
every matching case up to EXPORT_LIMIT, in the search's order, with the searchable personal
fields shown as the policy shows them to this user (in clear where they may see the case's
personal data, masked with the procedure's own maskers elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, definitions, ledger_excel, policy, search, search_keys
from service.actors import Actor
from service.ledgers import Column, Ledger, group_names
from service.store.models import History, Instance

CHUNK = 500
SHEET_NAME = "案件查询结果"


@dataclass(frozen=True)
class Scope:
    """What the writer prints after 统计期间：(a ledger's period; here the registration dates)."""

    label: str


def _scope(criteria: search.Criteria, total: int, written: int) -> Scope:
    since, until = criteria.started_from, criteria.started_to
    days = f"登记日期 {since or '不限'} 至 {until or '不限'}" if since or until else "不限"
    more = f"（共 {total} 件，仅导出前 {written} 件）" if total > written else f"（共 {total} 件）"
    return Scope(days + more)


def ledger() -> Ledger:
    """The sheet's columns: the case list's, then each searchable personal field."""
    personal = [Column(key, label, width=20) for key, label in search.personal_keys().items()]
    return Ledger(key="search", name=SHEET_NAME, readers=frozenset(), build=lambda *_a: [], periods=("year",),
                  columns=(Column("business_key", "编号", width=18), Column("title", "标题", width=36),
                           Column("process", "流程", width=14), Column("status", "状态", width=9),
                           Column("started_at", "登记时间", "datetime", 17), Column("due_at", "期限", "datetime", 17),
                           Column("handling", "办理单位", width=20), Column("listed", "挂牌督办", width=9),
                           *personal))


def _personal_values(session: Session, actor: Actor, cases: list[Instance]) -> dict[int, dict[str, Any]]:
    """Each case's searchable personal values from its history, masked unless the user may see them."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start:start + CHUNK]
        ids = [c.id for c in chunk if search_keys.searchable(c.process_key)]
        if not ids:
            continue
        clear = set(session.scalars(select(Instance.id).where(Instance.id.in_(ids), policy.personal_visible(actor))))
        rows: dict[int, list[tuple[str, str | None]]] = {i: [] for i in ids}
        for instance_id, action, raw in session.execute(
                select(History.instance_id, History.action, History.data_after)
                .where(History.instance_id.in_(ids), History.action.in_(search_keys.DATA_ACTIONS))
                .order_by(History.id)):
            rows[instance_id].append((action, raw))
        for case in chunk:
            if case.id not in rows:
                continue
            values = search_keys.latest_values(search_keys.searchable(case.process_key), rows[case.id])
            found[case.id] = values if case.id in clear else policy.mask(case.process_key, values)
    return found


def described(criteria: search.Criteria) -> str:
    """The criteria of an export for its audit row; personal values (an ID number searched) are
    named by their field only, never written."""
    labels = search.personal_keys()
    shown = [f"{name}={value}" for name, value in (
        ("流程", criteria.process), ("状态", criteria.status), ("编号", criteria.q or criteria.business_key),
        ("标题", criteria.subject), ("办理单位", criteria.handling_group), ("登记自", criteria.started_from),
        ("登记至", criteria.started_to), ("期限自", criteria.due_from), ("期限至", criteria.due_to),
        ("停滞天数", criteria.stalled_days)) if value]
    shown += [label for flag, label in ((criteria.overdue, "已超期"), (criteria.listed, "挂牌督办")) if flag]
    shown += [f"按{labels.get(key, key)}查询" for key, _value in criteria.personal]
    return "Excel：" + ("；".join(shown) if shown else "全部案件")


def workbook(session: Session, actor: Actor, criteria: search.Criteria, status_labels: dict[str, str],
             made_at: datetime | None = None) -> bytes:
    cases = search.find(session, actor, criteria, limit=search.EXPORT_LIMIT, cap=search.EXPORT_LIMIT)
    total = len(cases) if len(cases) < search.EXPORT_LIMIT else search.count(session, actor, criteria)
    groups = group_names(session)
    processes = {d.key: d.name for d in definitions.latest_all(session)}
    personal = _personal_values(session, actor, cases)
    # 演练 marked in the title: a drill is marked in every export (the columns stay as they are)
    rows = [{"business_key": c.business_key, "title": ("【演练】" if c.drill else "") + (c.title or ""),
             "process": processes.get(c.process_key, c.process_key),
             "status": status_labels.get(c.status, c.status), "started_at": c.started_at, "due_at": c.due_at,
             "handling": groups.get(c.handling_group or "", c.handling_group or ""),
             "listed": "是" if c.listed else "", **personal.get(c.id, {})} for c in cases]
    return ledger_excel.to_xlsx(ledger(), _scope(criteria, total, len(cases)), rows,  # type: ignore[arg-type]
                                made_at=made_at or clock.now())


def content_disposition(made_at: datetime) -> str:
    """RFC 6266 / 5987, as the ledgers' files: an ASCII fallback and the Chinese name."""
    stamp = made_at.astimezone(clock.BEIJING).strftime("%Y%m%d-%H%M")
    name = f"{SHEET_NAME}（{stamp}）.xlsx"
    return f"attachment; filename=\"search-{stamp}.xlsx\"; filename*=UTF-8''{quote(name, safe='')}"
