"""A double click on 登记 (two submits 30 ms apart) registers one case, not two with two numbers:
the API's Idempotency-Key and the pages' one-time submission_token both run through
service.submissions.once (issue "A day's work", item 1)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

from conftest import PETITION, ROAD_PETITION, ApiClient, login, pin_clock, text

KEY_HEADER = "Idempotency-Key"


def _count(app: Any, model: str = "Instance", **where: Any) -> int:
    from sqlalchemy import func, select

    from service.store import models

    table = getattr(models, model)
    query = select(func.count()).select_from(table).filter_by(**where)
    with app.extensions["govflow"].db.read() as session:
        return int(session.execute(query).scalar_one())


def _post(api: ApiClient, user: str, path: str, body: Any, key: str | None) -> Any:
    headers = {**api.headers(user), **({KEY_HEADER: key} if key is not None else {})}
    return api.client.post(path, headers=headers, json=body)


def _together(*calls: Any) -> list[Any]:
    """Run the calls in threads released at the same moment (a Barrier); their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


START = {"process": "petition", "data": PETITION}


# ----- (a) API: start ----------------------------------------------------------------------------


def test_two_concurrent_starts_with_one_key_make_one_case(api: ApiClient) -> None:
    first, second = ApiClient(api.app), ApiClient(api.app)
    first.headers("xfk1"), second.headers("xfk1")  # log in before the race
    a, b = _together(lambda: _post(first, "xfk1", "/api/v1/instances", START, "click-1"),
                     lambda: _post(second, "xfk1", "/api/v1/instances", START, "click-1"))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.get_json() == b.get_json()
    assert set(a.get_json()) >= {"id", "business_key", "status"}
    assert _count(api.app, process_key="petition") == 1
    assert _count(api.app, "Submission") == 1

    later = _post(api, "xfk1", "/api/v1/instances", START, "click-1")
    assert later.status_code == 201
    assert later.get_data() == a.get_data()
    assert _count(api.app, process_key="petition") == 1

    other_key = _post(api, "xfk1", "/api/v1/instances", START, "click-2")
    assert other_key.status_code == 201
    assert other_key.get_json()["id"] != a.get_json()["id"]
    other_user = _post(api, "xfk2", "/api/v1/instances", START, "click-1")
    assert other_user.status_code == 201
    assert len({a.get_json()["id"], other_key.get_json()["id"], other_user.get_json()["id"]}) == 3
    assert _count(api.app, process_key="petition") == 3


def test_a_refused_start_releases_the_key_for_the_corrected_one(api: ApiClient) -> None:
    bad = {"process": "petition", "data": {**PETITION, "subject": ""}}
    refused = _post(api, "xfk1", "/api/v1/instances", bad, "form-7")
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "invalid"
    assert _count(api.app, "Submission") == 0
    corrected = _post(api, "xfk1", "/api/v1/instances", START, "form-7")
    assert corrected.status_code == 201
    again = _post(api, "xfk1", "/api/v1/instances", START, "form-7")
    assert (again.status_code, again.get_json()) == (201, corrected.get_json())
    assert _count(api.app, process_key="petition") == 1


def test_without_the_header_every_start_is_a_case_and_bad_keys_are_400(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    assert _post(api, "xfk1", "/api/v1/instances", START, None).status_code == 201
    assert _post(api, "xfk1", "/api/v1/instances", START, None).status_code == 201
    assert _count(api.app, process_key="petition") == 2
    assert _count(api.app, "Submission") == 0
    too_long = _post(api, "xfk1", "/api/v1/instances", START, "k" * 201)
    assert too_long.status_code == 400
    assert too_long.get_json() == {"error": "bad_request", "message": "Idempotency-Key 须为 1 至 200 个字符",
                                   "details": []}
    assert _post(api, "xfk1", "/api/v1/instances", START, "k" * 200).status_code == 201
    assert _count(api.app, process_key="petition") == 3


def test_a_key_older_than_24_hours_is_forgotten(sqlite_api: ApiClient) -> None:
    from service import clock

    api = sqlite_api
    first = _post(api, "xfk1", "/api/v1/instances", START, "old")
    pin_clock(clock.now() + timedelta(hours=24, minutes=1))
    second = _post(api, "xfk1", "/api/v1/instances", START, "old")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["id"] != first.get_json()["id"]
    assert _count(api.app, process_key="petition") == 2
    assert _count(api.app, "Submission") == 1  # the expired one was purged


# ----- (b) API: complete -------------------------------------------------------------------------


def test_complete_twice_with_one_key_completes_once(api: ApiClient) -> None:
    iid = int(_post(api, "xfk1", "/api/v1/instances", START, None).get_json()["id"])
    task = api.task("xfk1", iid, "classify")
    body = {"data": {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}}
    path = f"/api/v1/tasks/{task['id']}/complete"
    first = _post(api, "xfk1", path, body, "done-1")
    second = _post(api, "xfk1", path, body, "done-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_data() == first.get_data()
    assert _count(api.app, "History", task_id=task["id"], action="complete") == 1
    # without the key the repeat is refused as today: the task is no longer open
    assert _post(api, "xfk1", path, body, None).status_code == 409


# ----- (c) pages ---------------------------------------------------------------------------------


def _token(page: str, action: str | None = None) -> str:
    """The page's one form token; with `action`, the token of the form posting there (a task's
    page has other forms beside it, e.g. 附件)."""
    if action is not None:
        page = page[page.index(f'action="{action}"'):]
        return re.findall(r'name="submission_token" value="([^"]+)"', page)[0]
    found = re.findall(r'name="submission_token" value="([^"]+)"', page)
    assert len(found) == 1, found
    return found[0]


def test_a_double_click_on_the_register_page_makes_one_case(page_app: Any) -> None:
    one, two = login(page_app, "xfk1"), login(page_app, "xfk1")
    token = _token(text(one.get("/petitions/new")))
    form = {**ROAD_PETITION, "submission_token": token}
    a, b = _together(lambda: one.post("/petitions/new", data=form), lambda: two.post("/petitions/new", data=form))
    assert (a.status_code, b.status_code) == (302, 302)
    assert a.headers["Location"] == b.headers["Location"]
    assert re.fullmatch(r"/instances/\d+", a.headers["Location"])
    assert _count(page_app, process_key="petition") == 1
    shown = [text(c.get(a.headers["Location"])) for c in (one, two)]
    numbers = [re.search(r"已登记，编号 ([A-Z0-9-]+)", s) for s in shown]
    assert all(numbers) and numbers[0].group(1) == numbers[1].group(1)  # type: ignore[union-attr]


def test_a_refused_form_keeps_its_token_and_old_forms_still_work(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    token = _token(text(client.get("/petitions/new")))
    refused = client.post("/petitions/new", data={**ROAD_PETITION, "subject": "", "submission_token": token})
    assert refused.status_code == 422
    assert _token(text(refused)) == token  # the corrected form is the same submission
    ok = client.post("/petitions/new", data={**ROAD_PETITION, "submission_token": token})
    again = client.post("/petitions/new", data={**ROAD_PETITION, "submission_token": token})
    assert (ok.status_code, again.status_code) == (302, 302)
    assert again.headers["Location"] == ok.headers["Location"]
    assert _count(page_app, process_key="petition") == 1
    cached = client.post("/petitions/new", data=ROAD_PETITION)  # a page rendered before tokens
    assert cached.status_code == 302
    assert cached.headers["Location"] != ok.headers["Location"]
    assert _count(page_app, process_key="petition") == 2


def test_a_double_click_on_the_task_form_completes_once(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    client.post("/petitions/new", data=ROAD_PETITION)
    api = ApiClient(page_app)
    iid = api.tasks("xfk1", bpmn_id="classify")[0]["instance_id"]
    task_id = api.task("xfk1", iid, "classify")["id"]
    token = _token(text(client.get(f"/tasks/{task_id}")), f"/tasks/{task_id}")
    form = {"category": "行政", "route": "own", "submission_token": token}
    first = client.post(f"/tasks/{task_id}", data=form)
    second = client.post(f"/tasks/{task_id}", data=form)
    assert (first.status_code, second.status_code) == (302, 302)
    assert first.headers["Location"] == second.headers["Location"] == "/tasks"
    assert "已办理" in text(client.get("/tasks"))
    assert _count(page_app, "History", task_id=task_id, action="complete") == 1


# ----- once() itself -----------------------------------------------------------------------------


def test_a_second_caller_waits_for_the_first_answer_and_never_runs_the_action(sqlite_app: Any) -> None:
    from service.submissions import once

    db = sqlite_app.extensions["govflow"].db
    started, finish = threading.Event(), threading.Event()
    runs: list[str] = []
    answers: dict[str, Any] = {}

    def slow() -> tuple[int, str]:
        runs.append("first")
        started.set()
        assert finish.wait(10)
        return 201, '{"id": 1}'

    def second() -> tuple[int, str]:
        runs.append("second")
        return 500, "never"

    first = threading.Thread(target=lambda: answers.setdefault("first", once(db, "xfk1", "k", slow)))
    first.start()
    assert started.wait(10)
    waiting = threading.Thread(target=lambda: answers.setdefault("second", once(db, "xfk1", "k", second)))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # still waiting for the first answer
    finish.set()
    first.join(10)
    waiting.join(10)
    assert answers == {"first": (201, '{"id": 1}'), "second": (201, '{"id": 1}')}
    assert runs == ["first"]


def test_a_failed_action_releases_the_key(sqlite_app: Any) -> None:
    import pytest

    from service.errors import EngineFailure, Invalid
    from service.submissions import once

    db = sqlite_app.extensions["govflow"].db

    def refuse() -> tuple[int, str]:
        raise Invalid("表单填写有误")

    def crash() -> tuple[int, str]:
        raise EngineFailure("脚本出错")

    with pytest.raises(Invalid):
        once(db, "xfk1", "k", refuse)
    with pytest.raises(EngineFailure):
        once(db, "xfk1", "k", crash)
    assert _count(sqlite_app, "Submission") == 0
    assert once(db, "xfk1", "k", lambda: (200, "ok")) == (200, "ok")
    assert once(db, "xfk1", "k", lambda: (500, "again")) == (200, "ok")
