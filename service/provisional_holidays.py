"""The provisional rule of the legal calendar (service/calendar.py): for a year no State
Council notice is known for, the statutory holidays of 《全国年节及纪念日放假办法》."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, timedelta

try:  # chinesecalendar knows the solar terms (清明)
    import chinese_calendar as _cc
except ImportError:  # pragma: no cover - dependency is declared, kept for robustness
    _cc = None

try:  # lunar → solar dates for 春节/端午/中秋 in provisional years
    from lunardate import LunarDate as _LunarDate
except ImportError:  # pragma: no cover - dependency is declared, kept for robustness
    _LunarDate = None


def _lunar_to_solar(year: int, month: int, day: int) -> date | None:
    if _LunarDate is None:
        return None
    try:
        lunar = _LunarDate(year, month, day)
        convert = getattr(lunar, "to_solar_date", None) or lunar.toSolarDate
        return convert()  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - outside lunardate's table (1900–2099)
        return None


def _qingming(year: int) -> date:
    """The 清明 solar-term day (4 or 5 April, occasionally the 6th)."""
    if _cc is not None:
        try:
            for day, name in _cc.get_solar_terms(date(year, 4, 1), date(year, 4, 30)):
                if name == "清明":
                    return day  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - outside 1900–2100
            pass
    return date(year, 4, 5)


@functools.lru_cache(maxsize=128)
def provisional_holidays(year: int) -> Mapping[date, str]:
    """The statutory holidays of year `year` under 《全国年节及纪念日放假办法》 as revised
    in 2024 (in force 2025), for a year no State Council notice is known for:

    元旦 1 Jan; 春节 农历除夕 and 正月初一–初三 (4 days); 清明节 (the 清明 solar term);
    劳动节 1–2 May; 端午节 农历五月初五; 中秋节 农历八月十五; 国庆节 1–3 Oct.

    Only the holidays themselves: the 调休 (swapped working weekends) and make-up days
    that each year's State Council notice arranges cannot be predicted, so a date
    computed from this rule is provisional (暂定) until the notice is loaded. Lunar
    dates need the `lunardate` package (1900–2099); outside it they are left out.
    """
    days: dict[date, str] = {}

    def add(day: date | None, name: str) -> None:
        if day is None or day.year != year:
            return
        days[day] = f"{days[day]}、{name}" if day in days and name not in days[day] else name

    try:
        add(date(year, 1, 1), "元旦")
        # 正月初一 falls between 21 Jan and 20 Feb, so 除夕 (the day before) is in `year` too.
        new_year = _lunar_to_solar(year, 1, 1)
        if new_year is not None:
            for i in range(-1, 3):
                add(new_year + timedelta(days=i), "春节")
        add(_qingming(year), "清明节")
        add(date(year, 5, 1), "劳动节")
        add(date(year, 5, 2), "劳动节")
        add(_lunar_to_solar(year, 5, 5), "端午节")
        add(_lunar_to_solar(year, 8, 15), "中秋节")
        for d in (1, 2, 3):
            add(date(year, 10, d), "国庆节")
    except (ValueError, OverflowError):  # years at the edge of datetime's range
        pass
    return dict(sorted(days.items()))
