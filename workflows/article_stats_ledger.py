"""网站稿件登载统计表 (临沧人大网站管理制度 第十二条: 网站每月对机关各委室、县(区)人大机关稿件登载情况
进行统计，并按相关规定及时支付稿酬): one row per unit — every 委室 (`dept_*`) and every county congress
(`county_<x>`), zeros included, departments first then counties, each by key — counted from the
article procedure's read models (workflows/article_models.py), never from the workflow state:

- `published`: articles whose `published_at` lies in the month and that are still published
  (the `articles` model's stage `published`: a withdrawn article is not counted, 撤稿 takes it off);
- `returned`: review returns (审核退回修改, the `article_returns` model) in the month, per unit —
  the county's too, so the office sees who repeatedly makes mistakes (第十一条);
- `remuneration`: Σ the rate of each counted article's column: the setting `column_rates`
  (`栏目=金额` pairs) for the columns it lists, else `rate_default` (元/篇).

Once the month's table has been confirmed in the monthly round (`article_stats_monthly`,
confirm_stats), the confirmed table (read model `article_stats_confirmed`) is what the ledger
gives for that month: what was paid does not change when an article is withdrawn afterwards.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service import config_store
from service.ledgers import Column, Ledger, Period
from service.ledgers import stored_data as _data  # one reading of stored rows for every ledger
from service.ledgers import stored_moment as _when
from service.procedure import SettingSpec
from service.store.models import ReadRow
from workflows.organisation import COUNTY_PREFIX, DEPARTMENT_PREFIX, is_unit

ARTICLE_PROCESS = "article_publication"  # = workflows.article.PROCEDURE.key (the settings' owner)
# 网站管理员 and 办公室分管领导 (API.md "Reports": articles — web_admin, office_leader).
READERS = frozenset({"web_admin", "office_leader"})
ARTICLES_MODEL = "articles"  # workflows/article_models.py: every article, tag = its stage
RETURNS_MODEL = "article_returns"  # one row per review return, tag = the unit, sort_at = when
CONFIRMED_MODEL = "article_stats_confirmed"  # the confirmed month's table, key = YYYY-MM
PUBLISHED = "published"

# ---- The rates (settings of the article procedure: article_publication.rate_default, …).

NO_COLUMN_RATES = "无"  # a text setting cannot be empty: this says "no column has its own rate"
_PAIR_SEPARATORS = re.compile(r"[,，、;；\n]")
_PAIR = re.compile(r"([^=＝]+?)\s*[=＝]\s*([0-9]{1,6})")


def _rate_text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def parse_column_rates(text: Any) -> tuple[dict[str, Decimal], list[str]]:
    """`人大要闻=150，领导讲话=120` → ({column: rate}, the pairs not understood). Separators: , ，
    、 ; ；; `=` or `＝`; a whole amount in 元. 「无」 or nothing: no pairs."""
    rates: dict[str, Decimal] = {}
    bad: list[str] = []
    raw = _rate_text(text)
    if raw in ("", NO_COLUMN_RATES):
        return rates, bad
    for part in _PAIR_SEPARATORS.split(raw):
        part = part.strip()
        if not part:
            continue
        found = _PAIR.fullmatch(part)
        if found is None or found.group(1).strip() in rates:
            bad.append(part)
            continue
        rates[found.group(1).strip()] = Decimal(found.group(2))
    return rates, bad


def check_column_rates(text: str) -> str | None:
    """The Chinese error of a `column_rates` value an administrator typed, or None if it reads."""
    rates, bad = parse_column_rates(text)
    if bad:
        return (f"无法识别：{'、'.join(bad[:5])}。请写作“栏目=金额”（金额为整数，单位元），"
                f"多项以逗号分隔，同一栏目只写一次，如 人大要闻=150,领导讲话=120；没有另定标准的栏目请填“{NO_COLUMN_RATES}”")
    return None


RATE_DEFAULT = SettingSpec(
    "rate_default", 100,
    "稿酬标准：每篇登载稿件的稿酬（元），栏目另有标准的按“栏目稿酬标准”（网站管理制度第十二条，每月统计时计算）",
    unit="元/篇", minimum=0, maximum=100000)
COLUMN_RATES = SettingSpec(
    "column_rates", NO_COLUMN_RATES,
    "栏目稿酬标准：与每篇标准不同的栏目，写作“栏目=金额”，多项以逗号分隔（如 人大要闻=150,领导讲话=120）；"
    f"填“{NO_COLUMN_RATES}”表示各栏目均按每篇标准；无法识别的项按每篇标准计算",
    unit="", minimum=1, maximum=1000, check=check_column_rates)


def _setting(spec: SettingSpec) -> Any:
    try:
        return config_store.get(f"{ARTICLE_PROCESS}.{spec.key}")
    except KeyError:  # the article procedure not installed (a platform test): its default
        return spec.default


def rate_of(column: Any, rates: dict[str, Decimal], default: Decimal) -> Decimal:
    return rates.get(str(column or "").strip(), default)


# ---- The rows.

def unit_order(key: str) -> tuple[int, str]:
    """Departments (委室) first, then the counties, each by key."""
    return (0 if key.startswith(DEPARTMENT_PREFIX) else 1 if key.startswith(COUNTY_PREFIX) else 2, key)


def confirmed_rows(session: Session, period: Period) -> list[dict[str, Any]] | None:
    """The month's confirmed table (as confirmed: JSON rows), or None while it is not confirmed."""
    if period.kind != "month":
        return None
    raw = session.scalar(select(ReadRow.data).where(ReadRow.model == CONFIRMED_MODEL, ReadRow.row_key == period.arg))
    rows = _data(raw).get("rows") if raw else None
    return [dict(r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else None


def counted(session: Session, period: Period, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """The table counted now from the read models (see the module's docstring)."""
    rates, _bad = parse_column_rates(_setting(COLUMN_RATES))
    default = Decimal(int(_setting(RATE_DEFAULT)))
    published: Counter[str] = Counter()
    money: dict[str, Decimal] = {}
    # an article is published after it was registered (sort_at): later registrations cannot count
    for raw in session.scalars(select(ReadRow.data).where(
            ReadRow.model == ARTICLES_MODEL, ReadRow.tag == PUBLISHED,
            or_(ReadRow.sort_at.is_(None), ReadRow.sort_at < period.end))):
        article = _data(raw)
        unit = article.get("department")
        if not isinstance(unit, str) or article.get("withdrawn_at") or not period.contains(_when(article.get("published_at"))):
            continue
        published[unit] += 1
        money[unit] = money.get(unit, Decimal(0)) + rate_of(article.get("column"), rates, default)
    returned: Counter[str] = Counter()
    for tag, raw in session.execute(select(ReadRow.tag, ReadRow.data).where(
            ReadRow.model == RETURNS_MODEL, ReadRow.sort_at >= period.start, ReadRow.sort_at < period.end)):
        unit = _data(raw).get("department") or tag
        if isinstance(unit, str):
            returned[unit] += 1
    units = {k for k in group_names if is_unit(k)} | {k for k in (*published, *returned) if is_unit(k)}
    return [{"unit": unit, "unit_name": group_names.get(unit, unit), "published": published[unit],
             "returned": returned[unit], "remuneration": float(money.get(unit, Decimal(0)))}
            for unit in sorted(units, key=unit_order)]


def build(session: Session, period: Period, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """The month's confirmed table if there is one, else the table counted now."""
    confirmed = confirmed_rows(session, period)
    return confirmed if confirmed is not None else counted(session, period, group_names)


def total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The 合计 row under the table (page and Excel)."""
    def whole(key: str) -> int:
        return sum(int(r.get(key) or 0) for r in rows)

    money = sum((Decimal(str(r.get("remuneration") or 0)) for r in rows), Decimal(0))
    return {"unit": None, "unit_name": "合计", "published": whole("published"), "returned": whole("returned"),
            "remuneration": float(money)}


LEDGER = Ledger(
    key="articles",
    name="网站稿件登载统计表",
    readers=READERS,
    columns=(
        Column("unit", "单位代码", "text", 20),
        Column("unit_name", "单位", "text", 24),
        Column("published", "登载篇数", "int", 10),
        Column("returned", "退回次数", "int", 10),
        Column("remuneration", "稿酬（元）", "float", 12),
    ),
    build=build,
    periods=("month",),
    total=total,
    description="依据临沧人大网站管理制度第十二条（网站每月对机关各委室、县（区）人大机关稿件登载情况进行统计，"
                "并按相关规定及时支付稿酬）：按发布时间统计当月登载的稿件（已撤稿的不计）；退回次数为审核退回修改的次数"
                "（含各县（区）稿件）；稿酬按设置的每篇标准计算，另定标准的栏目按栏目标准。当月统计表经网站管理员核对确认后，"
                "以确认的统计表为准。",
)
