"""故障案件 (issue 13 item 6): running cases in trouble listed with the reason — a timer whose step
failed FAILURE_LIMIT times (then no longer polled), a script error in a person's step, a task
whose groups have no active member — and the administrator's repairs, each in the case's history:
retry (after the cause is corrected: the value the failing script reads, supplied with the retry),
move back to a step already done, end with a reason. The diagram is tests/diagrams/incident_test.bpmn
(准备材料 → 核对 script → timer → 计算份额 script → 复核, both tasks offered to the group `unit`)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import ApiClient, done, login, start, text
from serverproc import dept_route
from sqlalchemy import select, update

from service import clock
from service.bootstrap import deploy_bytes
from service.runtime.firing import FAILURE_LIMIT
from service.store.models import History, HumanTask, Instance, Timer

DIAGRAM = Path(__file__).resolve().parent / "diagrams" / "incident_test.bpmn"
INCIDENTS = "/api/v1/incidents"
PROPOSAL = {"proposal": "材料齐全"}


def _svc(api: ApiClient) -> Any:
    return api.app.extensions["govflow"]


def _start(api: ApiClient, **changes: Any) -> int:
    deploy_bytes(_svc(api).runtime, DIAGRAM.read_bytes(), DIAGRAM.name, "admin", skip_known=True)  # once per app
    data = {"unit": "xfk", "fire_at": (clock.now() + timedelta(hours=1)).isoformat(), "total": 100, "parts": 2,
            "check_divisor": 1, **changes}
    r = api.post("admin", "/api/v1/instances", json={"process": "incident_test", "data": data})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _incidents(api: ApiClient, iid: int) -> list[dict[str, Any]]:
    r = api.get("admin", INCIDENTS)
    assert r.status_code == 200, r.get_json()
    return [i for i in r.get_json() if i["instance_id"] == iid]


def _history(api: ApiClient, iid: int, action: str) -> list[History]:
    with _svc(api).db.read() as session:
        return list(session.scalars(select(History).where(History.instance_id == iid, History.action == action)
                                    .order_by(History.id)))


def _timer(api: ApiClient, iid: int) -> Timer:
    with _svc(api).db.read() as session:
        return session.scalars(select(Timer).where(Timer.instance_id == iid).order_by(Timer.id.desc())).first()


def _case(api: ApiClient, iid: int) -> Instance:
    with _svc(api).db.read() as session:
        return session.get(Instance, iid)


def _open(api: ApiClient, iid: int) -> list[tuple[str, str]]:
    with _svc(api).db.read() as session:
        return [tuple(r) for r in session.execute(select(HumanTask.bpmn_id, HumanTask.id).where(
            HumanTask.instance_id == iid, HumanTask.state == "open"))]


def _at_timer(api: ApiClient, **changes: Any) -> int:
    """A case whose 准备材料 is done: it waits at the timer (due in an hour)."""
    iid = _start(api, **changes)
    r = api.complete("xfk1", iid, "prepare", PROPOSAL)
    assert r.status_code == 200, r.get_json()
    return iid


def _fail_timer(api: ApiClient, iid: int, times: int) -> None:
    runtime = _svc(api).runtime
    for _ in range(times):
        assert runtime.fire_due_timers() == 0


def test_a_timer_whose_script_fails_three_times_is_failed_listed_and_fires_after_the_corrected_retry(
        api: ApiClient) -> None:
    iid = _at_timer(api, parts=0)  # 计算份额 divides by parts
    clock.advance(timedelta(hours=2))
    _fail_timer(api, iid, 1)
    timer = _timer(api, iid)
    assert (timer.state, timer.failures) == ("waiting", 1)
    assert _incidents(api, iid) == []  # one failure is not yet an incident: the next poll retries
    _fail_timer(api, iid, FAILURE_LIMIT - 1)
    timer = _timer(api, iid)
    assert (timer.state, timer.failures) == ("failed", 3)
    assert "ZeroDivisionError" in timer.last_error
    # no longer polled: nothing due for the scheduler, a poll does not touch it
    assert _svc(api).runtime.next_timer_due() is None
    _fail_timer(api, iid, 1)
    assert _timer(api, iid).failures == 3

    [incident] = _incidents(api, iid)
    assert incident["kind"] == "timer_failed" and incident["kind_label"] == "定时器失败"
    assert incident["business_key"] == _case(api, iid).business_key
    assert (incident["process"], incident["procedure"], incident["version"]) == ("incident_test", "故障测试", 1)
    assert (incident["step"], incident["step_name"]) == ("wait", "等待到期")
    assert incident["reason"].startswith("定时器“等待到期”已连续失败 3 次，不再自动触发：流程执行出错")
    assert "ZeroDivisionError" in incident["reason"]
    assert incident["timer"]["failures"] == 3 and incident["since"] == clock.iso(timer.due_at)
    assert incident["retryable"] is True
    assert incident["move_targets"] == [{"bpmn_id": "prepare", "name": "准备材料"}]

    # retried before the cause is corrected: fired at once, fails again, counted from 0
    r = api.post("admin", f"{INCIDENTS}/{iid}/retry", json={})
    assert r.status_code == 200, r.get_json()
    [again] = r.get_json()["timers"]
    assert (again["state"], again["failures"]) == ("waiting", 1) and "ZeroDivisionError" in again["last_error"]
    _fail_timer(api, iid, FAILURE_LIMIT - 1)
    assert _timer(api, iid).state == "failed"

    # the administrator supplies the value the script reads: the timer fires and the case moves on
    r = api.post("admin", f"{INCIDENTS}/{iid}/retry", json={"data": {"parts": 4}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "running"
    assert [t["state"] for t in r.get_json()["timers"]] == ["fired"]
    assert [b for b, _id in _open(api, iid)] == ["review"]
    assert api.instance("admin", iid)["data"]["share"] == 25.0
    retries = _history(api, iid, "retry")
    assert [(h.username, h.task_name) for h in retries] == [("admin", "等待到期"), ("admin", "等待到期")]
    assert retries[-1].comment == "管理员重试：定时器“等待到期”（已失败 3 次）重新触发；更正数据 parts"
    assert json.loads(retries[-1].data_before) == {"parts": 0} and json.loads(retries[-1].data_after) == {"parts": 4}
    assert _history(api, iid, "timer")[-1].id > retries[-1].id  # then the firing, as the system's
    assert _incidents(api, iid) == []


def test_a_script_error_in_a_persons_step_is_recorded_on_the_case_and_cleared_by_retry(api: ApiClient) -> None:
    iid = _start(api, check_divisor=0)  # 核对, after 准备材料, divides by check_divisor
    r = api.complete("xfk1", iid, "prepare", PROPOSAL)
    assert r.status_code == 500 and r.get_json()["error"] == "engine_error"
    case = _case(api, iid)
    assert case.error.startswith("办理“准备材料”时流程执行出错，未做任何更改：ZeroDivisionError")
    [incident] = _incidents(api, iid)
    assert clock.iso(case.error_at) == incident["since"]
    # the pinned clock still ticks: the moment recorded is the step's, within the test's seconds
    assert abs((clock.now() - clock.parse_datetime(incident["since"])).total_seconds()) < 30
    assert (incident["kind"], incident["kind_label"], incident["reason"]) == ("engine_error", "脚本出错", case.error)
    assert incident["retryable"] is True and incident["move_targets"] == []  # nothing done yet to go back to
    assert [b for b, _id in _open(api, iid)] == ["prepare"]  # the step's own writes rolled back

    r = api.post("admin", f"{INCIDENTS}/{iid}/retry", json={"data": {"check_divisor": 5}})
    assert r.status_code == 200, r.get_json()
    assert _case(api, iid).error is None and _incidents(api, iid) == []
    [retry] = _history(api, iid, "retry")
    assert retry.username == "admin" and retry.comment.startswith("管理员重试：清除错误记录（办理“准备材料”时")
    assert api.complete("xfk1", iid, "prepare", PROPOSAL).status_code == 200
    assert _timer(api, iid).state == "waiting"


def test_a_recorded_error_is_cleared_by_the_next_successful_step(api: ApiClient) -> None:
    iid = _start(api)
    with _svc(api).db.write() as session:
        session.execute(update(Instance).where(Instance.id == iid).values(error="办理“准备材料”时流程执行出错",
                                                                         error_at=clock.now()))
    assert [i["kind"] for i in _incidents(api, iid)] == ["engine_error"]
    assert api.complete("xfk1", iid, "prepare", PROPOSAL).status_code == 200
    case = _case(api, iid)
    assert (case.error, case.error_at) == (None, None)
    assert _incidents(api, iid) == []


def test_retry_without_a_failure_is_refused_and_changes_nothing(api: ApiClient) -> None:
    iid = _start(api)
    version = _case(api, iid).version
    r = api.post("admin", f"{INCIDENTS}/{iid}/retry", json={})
    assert r.status_code == 409 and r.get_json()["error"] == "repair_refused"
    assert r.get_json()["message"].startswith("该案件没有可重试的故障")
    assert _case(api, iid).version == version and _history(api, iid, "retry") == []
    assert api.post("admin", f"{INCIDENTS}/999999/retry", json={}).status_code == 404


def test_a_task_whose_group_has_no_active_member_is_listed_as_stuck(api: ApiClient) -> None:
    empty = _start(api, unit="county_fengqing_web")  # a group of the organisation without members
    unknown = _start(api, unit="no_such_group")
    staffed = _start(api, unit="county_linxiang_web")  # lxweb1 alone
    [stuck] = _incidents(api, empty)
    assert (stuck["kind"], stuck["kind_label"], stuck["step"], stuck["step_name"]) == \
        ("stuck", "无人办理", "prepare", "准备材料")
    assert stuck["reason"] == "办理组 凤庆县人大网站管理员（county_fengqing_web）没有成员，任务无人办理"
    assert stuck["groups"] == ["county_fengqing_web"] and stuck["retryable"] is False
    assert [i["reason"] for i in _incidents(api, unknown)] == ["办理组 no_such_group 不存在，任务无人办理"]
    assert _incidents(api, staffed) == []

    # a membership suspended (停权) does not count
    r = api.post("admin", "/api/v1/admin/suspensions",
                 json={"username": "lxweb1", "group": "county_linxiang_web", "reason": "多次上传错误稿件"})
    assert r.status_code == 201, r.get_json()
    assert [i["reason"] for i in _incidents(api, staffed)] == \
        ["办理组 临翔区人大网站管理员（county_linxiang_web）的成员均已停权或停用，任务无人办理"]

    # a task held by an active user is not stuck, whatever its group
    with _svc(api).db.write() as session:
        session.execute(update(HumanTask).where(HumanTask.instance_id == empty).values(assignee="xfk1"))
    assert _incidents(api, empty) == []


def test_move_to_an_earlier_step_reopens_it_to_its_group_and_records_the_move(api: ApiClient) -> None:
    iid = _at_timer(api)
    clock.advance(timedelta(hours=2))
    assert _svc(api).runtime.fire_due_timers() == 1
    [(bpmn_id, review_id)] = _open(api, iid)
    assert bpmn_id == "review"

    r = api.post("admin", f"{INCIDENTS}/{iid}/move", json={"step": "prepare", "reason": "材料需补正"})
    assert r.status_code == 200, r.get_json()
    moved = r.get_json()
    assert (moved["status"], moved["step"], moved["step_name"]) == ("running", "prepare", "准备材料")
    # the group gets the step again, as a new task; the 复核 task is closed and recorded
    task = api.task("xfk1", iid, "prepare")
    assert task["id"] == moved["task_id"] and task["candidate_groups"] == ["xfk"]
    with _svc(api).db.read() as session:
        assert session.get(HumanTask, review_id).state == "cancelled"
        done = session.scalars(select(HumanTask.state).where(HumanTask.instance_id == iid,
                                                             HumanTask.bpmn_id == "prepare")).all()
    assert sorted(done) == ["completed", "open"]  # the earlier 准备材料 keeps its record
    [move] = _history(api, iid, "move")
    assert (move.username, move.task_bpmn_id, move.task_name, move.comment) == \
        ("admin", "prepare", "准备材料", "移至“准备材料”：材料需补正")
    [closed] = [h for h in _history(api, iid, "cancelled") if h.task_id == review_id]
    assert closed.comment == "移至“准备材料”，复核任务关闭" and closed.username == "admin"

    # the case runs on from there: its timer is already past due, 复核 opens, then it completes
    assert api.complete("xfk1", iid, "prepare", PROPOSAL).status_code == 200
    assert api.complete("xfk1", iid, "review", PROPOSAL).status_code == 200
    assert _case(api, iid).status == "completed"


def test_a_petition_moved_back_from_secretary_general_approval_to_propose_runs_on(api: ApiClient) -> None:
    iid = start(api)
    for user, bpmn_id, form in dept_route("")[:3]:  # 归纳分类, 拟办意见, 分管领导签阅
        done(api, user, iid, bpmn_id, form)
    assert [t["bpmn_id"] for t in api.tasks("msz", iid)] == ["sg_approve"]
    r = api.post("admin", f"{INCIDENTS}/{iid}/move", json={"step": "propose", "reason": "拟办意见需重拟"})
    assert r.status_code == 200, r.get_json()
    assert api.tasks("msz", iid) == [] and api.task("xfk1", iid, "propose")["id"] == r.get_json()["task_id"]
    for user, bpmn_id, form in dept_route("")[1:4]:  # 拟办意见 again, 分管领导签阅, 秘书长审批
        done(api, user, iid, bpmn_id, form)
    assert api.task("fgw1", iid, "handle")["candidate_groups"] == ["dept_fgw"]
    history = [(h["action"], h["task"]) for h in api.instance("admin", iid)["history"]]
    assert ("move", "propose") in history and ("cancelled", "sg_approve") in history


def test_move_is_offered_only_to_a_step_already_done_before_the_current_one(api: ApiClient) -> None:
    iid = _start(api)
    r = api.post("admin", f"{INCIDENTS}/{iid}/move", json={"step": "review", "reason": "跳过"})
    assert r.status_code == 422
    assert r.get_json()["message"] == "不能移至步骤 review：只能移回本案件已办理过、在当前步骤之前的步骤（可选：无）"
    assert _history(api, iid, "move") == []
    r = api.post("admin", f"{INCIDENTS}/{iid}/move", json={"step": "prepare"})
    assert r.status_code == 422 and r.get_json()["message"] == "请填写移动理由"


def test_end_with_a_reason_terminates_the_case_its_tasks_and_timers(api: ApiClient) -> None:
    at_task = _start(api)
    [(_bpmn, task_id)] = _open(api, at_task)
    refused = api.post("admin", f"{INCIDENTS}/{at_task}/end", json={"reason": "  "})
    assert refused.status_code == 422 and refused.get_json()["message"] == "请填写终止理由"
    too_long = api.post("admin", f"{INCIDENTS}/{at_task}/end", json={"reason": "理" * 501})
    assert too_long.status_code == 422 and too_long.get_json()["message"] == "终止理由不能超过 500 字"
    assert _case(api, at_task).status == "running"

    r = api.post("admin", f"{INCIDENTS}/{at_task}/end", json={"reason": "当事人撤回申请"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": at_task, "status": "terminated"}
    case = _case(api, at_task)
    assert case.status == "terminated" and case.completed_at is not None
    assert _open(api, at_task) == [] and api.tasks("xfk1", at_task) == []
    [end] = _history(api, at_task, "terminate")
    assert (end.username, end.comment) == ("admin", "当事人撤回申请")
    [closed] = _history(api, at_task, "cancelled")
    assert (closed.task_id, closed.comment) == (task_id, "案件终止，准备材料任务关闭")
    shown = api.instance("admin", at_task)
    assert shown["status"] == "terminated" and shown["open_tasks"] == []
    assert (shown["data"]["unit"], shown["data"]["total"]) == ("xfk", 100)  # its data as it stood
    again = api.post("admin", f"{INCIDENTS}/{at_task}/end", json={"reason": "再次终止"})
    assert again.status_code == 409 and again.get_json()["message"] == "案件已终止，不能再终止"

    # a case whose timer failed: the failed timer is cancelled with the case, none left waiting
    at_timer = _at_timer(api, parts=0)
    clock.advance(timedelta(hours=2))
    _fail_timer(api, at_timer, FAILURE_LIMIT)
    assert _timer(api, at_timer).state == "failed"
    assert api.post("admin", f"{INCIDENTS}/{at_timer}/end", json={"reason": "定时器无法修复"}).status_code == 200
    assert _timer(api, at_timer).state == "cancelled"
    assert _incidents(api, at_timer) == []


def test_incidents_are_the_administrators(api: ApiClient) -> None:
    iid = _start(api, unit="county_fengqing_web")
    assert api.get("xfk1", INCIDENTS).status_code == 403
    for action, body in (("retry", {}), ("move", {"step": "prepare", "reason": "x"}), ("end", {"reason": "x"})):
        r = api.post("xfk1", f"{INCIDENTS}/{iid}/{action}", json=body)
        assert r.status_code == 403 and r.get_json()["message"] == "只有系统管理员可以处理故障案件"
    assert _case(api, iid).status == "running"


def test_the_incidents_page_lists_the_case_and_ends_it_with_a_reason(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = _start(api, unit="county_fengqing_web")
    key = _case(api, iid).business_key
    assert login(page_app, "xfk1").get("/admin/incidents").status_code == 403
    admin = login(page_app, "admin")
    page = text(admin.get("/admin/incidents"))
    assert f'data-business-key="{key}"' in page and "办理组 凤庆县人大网站管理员（county_fengqing_web）没有成员" in page
    bad = admin.post(f"/admin/incidents/{iid}/retry", data={"data": "{parts: 4"})
    assert bad.status_code == 422 and "更正数据不是有效的 JSON" in text(bad)
    nothing = admin.post(f"/admin/incidents/{iid}/retry", data={"data": ""})
    assert nothing.status_code == 409 and "该案件没有可重试的故障" in text(nothing)
    refused = admin.post(f"/admin/incidents/{iid}/end", data={"reason": ""})
    assert refused.status_code == 422 and "请填写终止理由" in text(refused)
    r = admin.post(f"/admin/incidents/{iid}/end", data={"reason": "办理组撤销"}, follow_redirects=True)
    assert r.status_code == 200 and "案件已终止" in text(r)
    assert _case(api, iid).status == "terminated"
    assert "没有故障案件" in text(admin.get("/admin/incidents"))
