"""What timers do shows on the case, and timers are not activity (issue "A day's work", items 2,
3, 9): every firing, notice and task a timer step makes is a history row of the system; stalled
counts days since a person's step, only while a person's task is open; a completion racing timer
batches on the same cases is retried inside the server (no 409, no deadlock)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from conftest import ApiClient, done
from sqlalchemy import select
from test_petition_ladder import advance_past, ladder, plus, to_handle

from service import clock
from service.store.models import HumanTask, Notice, Timer
from service.timers import fire_all_due


def _history(api: ApiClient, iid: int) -> list[dict[str, Any]]:
    return api.instance("xfk1", iid)["history"]


def test_every_rung_fired_in_one_jump_its_notices_and_the_explain_task_are_history_rows(api: ApiClient) -> None:
    iid, key, due = to_handle(api)
    advance_past(api, plus(due, 7))
    api._tokens.clear()
    rows = [h for h in _history(api, iid) if h["user"] == "system"]
    assert [(h["action"], h["task_name"]) for h in rows] == [
        ("timer", "期限前10日提醒"), ("timer", "到期催办"), ("timer", "超期7日要求汇报"),
        ("notice", "提醒"), ("notice", "催办"), ("notice", "要求汇报"),
        ("task_opened", "书面汇报超期原因"),
    ]
    notice_rows = [h for h in rows if h["action"] == "notice"]
    assert [h["data"] for h in notice_rows] == [
        {"kind": "reminder", "recipients": ["dept_fgw"]},
        {"kind": "urge", "recipients": ["dept_fgw", "xfk"]},
        {"kind": "report_required", "recipients": ["dept_fgw", "xfk"]},
    ]
    with api.app.extensions["govflow"].db.read() as session:
        texts = list(dict.fromkeys(n.text for n in session.scalars(
            select(Notice).where(Notice.instance_id == iid, Notice.kind != "task_assigned")  # 新待办: no history row
            .order_by(Notice.id))))
        states = sorted((t.name, t.state) for t in session.scalars(select(Timer).where(Timer.instance_id == iid))
                        if not t.name.startswith("分流"))
    assert [h["comment"] for h in notice_rows] == texts
    assert key in texts[2] and "已超期7天" in texts[2]
    opened = rows[-1]
    assert opened["task"] == "explain" and opened["data"] == {"candidate_groups": ["dept_fgw"], "assignee": None}
    # the three rungs fired (not cancelled): each once; the fourth still waits
    assert states == [("到期催办", "fired"), ("期限前10日提醒", "fired"), ("超期15日建议联合调查", "waiting"),
                      ("超期7日要求汇报", "fired")]


def test_case_page_timeline_shows_the_system_notices_and_opened_task(page_app: Any) -> None:
    from conftest import login, text

    api = ApiClient(page_app)
    iid, _key, due = to_handle(api)
    advance_past(api, plus(due, 7))
    page = text(login(api.app, "xfk1").get(f"/instances/{iid}"))
    assert page.count("发出通知") == 3 and page.count("生成任务") == 1
    assert "定时器触发" in page


def _board_case(api: ApiClient, iid: int) -> dict[str, Any] | None:
    r = api.get("msz", "/api/v1/supervision/board?stalled_days=30")
    assert r.status_code == 200, r.get_json()
    found = [c for d in r.get_json()["departments"] for c in d["cases"] if c["id"] == iid]
    return found[0] if found else None


def _stalled_ids(api: ApiClient) -> list[int]:
    r = api.get("xfk1", "/api/v1/instances?stalled_days=30")
    assert r.status_code == 200, r.get_json()
    return [row["id"] for row in r.get_json()]


def test_stalled_counts_days_since_a_persons_step_while_timers_fire(api: ApiClient) -> None:
    iid, _key, due = to_handle(api)
    runtime = api.app.extensions["govflow"].runtime
    for _day in range(70):  # seventy days at 办理, the ladder firing on its days
        clock.advance(timedelta(days=1))
        fire_all_due(runtime)
    api._tokens.clear()
    rungs = [r["name"] for r in ladder(due) if clock.parse_datetime(r["due_at"]) <= clock.now()]
    assert len(rungs) >= 3  # the reminder, the urge and the report fired on the way
    assert [h["task_name"] for h in _history(api, iid) if h["action"] == "timer"] == rungs
    case = _board_case(api, iid)
    assert case is not None
    assert case["stalled"] is True and case["stalled_days"] == 70
    assert _stalled_ids(api) == [iid]


def test_a_replied_case_waiting_in_its_review_window_is_not_stalled(api: ApiClient) -> None:
    iid, _key, _due = to_handle(api)
    done(api, "fgw1", iid, "handle", {"outcome": "done", "result": "已办结"})
    done(api, "xfk1", iid, "review_result", {"decision": "accept"})
    done(api, "xfk1", iid, "reply", {"reply_text": "答复如下", "replied_at": clock.now().date().isoformat(),
                                     "delivery": "邮寄"})
    assert api.instance("xfk1", iid)["open_tasks"] == []
    clock.advance(timedelta(days=70))  # its window's timer not fired yet: the case still waits
    api._tokens.clear()
    assert api.instance("xfk1", iid)["status"] == "running"
    assert _board_case(api, iid) is None
    assert _stalled_ids(api) == []
    r = api.get("msz", "/api/v1/supervision/board?stalled_days=30")
    assert r.get_json()["totals"]["stalled"] == 0


CASES = 10


def test_completions_racing_timer_batches_on_the_same_cases_all_succeed_once(
        api: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    govflow = api.app.extensions["govflow"]
    cases = [to_handle(api) for _ in range(CASES)]
    dues = {due for _iid, _key, due in cases}
    assert len(dues) == 1  # every case's rungs fall due at the same moments
    due = dues.pop()
    tasks = {iid: api.task("fgw1", iid, "handle")["id"] for iid, _key, _due in cases}
    clock.advance(clock.parse_datetime(plus(due, 7)) + timedelta(minutes=1) - clock.now())
    api._tokens.clear()
    answers: dict[int, tuple[int, Any]] = {}
    stop = threading.Event()
    barrier = threading.Barrier(CASES + 1)
    fired: list[int] = []

    def complete(iid: int) -> None:
        client = ApiClient(api.app)
        client.headers("fgw1")
        barrier.wait()
        r = client.post("fgw1", f"/api/v1/tasks/{tasks[iid]}/complete",
                        json={"data": {"outcome": "done", "result": "已办结"}})
        answers[iid] = (r.status_code, r.get_json())

    def fire() -> None:
        barrier.wait()
        while not stop.is_set():
            fired.append(govflow.runtime.fire_due_timers(limit=3))
        fired.append(govflow.runtime.fire_due_timers())

    workers = [threading.Thread(target=complete, args=(iid,)) for iid in tasks]
    firer = threading.Thread(target=fire)
    for thread in [*workers, firer]:
        thread.start()
    for thread in workers:
        thread.join(60)
    stop.set()
    firer.join(60)
    assert {iid: status for iid, (status, _body) in answers.items()} == dict.fromkeys(tasks, 200), answers
    with govflow.db.read() as session:
        handled = {t.id: (t.state, t.completed_by) for t in session.scalars(
            select(HumanTask).where(HumanTask.id.in_(list(tasks.values()))))}
        timers = list(session.scalars(select(Timer).where(Timer.instance_id.in_(list(tasks)))))
        notes = list(session.scalars(select(Notice).where(Notice.instance_id.in_(list(tasks)))))
    assert handled == dict.fromkeys(tasks.values(), ("completed", "fgw1"))
    assert {t.state for t in timers} <= {"fired", "cancelled"}
    fired_rows = [t for t in timers if t.state == "fired"]
    assert sum(fired) == len({(t.instance_id) for t in fired_rows})  # one claimed row per case step
    for iid in tasks:  # each fired rung sent its notice once
        rungs = {t.name for t in fired_rows if t.instance_id == iid}
        kinds = [n.kind for n in notes if n.instance_id == iid]
        assert kinds.count("reminder") == int("期限前10日提醒" in rungs)
        assert kinds.count("report_required") == 2 * int("超期7日要求汇报" in rungs)
    logged = " ".join(r.getMessage() for r in caplog.records).lower()
    assert "deadlock" not in logged
