"""审计日志的查询: the filters of the administrator's page, its API and its Excel export (kind,
user, source address, result, period, text in the object or the details) checked once with Chinese
field errors, and the rows newest first with paging. Reads only: the log is never changed here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from service import audit, clock, ledger_excel
from service.errors import Invalid
from service.ledgers import Column, Ledger
from service.store.audit_models import AuditRow

PAGE_SIZE = 50
MAX_LIMIT = 500
EXPORT_LIMIT = 50_000  # rows in one Excel file; a longer period is refused with a hint to narrow it
_TEXT_MAX = 100


@dataclass(frozen=True)
class Filters:
    """What an administrator asks the log for; empty fields filter nothing."""

    kind: str = ""
    user: str = ""
    address: str = ""
    result: str = ""
    since: str = ""  # YYYY-MM-DD (from the start of the day) or an ISO date-time
    until: str = ""  # YYYY-MM-DD (to the end of the day) or an ISO date-time
    q: str = ""  # text in the object (target) or the details

    def args(self) -> dict[str, str]:
        """The non-empty fields, for links that keep the filters (paging, export)."""
        return {k: v for k, v in asdict(self).items() if v}

    def described(self) -> str:
        """The filters in Chinese, for the export's header (全部 when none)."""
        parts = []
        if self.kind:
            parts.append(f"类别：{audit.KIND_LABELS.get(self.kind, self.kind)}")
        if self.user:
            parts.append(f"用户：{self.user}")
        if self.address:
            parts.append(f"来源地址：{self.address}")
        if self.result:
            parts.append(f"结果：{audit.RESULT_LABELS.get(self.result, self.result)}")
        if self.q:
            parts.append(f"包含文字：{self.q}")
        return "；".join(parts) or "全部"

    def period(self) -> str:
        """The period in Chinese (不限 on an open side)."""
        if not self.since and not self.until:
            return "不限"
        return f"{self.since or '不限'} 至 {self.until or '不限'}"


def _moment(raw: str, field: str, end: bool) -> datetime:
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=clock.BEIJING)
            return start + timedelta(days=1) if end else start
        return clock.parse_datetime(text)
    except ValueError as exc:
        label = "起始日期" if field == "since" else "截止日期"
        raise Invalid(f"{label}格式不正确", [{"field": field, "message": f"{label}应为日期，如 2026-12-01"}]) from exc


def parse(args: Mapping[str, Any]) -> Filters:
    """The filters from a query string; Invalid (422) with one Chinese message per bad field."""
    def value(name: str) -> str:
        raw = args.get(name)
        return raw.strip() if isinstance(raw, str) else ""

    found = Filters(kind=value("kind"), user=value("user"), address=value("address"), result=value("result"),
                    since=value("since"), until=value("until"), q=value("q"))
    errors: list[dict[str, str]] = []
    if found.kind and found.kind not in audit.KIND_LABELS:
        errors.append({"field": "kind", "message": f"没有“{found.kind}”这一类审计事件"})
    if found.result and found.result not in audit.RESULT_LABELS:
        errors.append({"field": "result", "message": "结果只能是 success（成功）、failure（失败）或 denied（拒绝）"})
    if len(found.q) > _TEXT_MAX or len(found.user) > 64 or len(found.address) > 64:
        errors.append({"field": "q", "message": f"查询文字过长（最多 {_TEXT_MAX} 个字符）"})
    bounds = {}
    for name in ("since", "until"):
        raw = getattr(found, name)
        if raw:
            try:
                bounds[name] = _moment(raw, name, end=name == "until")
            except Invalid as exc:
                errors.extend(exc.details)
    if len(bounds) == 2 and bounds["since"] >= bounds["until"]:
        errors.append({"field": "until", "message": "截止日期不能早于起始日期"})
    if errors:
        raise Invalid("查询条件不正确", errors)
    return found


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(query: Select[Any], filters: Filters) -> Select[Any]:
    if filters.kind:
        query = query.where(AuditRow.kind == filters.kind)
    if filters.user:
        query = query.where(AuditRow.username == filters.user)
    if filters.address:
        query = query.where(AuditRow.address == filters.address)
    if filters.result:
        query = query.where(AuditRow.result == filters.result)
    if filters.since:
        query = query.where(AuditRow.at >= _moment(filters.since, "since", end=False))
    if filters.until:
        end = _moment(filters.until, "until", end=True)
        query = query.where(AuditRow.at < end) if len(filters.until) == 10 else query.where(AuditRow.at <= end)
    if filters.q:
        pattern = _like(filters.q)
        query = query.where(or_(AuditRow.target.ilike(pattern, escape="\\"),
                                AuditRow.detail.ilike(pattern, escape="\\")))
    return query


def view(row: AuditRow) -> dict[str, Any]:
    """A row as the page, the API and the export show it."""
    return {
        "id": row.id, "at": clock.iso(row.at), "username": row.username, "address": row.address,
        "kind": row.kind, "kind_label": audit.KIND_LABELS.get(row.kind, row.kind), "target": row.target,
        "detail": row.detail, "result": row.result, "result_label": audit.RESULT_LABELS.get(row.result, row.result),
        "seq": row.seq, "row_hash": row.row_hash,
    }


def search(session: Session, filters: Filters, limit: int = PAGE_SIZE, offset: int = 0) -> dict[str, Any]:
    """{total, limit, offset, rows}: the matching rows newest first (ties: the later row first)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, int(offset))
    total = session.scalar(_where(select(func.count()).select_from(AuditRow), filters)) or 0
    rows = session.scalars(_where(select(AuditRow), filters).order_by(AuditRow.at.desc(), AuditRow.id.desc())
                           .limit(limit).offset(offset))
    return {"total": int(total), "limit": limit, "offset": offset, "rows": [view(r) for r in rows]}


def everything(session: Session, filters: Filters) -> list[dict[str, Any]]:
    """Every matching row, oldest first (the export); Invalid when more than EXPORT_LIMIT."""
    total = session.scalar(_where(select(func.count()).select_from(AuditRow), filters)) or 0
    if total > EXPORT_LIMIT:
        raise Invalid(f"符合条件的审计记录有 {total} 条，超过单次导出上限 {EXPORT_LIMIT} 条，请缩短期间或增加条件后再导出",
                      [{"field": "since", "message": "请缩短期间"}])
    rows = session.scalars(_where(select(AuditRow), filters).order_by(AuditRow.at, AuditRow.id))
    return [view(r) for r in rows]


# ----- the Excel file ---------------------------------------------------------------------------------

SHEET_NAME = "安全审计日志"


@dataclass(frozen=True)
class _Scope:
    """What the ledgers' writer prints after 统计期间：(the period, then the filters)."""

    label: str


def _ledger() -> Ledger:
    return Ledger(key="audit", name=SHEET_NAME, readers=frozenset(), build=lambda *_a: [], periods=("year",),
                  columns=(Column("id", "记录号", "int", 9), Column("at", "时间", "datetime", 18),
                           Column("username", "用户", width=14), Column("address", "来源地址", width=16),
                           Column("kind_label", "类别", width=12), Column("target", "对象", width=24),
                           Column("detail", "详情", width=44), Column("result_label", "结果", width=8)))


def workbook(rows: list[dict[str, Any]], filters: Filters, made_at: datetime) -> bytes:
    """The rows as an .xlsx file: the office, 安全审计日志, the period and the filters in the header."""
    scope = _Scope(f"{filters.period()}；查询条件：{filters.described()}（共 {len(rows)} 条）")
    return ledger_excel.to_xlsx(_ledger(), scope, rows, made_at=made_at)  # type: ignore[arg-type]


def content_disposition(made_at: datetime) -> str:
    """RFC 6266 / 5987, as the ledgers' files: an ASCII fallback and the Chinese name."""
    stamp = made_at.astimezone(clock.BEIJING).strftime("%Y%m%d-%H%M")
    name = f"{SHEET_NAME}（{stamp}）.xlsx"
    return f"attachment; filename=\"audit-{stamp}.xlsx\"; filename*=UTF-8''{quote(name, safe='')}"
