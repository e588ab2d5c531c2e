"""The legal calendar (service/calendar.py; 民法典 第二百零一条/第二百零三条): the start day is not
counted, a period whose last day is a rest day ends on the next working day, a deadline is the
end of its last day in Beijing time. Every calendar fact used below is first checked against the
State Council data shipped in `chinese_calendar`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from service.calendar import add_days, is_working_day, last_day, next_working_day

MON, SAT, SUN = 0, 5, 6


def holiday(day: str) -> bool:
    return chinese_calendar.is_holiday(date.fromisoformat(day))


def working(day: str) -> bool:
    return chinese_calendar.is_workday(date.fromisoformat(day))


def weekday(day: str) -> int:
    return date.fromisoformat(day).weekday()


def test_start_day_is_not_counted() -> None:
    assert add_days("2026-03-02", 1) == "2026-03-03T23:59:59+08:00"
    assert add_days("2026-03-02T23:59:00+08:00", 1) == "2026-03-03T23:59:59+08:00"


def test_60_days_from_2026_03_02_ends_after_the_labour_day_holiday() -> None:
    # 2026-03-02 + 60 days = Friday 2026-05-01; 05-01 … 05-05 is the Labour Day holiday.
    assert date(2026, 3, 2) + timedelta(days=60) == date(2026, 5, 1)
    assert all(holiday(f"2026-05-0{d}") for d in range(1, 6))
    assert working("2026-05-06")
    assert add_days("2026-03-02", 60) == "2026-05-06T23:59:59+08:00"
    assert add_days("2026-03-02T09:00:00+08:00", 60) == "2026-05-06T23:59:59+08:00"
    assert add_days(date(2026, 3, 2), 60) == "2026-05-06T23:59:59+08:00"


def test_period_ending_on_a_sunday_ends_on_monday() -> None:
    assert weekday("2026-03-08") == SUN and not working("2026-03-08")
    assert weekday("2026-03-09") == MON and working("2026-03-09")
    assert add_days("2026-03-01", 7) == "2026-03-09T23:59:59+08:00"


def test_period_ending_inside_the_national_day_holiday_ends_on_the_first_working_day_after_it() -> None:
    # 2026-09-03 + 30 = Saturday 2026-10-03, inside 国庆 10-01 … 10-07.
    assert all(holiday(f"2026-10-0{d}") for d in range(1, 8))
    assert working("2026-10-08")
    assert add_days("2026-09-03", 30) == "2026-10-08T23:59:59+08:00"
    assert add_days("2026-09-30", 1) == "2026-10-08T23:59:59+08:00"


def test_period_ending_inside_the_spring_festival_ends_after_it() -> None:
    # 2026-02-05 + 10 = Sunday 2026-02-15, first day of 春节 02-15 … 02-23.
    assert all(holiday(f"2026-02-{d}") for d in range(15, 24))
    assert working("2026-02-24")
    assert add_days("2026-02-05", 10) == "2026-02-24T23:59:59+08:00"


WORKING_WEEKENDS_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]


def test_the_2026_working_weekend_days_are_the_ones_of_the_state_council_notice() -> None:
    days = chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31), include_weekends=True)
    assert [d.isoformat() for d in days if d.weekday() >= SAT] == WORKING_WEEKENDS_2026


@pytest.mark.parametrize("day", WORKING_WEEKENDS_2026)
def test_period_ending_on_a_tiaoxiu_working_weekend_day_is_not_rolled(day: str) -> None:
    assert weekday(day) >= SAT and working(day)
    start = date.fromisoformat(day) - timedelta(days=10)
    assert add_days(start, 10) == f"{day}T23:59:59+08:00"
    assert is_working_day(date.fromisoformat(day))


def test_working_day_periods_skip_holidays() -> None:
    # Thursday 2026-04-30: 05-01 … 05-05 are holidays, Wednesday 05-06 is the first working day.
    assert add_days("2026-04-30", 1, "working") == "2026-05-06T23:59:59+08:00"
    assert add_days("2026-04-30", 3, "working") == "2026-05-08T23:59:59+08:00"
    # Saturday 05-09 is a 调休 working day, so it is the fourth.
    assert add_days("2026-04-30", 4, "working") == "2026-05-09T23:59:59+08:00"
    assert add_days("2026-04-30", 5, "working") == "2026-05-11T23:59:59+08:00"


def test_working_day_periods_skip_weekends_and_count_tiaoxiu_days() -> None:
    # Friday 2026-02-13 + 1 working day = Saturday 02-14 (调休 before 春节).
    assert add_days("2026-02-13", 1, "working") == "2026-02-14T23:59:59+08:00"
    # Saturday 2026-02-14 + 1 working day = Tuesday 02-24, after the festival.
    assert add_days("2026-02-14", 1, "working") == "2026-02-24T23:59:59+08:00"
    # An ordinary week: Friday 2026-03-06 + 1 working day = Monday 03-09.
    assert add_days("2026-03-06", 1, "working") == "2026-03-09T23:59:59+08:00"
    chinese = list(chinese_calendar.get_workdays(date(2026, 3, 3), date(2026, 5, 31)))
    assert last_day(date(2026, 3, 2), len(chinese), "working") == chinese[-1]


def test_the_day_is_the_day_in_beijing() -> None:
    # 2026-03-01 20:00 UTC is already 2026-03-02 04:00 in Beijing.
    utc_evening = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    assert add_days(utc_evening, 60) == "2026-05-06T23:59:59+08:00"
    assert add_days("2026-03-01T20:00:00+00:00", 60) == "2026-05-06T23:59:59+08:00"
    # a time without zone is Beijing time
    assert add_days("2026-03-02T00:30:00", 60) == "2026-05-06T23:59:59+08:00"


def test_deadline_is_the_end_of_the_last_day_in_beijing() -> None:
    deadline = datetime.fromisoformat(add_days("2026-03-02", 60))
    assert deadline.utcoffset() == timedelta(hours=8)
    assert (deadline.hour, deadline.minute, deadline.second) == (23, 59, 59)


def test_next_working_day_matches_the_package_for_every_day_of_2026() -> None:
    day = date(2026, 1, 1)
    while day.year == 2026:
        expected = day
        while not chinese_calendar.is_workday(expected):
            expected += timedelta(days=1)
        assert next_working_day(day) == expected, day
        day += timedelta(days=1)
