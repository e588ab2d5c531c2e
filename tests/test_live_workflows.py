"""A workflow kept in memory between steps (service.engine.live) is exactly the stored state, and
a process never works on a version another process has since moved past."""

from __future__ import annotations

import json
from typing import Any

from conftest import PETITION, ApiClient, make_app
from sqlalchemy import select

from service.engine import dump_state
from service.store.models import InstanceState
from workflows.petition_sample import dept_route

DEPT_ROUTE = dept_route()[:5]  # classify … handle


def stored_state(app: Any, iid: int) -> dict[str, Any]:
    db = app.extensions["govflow"].db
    with db.read() as session:
        return json.loads(session.scalars(select(InstanceState.state).where(InstanceState.instance_id == iid)).one())


def test_workflow_kept_in_memory_equals_the_stored_state_after_every_step(api: ApiClient) -> None:
    live = api.app.extensions["govflow"].runtime.live
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    for user, bpmn_id, form in DEPT_ROUTE:
        assert api.complete(user, iid, bpmn_id, form).status_code == 200
        version, _key, wf = live._items[iid]
        assert json.loads(json.dumps(dump_state(wf), ensure_ascii=False, default=str)) == stored_state(api.app, iid)
    assert live.hits >= len(DEPT_ROUTE)


def test_a_process_whose_copy_is_outdated_reloads_the_newer_version(db_url: str) -> None:
    """Two workers on one database: each keeps its own copies; whoever moved the case on last
    wins, the other must notice its copy is stale and read the stored state."""
    one, two = make_app(db_url), make_app(db_url)
    api_one, api_two = ApiClient(one), ApiClient(two)
    r = api_one.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    live_one = one.extensions["govflow"].runtime.live
    assert iid in live_one._items  # worker one keeps version 1

    # worker two moves the case on twice
    for user, bpmn_id, form in DEPT_ROUTE[:2]:
        assert api_two.complete(user, iid, bpmn_id, form).status_code == 200
    misses = live_one.misses
    # worker one's copy (version 1) is stale: it reloads and completes the step now open
    user, bpmn_id, form = DEPT_ROUTE[2]
    r = api_one.complete(user, iid, bpmn_id, form)
    assert r.status_code == 200, r.get_json()
    assert live_one.misses == misses + 1
    assert [t["bpmn_id"] for t in r.get_json()["instance"]["open_tasks"]] == ["sg_approve"]
    detail = api_two.instance("xfk1", iid)
    assert [h["task"] for h in detail["history"] if h["action"] == "complete"] == \
        ["classify", "propose", "leader_sign"]
    # and the stored state is the one both agree on
    version, _key, wf = live_one._items[iid]
    assert json.loads(json.dumps(dump_state(wf), ensure_ascii=False, default=str)) == stored_state(two, iid)


def listed_columns(app: Any, iid: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The instance row's listed columns as stored, and as the stored state says they must be."""
    from service import clock
    from service.store.models import Instance

    runtime = app.extensions["govflow"].runtime
    with app.extensions["govflow"].db.read() as session:
        inst = session.get(Instance, iid)
        assert inst is not None
        stored = (inst.status, inst.handling_group, inst.due_at, inst.title)
        wf, _model = runtime._load(session, inst)
        values = runtime._instance_values(inst.process_key, wf, clock.now())
    due = values["due_at"]
    stored_due = stored[2]  # SQLite: Beijing time without a zone; PostgreSQL: with one
    if stored_due is not None and stored_due.tzinfo is not None:
        stored_due = stored_due.astimezone(clock.BEIJING)
    stored_due = stored_due.replace(tzinfo=None) if stored_due is not None else None
    wanted_due = due.astimezone(clock.BEIJING).replace(tzinfo=None) if due is not None else None
    return ((stored[0], stored[1], stored_due, stored[3]),
            (values["status"], values["handling_group"], wanted_due, values["title"]))


def test_listed_columns_match_the_state_after_every_step_kept_or_reloaded(db_url: str) -> None:
    """A step on a kept workflow sets the listed columns (status, handling group, due date, title)
    only when they change; whether each step ran on a kept copy or one reloaded after another
    worker's step, the row always says what the stored state says."""
    one, two = make_app(db_url), make_app(db_url)
    apis = [ApiClient(one), ApiClient(two)]
    r = apis[0].post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = r.get_json()["id"]
    seen = set()
    # two steps on one worker (the second on its kept copy), then the other worker (a reload), …
    for n, (user, bpmn_id, form) in enumerate(dept_route()):
        app = [one, one, two, two][n % 4]
        assert ApiClient(app).complete(user, iid, bpmn_id, form).status_code == 200
        stored, wanted = listed_columns(app, iid)
        assert stored == wanted, (bpmn_id, stored, wanted)
        seen.add(stored[1])
    assert len(seen) == 2  # the handling group did move along the route (none, then the department)
