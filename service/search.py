"""综合查询: the one case search behind the case list (/instances), the search page (/search),
`GET /api/v1/instances` and `GET /api/v1/search`.

Criteria: business key (exact or prefix; `q` contains, as the list always had), subject, handling
unit, status, procedure, 登记 and 期限 date ranges (whole Beijing days), overdue, stalled,
挂牌督办, drills, and the personal fields the procedures declare searchable (`search_keys`,
exact match on their keyed hash, see service/search_keys.py). Every result passes the policy's
visibility; a personal-field search keeps only the cases whose personal data the user sees in
clear (both conditions in the SQL, before the page is cut), and is refused (403) to a user who
sees personal data of no case of such a procedure. Sorting on whitelisted columns, ties by id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from service import clock, policy, procedure, search_keys
from service.actors import Actor
from service.errors import BadRequest, Forbidden
from service.store.models import HumanTask, Instance, InstanceGroup
from service.store.search_models import CaseSearchKey

MAX_LIMIT = 500
EXPORT_LIMIT = 5000  # rows an Excel export holds at most (the page says so)
STATUSES = ("running", "completed", "terminated", "error")
# The sortable columns (a whitelist: nothing else reaches ORDER BY) and their Chinese names.
SORTS: dict[str, Any] = {"business_key": Instance.business_key, "title": Instance.title,
                         "started_at": Instance.started_at, "due_at": Instance.due_at, "status": Instance.status}
SORT_LABELS = {"business_key": "编号", "title": "标题", "started_at": "登记时间", "due_at": "期限", "status": "状态"}
# The query-string parameters of a search other than the personal fields (a saved filter keeps
# only these: personal values are never stored).
TEXT_PARAMS = ("process", "status", "q", "business_key", "subject", "handling_group")
DAY_PARAMS = ("started_from", "started_to", "due_from", "due_to")
FLAG_PARAMS = ("overdue", "listed")
PARAMS = (*TEXT_PARAMS, *DAY_PARAMS, *FLAG_PARAMS, "stalled_days", "drill", "sort", "order")
MAX_TEXT = 100


@dataclass(frozen=True)
class Criteria:
    process: str | None = None
    status: str | None = None
    q: str | None = None  # business key contains (the case list's 编号 box)
    business_key: str | None = None  # exact or prefix
    subject: str | None = None  # title contains
    handling_group: str | None = None
    started_from: date | None = None
    started_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    overdue: bool = False
    listed: bool = False
    stalled_days: int | None = None
    drill: bool | None = None
    personal: tuple[tuple[str, str], ...] = ()  # (data key, value): exact match
    sort: str | None = None  # a key of SORTS; None: newest first
    order: str = "desc"


# ----- parsing ---------------------------------------------------------------------------------


def _day(raw: str, name: str, label: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"{label}（参数 {name}）必须是日期（YYYY-MM-DD）") from exc


DAY_LABELS = {"started_from": "登记日期自", "started_to": "登记日期至", "due_from": "期限自", "due_to": "期限至"}


def personal_keys() -> dict[str, str]:
    """Every searchable personal key of the installed procedures: data key → label."""
    found: dict[str, str] = {}
    for declared in procedure.registry():
        for key, label in declared.search_keys.items():
            found.setdefault(key, label)
    return found


def parse(args: Mapping[str, Any]) -> Criteria:
    """Criteria from a query string (request.args); a malformed value is a 400 in Chinese."""
    def text(name: str) -> str:
        value = str(args.get(name) or "").strip()
        if len(value) > MAX_TEXT:
            raise BadRequest(f"参数 {name} 过长（最多 {MAX_TEXT} 个字符）")
        return value

    values: dict[str, Any] = {name: text(name) or None for name in TEXT_PARAMS}
    if values["status"] and values["status"] not in STATUSES:
        raise BadRequest(f"参数 status 只能是 {'、'.join(STATUSES)}")
    for name in DAY_PARAMS:
        values[name] = _day(text(name), name, DAY_LABELS[name])
    for name in FLAG_PARAMS:
        values[name] = text(name) in ("1", "on", "true")
    stalled = text("stalled_days")
    if stalled:
        if not stalled.isdigit():
            raise BadRequest("参数 stalled_days 必须是非负整数")
        values["stalled_days"] = int(stalled)
    drill = text("drill")
    if drill not in ("", "0", "1", "true", "false"):
        raise BadRequest("参数 drill 必须是 0 或 1")
    values["drill"] = None if not drill else drill in ("1", "true")
    sort, order = text("sort") or None, text("order") or "desc"
    if sort is not None and sort not in SORTS:
        raise BadRequest(f"参数 sort 只能是 {'、'.join(SORTS)}")
    if order not in ("asc", "desc"):
        raise BadRequest("参数 order 只能是 asc 或 desc")
    personal = tuple((key, text(key)) for key in personal_keys() if text(key))
    return Criteria(**values, personal=personal, sort=sort, order=order)


def query_string(criteria: Criteria, keep_personal: bool = False) -> dict[str, str]:
    """The criteria back as query-string arguments (sort links, paging, saved filters)."""
    out: dict[str, str] = {}
    for name in PARAMS:
        value = getattr(criteria, name)
        if name in FLAG_PARAMS:
            if value:
                out[name] = "1"
        elif name == "drill":
            if value is not None:
                out[name] = "1" if value else "0"
        elif name == "order":
            if criteria.sort:
                out[name] = value
        elif value not in (None, ""):
            out[name] = value.isoformat() if isinstance(value, date) else str(value)
    if keep_personal:
        out.update(dict(criteria.personal))
    return out


# ----- the query -------------------------------------------------------------------------------


def stalled_since(before: datetime) -> ColumnElement[bool]:
    """Stalled: no person completed a step since `before` (last_step_at: timers and recomputed
    deadlines do not move it) while a person's task is open (a 复查 window is no stall)."""
    return and_(Instance.last_step_at < before,
                exists().where(HumanTask.instance_id == Instance.id, HumanTask.state == "open"))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.BEIJING)


def _between(query: Select[Any], column: Any, since: date | None, until: date | None) -> Select[Any]:
    """Within [since, until], whole days in Beijing time."""
    if since is not None:
        query = query.where(column >= _day_start(since))
    if until is not None:
        query = query.where(column < _day_start(until + timedelta(days=1)))
    return query


def offered_personal(session: Session, actor: Actor) -> dict[str, str]:
    """The personal fields this user may search by: those of the procedures whose personal data
    they see in clear for at least one case (their readers always; the handling units once a
    case is theirs). Key → label."""
    offered: dict[str, str] = {}
    for declared in procedure.registry():
        if not declared.search_keys or set(declared.search_keys) <= set(offered):
            continue
        if policy.sees_some_personal(session, actor, declared):
            for key, label in declared.search_keys.items():
                offered.setdefault(key, label)
    return offered


def _personal(query: Select[Any], session: Session, actor: Actor, criteria: Criteria) -> Select[Any]:
    if not criteria.personal:
        return query
    offered = offered_personal(session, actor)
    labels = personal_keys()
    for key, value in criteria.personal:
        if key not in offered:
            raise Forbidden(f"您无权按“{labels.get(key, key)}”查询：只有可以查看当事人个人信息的人员可用此条件")
        processes = [p.key for p in procedure.registry() if key in p.search_keys]
        hashes = [h for h in (search_keys.digest(p, key, value) for p in processes) if h]
        query = query.where(Instance.process_key.in_(processes), Instance.id.in_(
            select(CaseSearchKey.instance_id).where(CaseSearchKey.key == key, CaseSearchKey.value_hash.in_(hashes))))
    return query.where(policy.personal_visible(actor))


def select_cases(session: Session, actor: Actor, criteria: Criteria) -> Select[Any]:
    """The matching cases this user may see (an unordered Instance query)."""
    c, now = criteria, clock.now()
    query = select(Instance)
    if c.drill is not None:
        query = query.where(Instance.drill.is_(c.drill))
    if c.process:
        query = query.where(Instance.process_key == c.process)
    if c.status:
        query = query.where(Instance.status == c.status)
    if c.overdue:
        query = query.where(Instance.status == "running", Instance.due_at < now)
    if c.listed:
        query = query.where(Instance.listed.is_(True))
    if c.stalled_days is not None:
        # the board's rule (service/supervision.py): no person's step for N days, a person's task open
        query = query.where(Instance.status == "running", stalled_since(now - timedelta(days=c.stalled_days)))
    if c.q:
        query = query.where(Instance.business_key.contains(c.q.strip().upper(), autoescape=True))
    if c.business_key:
        query = query.where(Instance.business_key.startswith(c.business_key.strip().upper(), autoescape=True))
    if c.subject:
        query = query.where(Instance.title.icontains(c.subject, autoescape=True))
    if c.handling_group:
        query = query.where(or_(Instance.handling_group == c.handling_group, exists().where(
            InstanceGroup.instance_id == Instance.id, InstanceGroup.group_key == c.handling_group)))
    query = _between(query, Instance.started_at, c.started_from, c.started_to)
    query = _between(query, Instance.due_at, c.due_from, c.due_to)
    query = _personal(query, session, actor, c)
    return policy.visible(query, actor)


def ordered(query: Select[Any], criteria: Criteria) -> Select[Any]:
    """Newest first by id unless a column is chosen (ties by id; cases without a deadline last)."""
    if criteria.sort is None:
        # ids follow registration order: read backwards on the primary key and stop at the limit
        return query.order_by(Instance.id.desc())
    column = SORTS[criteria.sort]
    if criteria.order == "asc":
        return query.order_by(column.asc().nulls_last(), Instance.id.asc())
    return query.order_by(column.desc().nulls_last(), Instance.id.desc())


def find(session: Session, actor: Actor, criteria: Criteria, limit: int = 100, offset: int = 0,
         cap: int = MAX_LIMIT) -> list[Instance]:
    query = ordered(select_cases(session, actor, criteria), criteria)
    return list(session.scalars(query.limit(max(min(limit, cap), 0)).offset(offset)))


def count(session: Session, actor: Actor, criteria: Criteria) -> int:
    inner = select_cases(session, actor, criteria).with_only_columns(Instance.id).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)
