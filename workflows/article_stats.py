"""网站稿件登载统计 (临沧人大网站管理制度 第十二条): the ledger `articles` and the monthly round
`article_stats_monthly`.

- `LEDGERS`, `SETTINGS`: declared by the article procedure (workflows/article.py), so the rates are
  its settings (`article_publication.rate_default`, `article_publication.column_rates`); the
  table itself is workflows/article_stats_ledger.py.
- `ROUND`: on the 1st of every month at 08:00 (setting `start_minute`) the system starts
  `TJ-<YYYY>-<MM>` (bpmn/article_stats_monthly.bpmn); its start script puts last month's table
  (`ledger_rows("articles", stats_month)`) in `stats`; 网站管理员 checks and confirms it
  (`confirm_stats`). The deriver copies `stats` and `stats_month` into that step's data, so the
  history keeps the confirmed table and the read model `article_stats_confirmed` (key = the
  month) holds it: from then on the ledger gives that table for the month.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from service import clock
from service.errors import Invalid
from service.procedure import Numbering, Procedure, Starters
from service.readmodels import Change, Event, ReadModel, Row
from service.schedule import Monthly, minute_setting
from workflows import article_stats_ledger
from workflows.article_stats_ledger import CONFIRMED_MODEL

LEDGERS: tuple[Any, ...] = (article_stats_ledger.LEDGER,)
SETTINGS: tuple[Any, ...] = (article_stats_ledger.RATE_DEFAULT, article_stats_ledger.COLUMN_RATES)

ROUND_KEY = "article_stats_monthly"
CONFIRM_TASK = "confirm_stats"
WEB_ADMIN = "web_admin"
OFFICE_LEADER = "office_leader"

FieldErrors = list[dict[str, str]]


# ---- The round's month and title (the start script calls these).

def _first_day(period: Any) -> date:
    text = str(period)
    return date(int(text[:4]), int(text[5:7]), 1)


def stats_month(period: Any) -> str:
    """The month a round counts: the one before its period (`2026-12` → `2026-11`)."""
    first = _first_day(period)
    year, month = (first.year - 1, 12) if first.month == 1 else (first.year, first.month - 1)
    return f"{year:04d}-{month:02d}"


def title(month: Any) -> str:
    """2026年11月网站稿件登载统计"""
    first = _first_day(month)
    return f"{first.year}年{first.month}月网站稿件登载统计"


HELPERS = {"stats_month": stats_month, "title": title}


# ---- The rules of the steps.

def validate_start(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    """A round counts the month before its period: that month must be over (a round of 2027-01
    started on 2026-12-01 would count a December not yet ended)."""
    period = form.get("period")
    if isinstance(period, str) and len(period) == 7:
        today = clock.now().date()
        if _first_day(period) > date(today.year, today.month, 1):
            return [{"field": "period",
                     "message": f"{title(stats_month(period))}尚未结束，不能发起；统计月份的次月1日起方可发起"}]
    return []


def validate_confirm(form: dict[str, Any], instance: dict[str, Any], group_keys: set[str]) -> FieldErrors:
    if form.get("confirmed") is not True:
        return [{"field": "confirmed", "message": "请核对统计表后勾选“已核对确认”；有误的请在意见中说明"}]
    return []


def derive_confirm(form: dict[str, Any], instance: dict[str, Any], actor_groups: frozenset[str]) -> dict[str, Any]:
    """The table confirmed is the one the case holds: copied into the step's data (history)."""
    stats, month = instance.get("stats"), instance.get("stats_month")
    if not isinstance(stats, list) or not isinstance(month, str):
        raise Invalid("本轮统计缺少统计表，不能确认", [{"field": "confirmed", "message": "统计表缺失，请联系系统管理员"}])
    return {"stats": stats, "stats_month": month}


# ---- The confirmed tables (read model): one row per month, from the confirm_stats history row.

def project_confirmed(event: Event) -> Iterable[Change]:
    if event.action != "complete" or event.task != CONFIRM_TASK:
        return []
    month, stats = event.data.get("stats_month"), event.data.get("stats")
    if not isinstance(month, str) or not isinstance(stats, list):
        return []
    return [Row(key=month, sort_at=event.at, data={
        "stats_month": month, "rows": stats, "business_key": event.business_key,
        "confirmed_at": event.at.isoformat(timespec="seconds"), "confirmed_by": event.user,
        "comment": event.data.get("comment") or "",
    })]


CONFIRMED = ReadModel(CONFIRMED_MODEL, "网站稿件登载统计（已确认）", project_confirmed, uses_case=False)

LABELS = {
    "business_key": "统计编号",
    "title": "统计名称",
    "period": "统计轮次",
    "stats_month": "统计月份",
    "stats": "各单位登载统计",
    "confirmed": "已核对确认",
    "comment": "核对意见",
    # the columns of `stats` (the ledger's)
    **{c.key: c.title for c in article_stats_ledger.LEDGER.columns},
}

ROUND = Procedure(
    key=ROUND_KEY,
    name="网站稿件月度统计",
    numbering=Numbering("TJ", by_period=True),
    starters=Starters(groups=frozenset({WEB_ADMIN}), label="发起月度统计",
                      refusal="只有网站管理员可以发起网站稿件月度统计",
                      hint="每月1日系统自动发起，统计上一个月的稿件登载情况；补发请填写统计轮次月份（如 2026-12 统计"
                           "2026年11月），同一月份只能发起一次。"),
    owners=frozenset({WEB_ADMIN}),
    supervisors=frozenset({OFFICE_LEADER}),
    helpers=HELPERS,
    validators={"start": validate_start, CONFIRM_TASK: validate_confirm},
    derive={CONFIRM_TASK: derive_confirm},
    labels=LABELS,
    title_keys=("title",),
    settings=(minute_setting("start_minute", "月度统计发起时间：每月1日几点（分钟，480 = 08:00）"),),
    schedules=(Monthly(day=1, at_setting="start_minute"),),
    read_models=(CONFIRMED,),
)
