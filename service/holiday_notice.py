"""A year's State Council holiday notice (国务院办公厅关于某年部分节假日安排的通知) as the text an
administrator pastes on /admin/calendar: one day or range per line, 休/放假 or 班/上班, checked
line by line with Chinese errors that name the line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_REST_WORDS = {"休": False, "休息": False, "放假": False, "rest": False,
               "班": True, "上班": True, "work": True}
_LINE = re.compile(
    r"^(?P<a>\d{4}-\d{1,2}-\d{1,2})(?:\s*[~～至]\s*(?P<b>\d{4}-\d{1,2}-\d{1,2}))?"
    r"\s+(?P<kind>\S+)(?:\s+(?P<name>.*?))?\s*$"
)
MAX_NOTICE_LINES = 400
MAX_RANGE_DAYS = 31


@dataclass(frozen=True)
class NoticeDay:
    line_no: int
    day: date
    working: bool
    name: str


class NoticeError(ValueError):
    """Some lines of a notice are wrong; `errors` is [(line number, message)]."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        numbers = "、".join(str(n) for n, _ in errors if n)
        self.summary = f"{f'第 {numbers} 行' if numbers else '内容'}有误，未作任何修改"
        super().__init__(self.summary + "：" + "；".join(
            (f"第 {n} 行：{m}" if n else m) for n, m in errors))


def _parse_date(text: str) -> date:
    y, m, d = (int(p) for p in text.split("-"))
    return date(y, m, d)


def parse_notice(text: str, year: int | None = None) -> list[NoticeDay]:
    """Parse a notice, one arrangement a line: ``2027-01-01 休 元旦``, ``2027-02-07 班 春节调休``
    or a range ``2027-10-01~2027-10-07 休 国庆节`` (also ``至``). 休/休息/放假 = rest,
    班/上班 = working. Blank lines and lines starting with # are ignored. Every line is
    checked; any error raises NoticeError listing all bad lines (nothing is half-parsed)."""
    errors: list[tuple[int, str]] = []
    out: list[NoticeDay] = []
    seen: dict[date, int] = {}
    lines = (text or "").splitlines()
    if len(lines) > MAX_NOTICE_LINES:
        raise NoticeError([(0, f"行数过多（最多 {MAX_NOTICE_LINES} 行）")])
    for no, raw in enumerate(lines, start=1):
        line = raw.strip().replace("\u3000", " ")
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            errors.append((no, f"格式应为「日期 休/班 名称」，如「2027-01-01 休 元旦」：{raw.strip()}"))
            continue
        kind = match["kind"]
        if kind not in _REST_WORDS:
            errors.append((no, f"第二项应为「休」或「班」，而不是「{kind}」"))
            continue
        name = (match["name"] or "").strip()
        if len(name) > 64:
            errors.append((no, "名称过长（最多 64 字）"))
            continue
        try:
            first = _parse_date(match["a"])
            last = _parse_date(match["b"]) if match["b"] else first
        except ValueError:
            errors.append((no, "日期不存在"))
            continue
        if last < first or (last - first).days >= MAX_RANGE_DAYS:
            errors.append((no, f"日期范围无效（结束不得早于开始，且不超过 {MAX_RANGE_DAYS} 天）"))
            continue
        if year is not None and (first.year != year or last.year != year):
            errors.append((no, f"日期不在 {year} 年内"))
            continue
        day, bad = first, False
        while day <= last:
            if day in seen:
                errors.append((no, f"{day.isoformat()} 与第 {seen[day]} 行重复"))
                bad = True
                break
            seen[day] = no
            out.append(NoticeDay(no, day, _REST_WORDS[kind], name))
            day += timedelta(days=1)
        if bad:
            continue
    if errors:
        raise NoticeError(errors)
    if not out:
        raise NoticeError([(0, "没有任何日期安排")])
    return out
