"""Notices and supervision over the JSON API: manual 催办 → notice, mark read, 挂牌督办, 改派,
the board by department after moving the clock, and the virtual-clock endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import PETITION, ApiClient


def handling_petition(api: ApiClient, group: str = "dept_fgw") -> dict[str, Any]:
    """A petition received now, routed to `group` and waiting at 办理 (handle)."""
    from service import clock

    data = {**PETITION, "received_at": clock.now().isoformat(timespec="seconds")}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    iid = created["id"]
    for user, bpmn_id, form in [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": group}),
        ("xfk1", "propose", {"proposal": "建议交有关委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve"}),
        ("msz", "sg_approve", {"decision": "approve"}),
    ]:
        r = api.complete(user, iid, bpmn_id, form)
        assert r.status_code == 200, (bpmn_id, r.get_json())
    return created


def advance(api: ApiClient, delta: timedelta) -> None:
    """Move the in-process clock; API tokens expire by that clock, so log in again afterwards."""
    from service import clock

    clock.advance(delta)
    api._tokens.clear()


def notices(api: ApiClient, username: str, unread: bool = False) -> list[dict[str, Any]]:
    r = api.get(username, "/api/v1/notices" + ("?unread=1" if unread else ""))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_manual_urge_notifies_the_handling_unit_and_can_be_marked_read(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    case = handling_petition(api)
    # only the 新待办 of its 办理 task so far (service/task_notices.py)
    assert [n["kind"] for n in notices(api, "fgw1")] == ["task_assigned"]
    assert api.post("fgw1", "/api/v1/notices/read", json={}).get_json() == {"marked": 1}

    r = api.post("msz", f"/api/v1/instances/{case['id']}/urge", json={"comment": "请于三日内报送办理结果"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["recipients"] == ["dept_fgw"]

    urges = [n for n in notices(api, "fgw1") if n["kind"] == "manual_urge"]
    assert len(urges) == 1, urges
    notice = urges[0]
    assert notice["instance_id"] == case["id"]
    assert case["business_key"] in notice["text"]
    assert "法制工作委员会" in notice["text"]
    assert "请于三日内报送办理结果" in notice["text"]
    assert notice["read_at"] is None
    assert [n["id"] for n in notices(api, "fgw1", unread=True)] == [notice["id"]]
    assert notices(api, "cjw1") == []  # another unit sees nothing

    r = api.post("fgw1", "/api/v1/notices/read", json={"ids": [notice["id"]]})
    assert r.status_code == 200 and r.get_json() == {"marked": 1}
    (after,) = [n for n in notices(api, "fgw1") if n["id"] == notice["id"]]
    assert after["read_at"] is not None
    assert notices(api, "fgw1", unread=True) == []
    # Marking again changes nothing; someone else's notice cannot be marked by cjw1.
    assert api.post("fgw1", "/api/v1/notices/read", json={"ids": [notice["id"]]}).get_json() == {"marked": 0}
    assert api.post("cjw1", "/api/v1/notices/read", json={"ids": [notice["id"]]}).get_json() == {"marked": 0}
    assert api.post("fgw1", "/api/v1/notices/read", json={"ids": "all"}).status_code == 400

    detail = api.instance("msz", case["id"])
    assert [h for h in detail["history"] if h["action"] == "urge"][0]["comment"] == "请于三日内报送办理结果"


def test_urge_needs_a_supervisor_and_a_comment(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    case = handling_petition(api)
    r = api.post("fgw1", f"/api/v1/instances/{case['id']}/urge", json={"comment": "催一下"})
    assert r.status_code == 403
    assert r.get_json()["error"] == "forbidden" and "督办" in r.get_json()["message"]
    r = api.post("msz", f"/api/v1/instances/{case['id']}/urge", json={"comment": "  "})
    assert r.status_code == 422
    assert api.get("fgw1", "/api/v1/supervision/board").status_code == 403


def test_listing_marks_the_case_and_is_recorded(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    case = handling_petition(api)
    assert api.instance("zr", case["id"])["listed"] is False
    r = api.post("zr", f"/api/v1/instances/{case['id']}/listed", json={"listed": True, "comment": "主任批示督办"})
    assert r.status_code == 200 and r.get_json()["listed"] is True
    detail = api.instance("xfk1", case["id"])
    assert detail["listed"] is True
    assert "listed" in [h["action"] for h in detail["history"]]
    listed_rows = [i for i in api.get("xfk1", "/api/v1/instances").get_json() if i["id"] == case["id"]]
    assert listed_rows[0]["listed"] is True
    assert [n["kind"] for n in notices(api, "fgw1")] == ["listed", "task_assigned"]  # newest first

    r = api.post("zr", f"/api/v1/instances/{case['id']}/listed", json={"listed": False})
    assert r.status_code == 200
    detail = api.instance("xfk1", case["id"])
    assert detail["listed"] is False
    assert [h["action"] for h in detail["history"]][-2:] == ["listed", "unlisted"]
    assert api.post("fgw1", f"/api/v1/instances/{case['id']}/listed", json={"listed": True}).status_code == 403


def test_reassign_moves_the_handle_task_to_another_unit(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    case = handling_petition(api)
    task = api.task("fgw1", case["id"], "handle")
    assert api.tasks("cjw1", case["id"]) == []

    assert api.post("fgw1", f"/api/v1/tasks/{task['id']}/reassign", json={"group": "dept_cjw"}).status_code == 403
    r = api.post("msz", f"/api/v1/tasks/{task['id']}/reassign", json={"group": "dept_nope"})
    assert r.status_code == 422
    r = api.post("msz", f"/api/v1/tasks/{task['id']}/reassign", json={"group": "dept_cjw"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["candidate_groups"] == ["dept_cjw"]

    moved = api.task("cjw1", case["id"], "handle")
    assert moved["id"] == task["id"] and moved["candidate_groups"] == ["dept_cjw"]
    assert api.tasks("fgw1", case["id"]) == []
    history = api.instance("msz", case["id"])["history"]
    assert history[-1]["action"] == "reassign" and history[-1]["task"] == "handle"
    assert [n["kind"] for n in notices(api, "cjw1")] == ["reassign"]

    # The new unit can complete it.
    r = api.complete("cjw1", case["id"], "handle", {"outcome": "done", "result": "已办结"})
    assert r.status_code == 200, r.get_json()


def test_board_shows_stalled_then_overdue_cases_by_department(sqlite_api: ApiClient) -> None:
    from service import clock, config_store

    api = sqlite_api
    case = handling_petition(api)
    board = api.get("zr", "/api/v1/supervision/board").get_json()
    assert board["departments"] == [] and board["totals"] == {"overdue": 0, "stalled": 0, "listed": 0, "cases": 0}

    days = int(config_store.get("supervision.stalled_days"))
    advance(api, timedelta(days=days + 1))
    r = api.get("zr", "/api/v1/supervision/board")
    assert r.status_code == 200, r.get_json()
    board = r.get_json()
    assert board["stalled_days"] == days
    (dept,) = board["departments"]
    assert dept["group"] == "dept_fgw" and dept["name"] == "法制工作委员会"
    (row,) = dept["cases"]
    assert row["business_key"] == case["business_key"]
    assert row["stalled"] is True and row["overdue"] is False and row["days_overdue"] == 0
    assert row["stalled_days"] >= days + 1
    assert row["current_steps"] == ["办理"] and row["holders"] == ["法制工作委员会"]
    # A larger N hides it again.
    assert api.get("zr", f"/api/v1/supervision/board?stalled_days={days + 30}").get_json()["departments"] == []

    advance(api, timedelta(days=70 - days - 1))
    board = api.get("zr", "/api/v1/supervision/board").get_json()
    (dept,) = board["departments"]
    (row,) = dept["cases"]
    due = clock.parse_datetime(row["due_at"])
    assert row["overdue"] is True
    assert row["days_overdue"] == (clock.now() - due).days >= 1
    assert dept["overdue"] == 1 and board["totals"]["overdue"] == 1 and board["totals"]["stalled"] == 1


def test_admin_clock_is_404_unless_the_clock_is_virtual(sqlite_api: ApiClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVFLOW_CLOCK", raising=False)
    r = sqlite_api.post("admin", "/api/v1/admin/clock", json={"advance": "P1D"})
    assert r.status_code == 404
    monkeypatch.setenv("GOVFLOW_CLOCK", "real")
    assert sqlite_api.post("admin", "/api/v1/admin/clock", json={"advance": "P1D"}).status_code == 404


def test_admin_clock_advances_the_virtual_clock(sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import clock

    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    api = sqlite_api
    before = clock.now()
    r = api.post("admin", "/api/v1/admin/clock", json={"advance": "P1D"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["offset_seconds"] == 86400 and body["fired"] == 0
    assert clock.parse_datetime(body["now"]) - before.replace(microsecond=0) >= timedelta(days=1)
    api._tokens.clear()  # tokens expire by the (now moved) clock
    assert api.post("msz", "/api/v1/admin/clock", json={"advance": "P1D"}).status_code == 403
    r = api.post("admin", "/api/v1/admin/clock", json={"advance": "tomorrow"})
    assert r.status_code == 422 and r.get_json()["details"][0]["field"] == "advance"
    assert api.post("admin", "/api/v1/admin/clock", json={"advance": "P1M"}).status_code == 422
    assert clock.offset() == timedelta(days=1)


def test_admin_clock_fires_the_reminder_ladder(sqlite_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day past the handling deadline, 提醒 and 催办 have reached the unit. Received on
    2026-12-01, the petition is due at the end of Monday 2027-02-01 (day 60, 2027-01-30, is a
    Saturday: 民法典 203), so 61 days on it is not yet overdue and 63 days on it is."""
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    api = sqlite_api
    case = handling_petition(api)
    assert api.instance("xfk1", case["id"])["due_at"] == "2027-02-01T23:59:59+08:00"
    r = api.post("admin", "/api/v1/admin/clock", json={"advance": "P61D"})
    assert r.status_code == 200, r.get_json()
    api._tokens.clear()
    assert "urge" not in {n["kind"] for n in notices(api, "fgw1") if n["instance_id"] == case["id"]}
    r = api.post("admin", "/api/v1/admin/clock", json={"advance": "P2D"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["fired"] >= 1  # one engine step may pass several due timers of the instance
    api._tokens.clear()  # tokens expire by the (now moved) clock
    kinds = {n["kind"] for n in notices(api, "fgw1") if n["instance_id"] == case["id"]}
    assert {"reminder", "urge"} <= kinds
    urge = next(n for n in notices(api, "fgw1") if n["kind"] == "urge")
    assert case["business_key"] in urge["text"] and "法制工作委员会" in urge["text"]
