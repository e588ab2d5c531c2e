"""The periods reports are counted over (季度/年度/月份): parsed from `quarter=YYYY-Qn`,
`year=YYYY`, `month=YYYY-MM` with Chinese errors, with their bounds in Beijing time and the
labels an office writes in a report's header (2026年第四季度, 2026年12月, 2026年)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from service.clock import BEIJING
from service.errors import Invalid

MIN_YEAR, MAX_YEAR = 2000, 2100
PERIOD_KINDS = ("quarter", "year", "month")
PERIOD_NAMES = {"quarter": "季度", "year": "年度", "month": "月份"}
PERIOD_FORMATS = {"quarter": "YYYY-Qn", "year": "YYYY", "month": "YYYY-MM"}
PERIOD_EXAMPLES = {"quarter": "2026-Q4", "year": "2026", "month": "2026-12"}
QUARTER_NUMERALS = "一二三四"


# ----- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A statistical period in Beijing time: [start, end), the end excluded."""

    kind: str  # "quarter" | "year" | "month"
    year: int
    number: int = 0  # the quarter (1–4) or the month (1–12); 0 for a year

    @classmethod
    def of_quarter(cls, year: int, quarter: int) -> Period:
        return cls("quarter", year, quarter)

    @classmethod
    def of_month(cls, year: int, month: int) -> Period:
        return cls("month", year, month)

    @classmethod
    def of_year(cls, year: int) -> Period:
        return cls("year", year)

    @classmethod
    def containing(cls, kind: str, moment: datetime) -> Period:
        """The period of this kind that `moment` (Beijing time) falls in: the page's default."""
        local = moment.astimezone(BEIJING)
        if kind == "quarter":
            return cls.of_quarter(local.year, (local.month - 1) // 3 + 1)
        if kind == "month":
            return cls.of_month(local.year, local.month)
        return cls.of_year(local.year)

    @property
    def start(self) -> datetime:
        if self.kind == "quarter":
            return datetime(self.year, 3 * self.number - 2, 1, tzinfo=BEIJING)
        if self.kind == "month":
            return datetime(self.year, self.number, 1, tzinfo=BEIJING)
        return datetime(self.year, 1, 1, tzinfo=BEIJING)

    @property
    def end(self) -> datetime:
        if self.kind == "quarter":
            return self.of_quarter(self.year + 1, 1).start if self.number == 4 \
                else self.of_quarter(self.year, self.number + 1).start
        if self.kind == "month":
            return self.of_month(self.year + 1, 1).start if self.number == 12 \
                else self.of_month(self.year, self.number + 1).start
        return datetime(self.year + 1, 1, 1, tzinfo=BEIJING)

    @property
    def label(self) -> str:
        """How the office writes it: 2026年第四季度 / 2026年12月 / 2026年."""
        if self.kind == "quarter":
            return f"{self.year}年第{QUARTER_NUMERALS[self.number - 1]}季度"
        if self.kind == "month":
            return f"{self.year}年{self.number}月"
        return f"{self.year}年"

    @property
    def arg(self) -> str:
        """The query value that names it again (quarter=2026-Q4, month=2026-12, year=2026)."""
        if self.kind == "quarter":
            return f"{self.year}-Q{self.number}"
        if self.kind == "month":
            return f"{self.year}-{self.number:02d}"
        return str(self.year)

    @property
    def query(self) -> dict[str, str]:
        return {self.kind: self.arg}

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


_PATTERNS = {
    "quarter": re.compile(r"(\d{4})-[Qq](\d)"),
    "month": re.compile(r"(\d{4})-(\d{1,2})"),
    "year": re.compile(r"(\d{4})"),
}


def _accepted_text(accepted: Sequence[str]) -> str:
    return "、".join(f"{k}={PERIOD_FORMATS[k]}（按{PERIOD_NAMES[k]}）" for k in accepted)


def parse_period(args: Mapping[str, str], accepted: Sequence[str] = PERIOD_KINDS) -> Period:
    """The period named by the query arguments: exactly one of `accepted`. A missing, doubled,
    malformed or not accepted period is a 422 naming the argument, in Chinese."""
    given = [k for k in PERIOD_KINDS if (args.get(k) or "").strip()]
    if not given:
        first = accepted[0] if accepted else "quarter"
        raise Invalid("请指定统计期间", [{"field": first, "message": f"请指定统计期间：{_accepted_text(accepted)}"}])
    if len(given) > 1:
        raise Invalid("只能指定一个统计期间", [{"field": k, "message": "季度、年度、月份只能指定其中一个"}
                                               for k in given[1:]])
    kind = given[0]
    raw = (args.get(kind) or "").strip()
    if kind not in accepted:
        raise Invalid(f"该报表不支持按{PERIOD_NAMES[kind]}统计",
                      [{"field": kind, "message": f"该报表可按以下期间统计：{_accepted_text(accepted)}"}])
    found = _PATTERNS[kind].fullmatch(raw)
    number = int(found.group(2)) if found and kind != "year" else 0
    if found is None or (kind == "quarter" and not 1 <= number <= 4) or (kind == "month" and not 1 <= number <= 12):
        shape = {"quarter": "季度格式应为 YYYY-Qn（n 为 1–4）", "month": "月份格式应为 YYYY-MM（01–12）",
                 "year": "年度格式应为四位年份 YYYY"}[kind]
        raise Invalid(f"统计期间“{raw}”格式不正确",
                      [{"field": kind, "message": f"{shape}，例如 {PERIOD_EXAMPLES[kind]}"}])
    year = int(found.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid(f"统计年份 {year} 超出范围",
                      [{"field": kind, "message": f"统计年份应在{MIN_YEAR}年至{MAX_YEAR}年之间"}])
    return Period(kind, year, number)


def recent_periods(kind: str, now: datetime, selected: Period | None = None, years: int = 5) -> list[Period]:
    """The choices of the page's period picker: this and the previous `years` years, newest first
    (and the selected period, should it lie outside them)."""
    local = now.astimezone(BEIJING)
    found: list[Period] = []
    for year in range(local.year, local.year - years, -1):
        if kind == "year":
            found.append(Period.of_year(year))
        elif kind == "quarter":
            found += [Period.of_quarter(year, q) for q in range(4, 0, -1)]
        else:
            found += [Period.of_month(year, m) for m in range(12, 0, -1)]
    found = [p for p in found if p.start <= local]  # nothing to count in a period not begun
    if selected is not None and selected.kind == kind and selected not in found:
        found.insert(0, selected)
    return found
