"""The deadline mark of every list (issue 9 item 15): yellow 即将到期 from `tasks.warn_days`
calendar days before a deadline (default 3), red 已超期 after it, 超期办结 for what was done
late — the same function for the pages (the `due_cell` macro) and the API (`due_state`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conftest import SUITE_START, ApiClient, done, login, pin_clock, start, text
from test_api_errors import to_handle

from service import clock

SOON_TAG, OVERDUE_TAG, LATE_TAG = "即将到期</span>", "已超期</span>", "超期办结</span>"


def at(day: str) -> None:
    """The clock at 10:00 Beijing time on `day` (YYYY-MM-DD)."""
    pin_clock(datetime.fromisoformat(f"{day}T10:00:00+08:00"))


def classify_case(api: ApiClient) -> tuple[int, dict[str, Any]]:
    """A petition received today (2026-12-01): its 归纳分类 is due 15 days on, 2026-12-16."""
    iid = start(api, received_at=SUITE_START)
    task = api.task("xfk1", iid, "classify")
    assert task["due_at"] == "2026-12-16T23:59:59+08:00"
    return iid, task


def state_of(api: ApiClient, task_id: str) -> str:
    api._tokens.clear()  # tokens expire by the (moved) clock
    (found,) = [t for t in api.tasks("xfk1") if t["id"] == task_id]
    return str(found["due_state"])


def inbox_row(app: Any, task_id: str) -> str:
    page = text(login(app, "xfk1").get("/tasks"))
    start_at = page.rindex("<tr", 0, page.index(f'data-task-id="{task_id}"'))
    return page[start_at:page.index("</tr>", start_at)]


def set_warn_days(api: ApiClient, days: int) -> None:
    api._tokens.clear()
    r = api.client.put("/api/v1/settings/tasks.warn_days", headers=api.headers("admin"), json={"value": days})
    assert r.status_code == 200, r.get_json()


def test_two_days_before_is_soon_yesterday_overdue_five_days_nothing(api: ApiClient) -> None:
    _iid, task = classify_case(api)
    at("2026-12-14")
    assert state_of(api, task["id"]) == "soon"
    at("2026-12-17")
    assert state_of(api, task["id"]) == "overdue"
    at("2026-12-11")
    assert state_of(api, task["id"]) == ""
    at("2026-12-13")  # three calendar days before, the deadline's day counted as the last
    assert state_of(api, task["id"]) == "soon"


def test_a_wider_warning_makes_the_five_day_task_yellow(api: ApiClient) -> None:
    _iid, task = classify_case(api)
    at("2026-12-11")
    assert state_of(api, task["id"]) == ""
    set_warn_days(api, 7)
    assert state_of(api, task["id"]) == "soon"
    set_warn_days(api, 0)  # 0: only the deadline's own day is yellow
    assert state_of(api, task["id"]) == ""
    at("2026-12-16")
    assert state_of(api, task["id"]) == "soon"


def test_the_setting_is_bounded_and_explained(api: ApiClient) -> None:
    r = api.client.put("/api/v1/settings/tasks.warn_days", headers=api.headers("admin"), json={"value": 31})
    assert r.status_code == 422 and "最大为 30 天" in r.get_json()["details"][0]["message"]
    listing = api.get("admin", "/api/v1/settings").get_json()
    (spec,) = [s for g in listing for s in g["settings"] if s["key"] == "tasks.warn_days"]
    assert spec["label"].startswith("到期提醒天数") and "自然日" in spec["label"]
    assert (spec["default"], spec["unit"], spec["minimum"], spec["maximum"]) == (3, "天", 0, 30)


def test_the_inbox_shows_yellow_then_red_then_nothing(page_app: Any) -> None:
    api = ApiClient(page_app)
    _iid, task = classify_case(api)
    at("2026-12-14")
    row = inbox_row(page_app, task["id"])
    assert "row-soon" in row and SOON_TAG in row and OVERDUE_TAG not in row
    at("2026-12-17")
    row = inbox_row(page_app, task["id"])
    assert "row-overdue" in row and OVERDUE_TAG in row and SOON_TAG not in row
    at("2026-12-11")
    row = inbox_row(page_app, task["id"])
    assert SOON_TAG not in row and OVERDUE_TAG not in row
    set_warn_days(api, 7)
    assert SOON_TAG in inbox_row(page_app, task["id"])
    # the task page's header says the same
    assert SOON_TAG in text(login(page_app, "xfk1").get(f"/tasks/{task['id']}"))


def test_the_case_list_the_case_page_and_the_board_mark_the_case_deadline(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = to_handle(api, received_at=SUITE_START)  # the case is due 60 days on, 2027-02-01
    case = api.instance("xfk1", iid)
    assert case["due_at"] == "2027-02-01T23:59:59+08:00" and case["due_state"] == ""
    at("2027-01-30")
    api._tokens.clear()
    (row,) = [i for i in api.get("xfk1", f"/api/v1/instances?q={case['business_key']}").get_json()]
    assert row["due_state"] == "soon"
    client = login(page_app, "msz")
    listing = text(client.get(f"/instances?q={case['business_key']}"))
    assert SOON_TAG in listing and "row-soon" in listing
    assert SOON_TAG in text(client.get(f"/instances/{iid}"))
    board = text(client.get("/supervision?stalled_days=30"))  # stalled: on the board, and yellow
    assert case["business_key"] in board and SOON_TAG in board
    at("2027-02-03")
    client = login(page_app, "msz")
    assert OVERDUE_TAG in text(client.get(f"/instances?q={case['business_key']}"))
    assert OVERDUE_TAG in text(client.get("/supervision"))
    api._tokens.clear()
    assert api.get("msz", "/api/v1/supervision/board").get_json()["departments"][0]["cases"][0]["due_state"] == \
        "overdue"


def test_done_list_marks_a_task_completed_after_its_deadline(page_app: Any) -> None:
    api = ApiClient(page_app)
    on_time, task = classify_case(api)
    late = start(api, received_at=SUITE_START)
    done(api, "xfk1", on_time, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    at("2026-12-18")  # two days after 归纳分类 fell due
    api._tokens.clear()
    done(api, "xfk1", late, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    rows = {t["instance_id"]: t for t in api.get("xfk1", "/api/v1/tasks/done").get_json()}
    assert (rows[late]["due_state"], rows[on_time]["due_state"]) == ("overdue", "")
    page = text(login(page_app, "xfk1").get("/tasks/done"))
    assert page.count(LATE_TAG) == 1 and OVERDUE_TAG not in page
    late_key = api.instance("xfk1", late)["business_key"]
    row_at = page.index(f'data-business-key="{late_key}"')
    assert LATE_TAG in page[row_at:page.index("</tr>", row_at)]
    assert clock.now() - timedelta(days=17) < clock.parse_datetime(task["due_at"])  # the dates as said


def test_one_function_for_pages_and_api() -> None:
    from service import due_marks
    from service.web import dates

    assert dates.due_state is due_marks.due_state
    assert due_marks.due_state("2026-12-03T23:59:59+08:00", "completed", "2026-12-04T09:00:00+08:00") == "overdue"
    assert due_marks.due_state("2026-12-03T23:59:59+08:00", "completed", "2026-12-03T09:00:00+08:00") == ""
    assert due_marks.due_state(None) == "" and due_marks.due_state("2026-12-03T23:59:59+08:00") == "soon"
