"""One database transaction per command (ARCHITECTURE.md, data flow): a conflicting concurrent
completion gets 409 and changes nothing, business keys stay unique and gap-free under concurrent
registration, and a process killed before commit leaves the previous state — on PostgreSQL and
on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient, make_app
from sqlalchemy import func, select

from service import clock
from service.actors import Actor
from service.bootstrap import deploy_bytes
from service.errors import Conflict
from service.runtime import Runtime
from service.store.models import History, HumanTask, Instance, Timer

REPO = Path(__file__).resolve().parent.parent
XFK1 = Actor("xfk1", "信访科 张科员", frozenset({"xfk"}))
XFK2 = Actor("xfk2", "信访科 李科员", frozenset({"xfk"}))


@pytest.fixture(autouse=True)
def _march_2026() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING)
    clock.set_offset(at - (clock.now() - clock.offset()))


@pytest.fixture
def tx_app(app: Any) -> Any:
    """conftest's app: on SQLite and on PostgreSQL."""
    return app


@pytest.fixture
def pg_app(pg_url: str) -> Any:
    app = make_app(pg_url)
    yield app
    app.extensions["govflow"].db.dispose()


def runtime(app: Any) -> Runtime:
    return app.extensions["govflow"].runtime


def start(api: ApiClient) -> int:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def snapshot(app: Any, iid: int) -> dict[str, Any]:
    """Everything a command writes for an instance, straight from the tables."""
    with app.extensions["govflow"].db.read() as session:
        inst = session.get(Instance, iid)
        assert inst is not None
        return {
            "version": inst.version,
            "status": inst.status,
            "state": inst.state,
            "handling_group": inst.handling_group,
            "tasks": sorted((t.id, t.bpmn_id, t.state) for t in session.scalars(
                select(HumanTask).where(HumanTask.instance_id == iid))),
            "timers": sorted((t.id, t.state) for t in session.scalars(select(Timer).where(Timer.instance_id == iid))),
            "history": session.scalar(select(func.count()).select_from(History).where(History.instance_id == iid)),
        }


def completions(app: Any, task_id: str) -> int:
    with app.extensions["govflow"].db.read() as session:
        return int(session.scalar(select(func.count()).select_from(History).where(
            History.task_id == task_id, History.action == "complete")) or 0)


# ---- two completions of the same task at the same moment ------------------------------------------


def test_same_task_completed_twice_at_once_one_wins_the_other_gets_409(tx_app: Any) -> None:
    api = ApiClient(tx_app)
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    before = snapshot(tx_app, iid)
    headers = {user: api.headers(user) for user in ("xfk1", "xfk2")}
    forms = {"xfk1": {"category": "行政", "route": "own"}, "xfk2": {"category": "其他", "route": "reject"}}
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, tuple[int, Any]] = {}

    def complete(user: str) -> None:
        client = tx_app.test_client()
        barrier.wait()
        r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": forms[user]}, headers=headers[user])
        results[user] = (r.status_code, r.get_json())

    threads = [threading.Thread(target=complete, args=(user,)) for user in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(code for code, _ in results.values()) == [200, 409], results
    winner = next(user for user, (code, _) in results.items() if code == 200)
    loser = next(user for user, (code, _) in results.items() if code == 409)
    assert results[loser][1]["error"] == "conflict"

    after = snapshot(tx_app, iid)
    assert after["version"] == before["version"] + 1
    assert completions(tx_app, task["id"]) == 1
    detail = api.instance("xfk1", iid)
    assert detail["data"]["route"] == forms[winner]["route"]
    expected_next = "propose" if forms[winner]["route"] == "own" else "reply"
    assert [t["bpmn_id"] for t in detail["open_tasks"]] == [expected_next]
    assert [h["user"] for h in detail["history"] if h["task"] == "classify"] == [winner]


def race_inside_transactions(monkeypatch: pytest.MonkeyPatch, calls: dict[str, Any]) -> dict[str, Any]:
    """Run Runtime commands in threads that all hold their loaded state before any of them saves."""
    barrier = threading.Barrier(len(calls), timeout=30)
    original = Runtime._run

    def run_after_everyone_loaded(self: Runtime, wf: Any, action: Any) -> Any:
        if threading.current_thread().name.startswith("racer-"):
            barrier.wait()
        return original(self, wf, action)

    monkeypatch.setattr(Runtime, "_run", run_after_everyone_loaded)
    results: dict[str, Any] = {}

    def call(name: str) -> None:
        try:
            results[name] = calls[name]()
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            results[name] = exc

    threads = [threading.Thread(target=call, args=(name,), name=f"racer-{name}") for name in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(Runtime, "_run", original)
    return results


def test_postgresql_both_loaded_before_either_saves_exactly_one_commits(
    pg_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = ApiClient(pg_app)
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    before = snapshot(pg_app, iid)
    rt = runtime(pg_app)
    results = race_inside_transactions(monkeypatch, {
        "xfk1": lambda: rt.complete(task["id"], {"category": "行政", "route": "own"}, XFK1),
        "xfk2": lambda: rt.complete(task["id"], {"category": "其他", "route": "reject"}, XFK2),
    })
    conflicts = [r for r in results.values() if isinstance(r, Conflict)]
    wins = [r for r in results.values() if isinstance(r, dict)]
    assert len(conflicts) == 1 and len(wins) == 1, results
    assert snapshot(pg_app, iid)["version"] == before["version"] + 1
    assert completions(pg_app, task["id"]) == 1


def test_postgresql_two_colleagues_claiming_at_once_one_gets_409(
    pg_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """签收 is one person's: when both read the task as unclaimed, the second claim must not win too."""
    api = ApiClient(pg_app)
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    rt = runtime(pg_app)
    barrier = threading.Barrier(2, timeout=30)
    original = Runtime._open_task

    def open_task_then_wait(self: Runtime, session: Any, task_id: str) -> Any:
        row = original(self, session, task_id)
        if threading.current_thread().name.startswith("racer-"):
            barrier.wait()
        return row

    monkeypatch.setattr(Runtime, "_open_task", open_task_then_wait)
    results: dict[str, Any] = {}

    def claim(actor: Actor) -> None:
        try:
            results[actor.username] = rt.claim(task["id"], actor)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            results[actor.username] = exc

    threads = [threading.Thread(target=claim, args=(a,), name=f"racer-{a.username}") for a in (XFK1, XFK2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    monkeypatch.setattr(Runtime, "_open_task", original)
    winners = [name for name, r in results.items() if isinstance(r, dict)]
    assert len(winners) == 1, results
    assert isinstance(results[({"xfk1", "xfk2"} - set(winners)).pop()], Conflict)
    assert api.task(winners[0], iid, "classify")["assignee"] == winners[0]
    claims = [h["user"] for h in api.instance("xfk1", iid)["history"] if h["action"] == "claim"]
    assert claims == winners


PARALLEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_parallel"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="parallel_sign" name="会签" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="fork"><bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:userTask id="sign_a" name="会签甲" camunda:formKey="petition_propose" camunda:candidateGroups="xfk">
      <bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>ja</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="sign_b" name="会签乙" camunda:formKey="petition_propose" camunda:candidateGroups="xfk">
      <bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>jb</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>ja</bpmn:incoming><bpmn:incoming>jb</bpmn:incoming>
      <bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
    <bpmn:sequenceFlow id="fa" sourceRef="fork" targetRef="sign_a"/>
    <bpmn:sequenceFlow id="fb" sourceRef="fork" targetRef="sign_b"/>
    <bpmn:sequenceFlow id="ja" sourceRef="sign_a" targetRef="join"/>
    <bpmn:sequenceFlow id="jb" sourceRef="sign_b" targetRef="join"/>
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_postgresql_version_check_refuses_a_lost_update_on_parallel_tasks(
    pg_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two different tasks of one instance: only the instance's version column can catch the race
    (one attempt each; Runtime.complete then retries the loser inside the server, API.md)."""
    rt = runtime(pg_app)
    deploy_bytes(rt, PARALLEL, "parallel.bpmn", "admin")
    iid = rt.start("parallel_sign", {}, XFK1)["id"]
    tasks = {t.bpmn_id: t.id for t in _open(pg_app, iid)}
    assert set(tasks) == {"sign_a", "sign_b"}
    before = snapshot(pg_app, iid)
    results = race_inside_transactions(monkeypatch, {
        "sign_a": lambda: rt._complete_once(tasks["sign_a"], {"proposal": "同意"}, XFK1),
        "sign_b": lambda: rt._complete_once(tasks["sign_b"], {"proposal": "同意"}, XFK2),
    })
    lost = [name for name, r in results.items() if isinstance(r, Conflict)]
    won = [name for name, r in results.items() if isinstance(r, dict)]
    assert len(lost) == 1 and len(won) == 1, results
    after = snapshot(pg_app, iid)
    assert after["version"] == before["version"] + 1
    assert completions(pg_app, tasks[lost[0]]) == 0
    assert [t.bpmn_id for t in _open(pg_app, iid)] == lost
    # the loser tries again and the join completes the instance: nothing was lost
    assert rt.complete(tasks[lost[0]], {"proposal": "同意"}, XFK2)["instance"]["status"] == "completed"
    assert snapshot(pg_app, iid)["version"] == before["version"] + 2


def test_parallel_tasks_completed_at_once_are_both_kept(tx_app: Any) -> None:
    rt = runtime(tx_app)
    deploy_bytes(rt, PARALLEL, "parallel.bpmn", "admin")
    iid = rt.start("parallel_sign", {}, XFK1)["id"]
    tasks = {t.bpmn_id: t.id for t in _open(tx_app, iid)}
    before = snapshot(tx_app, iid)
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[Any] = []

    def complete(task_id: str, actor: Actor) -> None:
        barrier.wait()
        for _ in range(5):  # a 409 is retried, as a person would after refreshing
            try:
                outcomes.append(rt.complete(task_id, {"proposal": "同意"}, actor))
                return
            except Conflict:
                time.sleep(0.05)

    threads = [threading.Thread(target=complete, args=(tasks["sign_a"], XFK1)),
               threading.Thread(target=complete, args=(tasks["sign_b"], XFK2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(outcomes) == 2
    after = snapshot(tx_app, iid)
    assert after["status"] == "completed"
    assert after["version"] == before["version"] + 2
    assert completions(tx_app, tasks["sign_a"]) == 1 and completions(tx_app, tasks["sign_b"]) == 1


def _open(app: Any, iid: int) -> list[HumanTask]:
    with app.extensions["govflow"].db.read() as session:
        return list(session.scalars(select(HumanTask).where(HumanTask.instance_id == iid, HumanTask.state == "open")
                                    .order_by(HumanTask.bpmn_id)))


# ---- 统一编号 under concurrent registration -------------------------------------------------------


def test_concurrent_registrations_get_unique_gap_free_numbers(tx_app: Any) -> None:
    api = ApiClient(tx_app)
    headers = {user: api.headers(user) for user in ("xfk1", "xfk2")}
    barrier = threading.Barrier(4, timeout=30)
    keys: list[str] = []
    failures: list[Any] = []
    lock = threading.Lock()

    def register(user: str) -> None:
        client = tx_app.test_client()
        barrier.wait()
        for _ in range(10):
            r = client.post("/api/v1/instances", json={"process": "petition", "data": PETITION},
                            headers=headers[user])
            with lock:
                (keys if r.status_code == 201 else failures).append(
                    r.get_json()["business_key"] if r.status_code == 201 else (r.status_code, r.get_json()))

    threads = [threading.Thread(target=register, args=(user,)) for user in ("xfk1", "xfk2", "xfk1", "xfk2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert len(keys) == 40
    assert sorted(keys) == [f"XF-2026-{n:06d}" for n in range(1, 41)]
    with tx_app.extensions["govflow"].db.read() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 40


def test_refused_registration_uses_no_number(tx_app: Any) -> None:
    api = ApiClient(tx_app)
    bad = {**PETITION, "petitioner_id_number": "12345"}
    assert api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": bad}).status_code == 422
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.get_json()["business_key"] == "XF-2026-000001"


# ---- a crash between load and commit ------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time

    from service import clock
    from service.actors import Actor
    from service.bootstrap import install_procedures
    from service.runtime import Runtime
    from service.store.db import Database

    url, task_id, signal_path, now = sys.argv[1:5]
    clock.start_from(clock.parse_datetime(now))  # the parent's moment, whatever the real date
    install_procedures()  # as every entry point does
    original = Runtime._save

    def save_then_hang(self, session, *args, **kwargs):
        original(self, session, *args, **kwargs)
        session.flush()  # every row of the command is written, none committed
        with open(signal_path, "w") as f:
            f.write("inside the transaction")
        time.sleep(600)

    Runtime._save = save_then_hang
    Runtime(Database(url)).complete(task_id, {"category": "行政", "route": "own"},
                                    Actor("xfk1", "信访科", frozenset({"xfk"})))
    print("committed", flush=True)
""")


def test_process_killed_before_commit_leaves_the_previous_state(tx_app: Any, tmp_path: Path) -> None:
    api = ApiClient(tx_app)
    iid = start(api)
    task = api.task("xfk1", iid, "classify")
    before = snapshot(tx_app, iid)
    script = tmp_path / "complete_and_hang.py"
    script.write_text(CHILD, encoding="utf-8")
    flag = tmp_path / "inside_transaction"
    url = tx_app.extensions["govflow"].settings.database_url
    child = subprocess.Popen(
        [sys.executable, str(script), url, task["id"], str(flag), clock.now().isoformat()],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            if child.poll() is not None:
                pytest.fail(f"child ended before reaching the transaction: {child.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("child did not reach the transaction in time")
            time.sleep(0.05)
        # while the child sits inside its transaction, nothing of it is visible
        assert snapshot(tx_app, iid) == before
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    out, _err = child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert "committed" not in out

    assert snapshot(tx_app, iid) == before
    assert completions(tx_app, task["id"]) == 0
    assert api.task("xfk1", iid, "classify")["id"] == task["id"]

    r = api.post("xfk1", f"/api/v1/tasks/{task['id']}/complete", json={"data": {"category": "行政", "route": "own"}})
    assert r.status_code == 200, r.get_json()
    after = snapshot(tx_app, iid)
    assert after["version"] == before["version"] + 1
    assert completions(tx_app, task["id"]) == 1
    assert [t["bpmn_id"] for t in api.instance("xfk1", iid)["open_tasks"]] == ["propose"]
