"""案件迁移 (API.md "Versions (designers)", issue 13 item 5): a running case moves to another version
of its procedure — dry run first, then the real run in one guarded step recorded in history; a
case waiting where the target has no such element is refused (409 naming it) and left unchanged.
The API tests run on SQLite and PostgreSQL; the engine-level ones check the move itself (open
tasks keep their ids, data and timers; the target's changed paths are followed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import REVIEW_REQUEST, ApiClient, done, login, start, text
from lxml import etree
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from service import case_migration, clock
from service.deploy import safe_parse
from service.engine import dump_state, new_workflow, parse_processes, ready_user_tasks, restore_workflow
from service.engine.events import waiting_dues
from service.store.models import Definition, History, HumanTask, Instance, TaskCandidate, Timer

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
LEADER_SIGN = 'camunda:formKey="petition_leader_sign" camunda:candidateGroups="office_leader"'
TODAY = "2026-12-01T09:00:00+08:00"  # conftest.SUITE_START's day: the 15-day routing timer is ahead
ROUTE_DUE = "2026-12-16T23:59:59+08:00"


# ----- diagrams --------------------------------------------------------------------------------


def petition_xml(api: ApiClient) -> str:
    return (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")


def regrouped(xml: str, group: str = "secretary_general") -> str:
    """分管领导签阅 offered to another group."""
    changed = xml.replace(LEADER_SIGN, f'camunda:formKey="petition_leader_sign" camunda:candidateGroups="{group}"')
    assert changed != xml
    return changed


def _el(tag: str, **attrs: str) -> Any:
    return etree.Element(f"{{{BPMN}}}{tag}", attrs)


def with_note(xml: str) -> str:
    """A step 领导批注 (信访科) inserted between 分管领导签阅 and its gateway."""
    root = etree.fromstring(xml.encode())
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    by_id["Flow_leader_sign_to_gw_leader"].set("sourceRef", "leader_note")
    leader_sign = by_id["leader_sign"]
    leader_sign.find(f"{{{BPMN}}}outgoing").text = "Flow_to_note"
    note = _el("userTask", id="leader_note", name="领导批注")
    note.set("{http://camunda.org/schema/1.0/bpmn}formKey", "petition_propose")
    note.set("{http://camunda.org/schema/1.0/bpmn}candidateGroups", "xfk")
    for tag, flow in (("incoming", "Flow_to_note"), ("outgoing", "Flow_leader_sign_to_gw_leader")):
        etree.SubElement(note, f"{{{BPMN}}}{tag}").text = flow
    leader_sign.addnext(note)
    note.addnext(_el("sequenceFlow", id="Flow_to_note", sourceRef="leader_sign", targetRef="leader_note"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def without_leader_sign(xml: str) -> str:
    """分管领导签阅 removed, with its routing timer, that timer's path and its gateway: 拟办 goes
    straight to 秘书长审批."""
    root = etree.fromstring(xml.encode())
    nodes = {"leader_sign", "route_deadline_leader_sign", "route_urge_leader_sign", "end_route_urge_leader_sign",
             "gw_leader"}
    bridge = "Flow_propose_to_leader_sign"
    flows = {f.get("id"): f for f in root.iter(f"{{{BPMN}}}sequenceFlow")}
    flows[bridge].set("targetRef", "sg_approve")
    dropped = nodes | {i for i, f in flows.items() if i != bridge
                       and (f.get("sourceRef") in nodes or f.get("targetRef") in nodes)}
    for el in list(root.iter()):
        if el.get("id") in dropped or el.get("bpmnElement") in dropped:
            el.getparent().remove(el)
    for el in list(root.iter(f"{{{BPMN}}}incoming", f"{{{BPMN}}}outgoing")):
        if el.text in dropped and el.getparent().get("id") == "sg_approve":
            el.text = bridge
        elif el.text in dropped:
            el.getparent().remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def deploy(api: ApiClient, xml: str) -> int:
    r = api.client.post("/api/v1/definitions", data=xml.encode("utf-8"),
                        headers={**api.headers("admin"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_data(as_text=True)
    return int(r.get_json()["versions"]["petition"])


# ----- cases and rows --------------------------------------------------------------------------


def at_leader_sign(api: ApiClient) -> int:
    """A petition received today (its deadlines ahead), classified and proposed."""
    iid = start(api, received_at=TODAY)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    return iid


def finish(api: ApiClient, iid: int, sign_as: str = "msz") -> None:
    """From 分管领导签阅 to the end: approvals, 办理, 审核, 答复, then a 复查申请 closes the case."""
    done(api, sign_as, iid, "leader_sign", {"decision": "approve"})
    after_sign(api, iid)


def after_sign(api: ApiClient, iid: int) -> None:
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    done(api, "fgw1", iid, "handle", {"outcome": "done", "result": "已督促企业支付工资"})
    done(api, "xfk1", iid, "review_result", {"decision": "accept"})
    done(api, "xfk1", iid, "reply", {"reply_text": "经查，工资已支付。", "replied_at": "2026-12-01", "delivery": "邮寄"})
    r = api.post("xfk1", f"/api/v1/instances/{iid}/messages/review_request",
                 json={"data": {**REVIEW_REQUEST, "requested_at": "2026-12-01"}})
    assert r.status_code == 200, r.get_json()
    assert api.instance("xfk1", iid)["status"] == "completed"


def migrate(api: ApiClient, iid: int, body: Any, user: str = "admin") -> Any:
    return api.post(user, f"/api/v1/instances/{iid}/migrate", json=body)


def rows(api: ApiClient, iid: int) -> dict[str, Any]:
    """Everything of the case in the database: a refused migration must leave all of it as it was."""
    with api.app.extensions["govflow"].db.read() as session:
        inst = session.get(Instance, iid)
        assert inst is not None
        tasks = list(session.scalars(select(HumanTask).where(HumanTask.instance_id == iid)))
        return {
            "instance": (inst.version, inst.definition_id, inst.status, inst.updated_at),
            "state": inst.state_row.state,
            "tasks": sorted((t.id, t.bpmn_id, t.state, t.candidate_groups, t.assignee, t.form_key, t.due_at)
                            for t in tasks),
            "candidates": sorted((c.task_id, c.group_key) for c in session.scalars(
                select(TaskCandidate).where(TaskCandidate.task_id.in_([t.id for t in tasks])))),
            "timers": sorted((t.task_id, t.state, t.due_at) for t in session.scalars(
                select(Timer).where(Timer.instance_id == iid))),
            "history": [(h.action, h.task_name) for h in session.scalars(
                select(History).where(History.instance_id == iid).order_by(History.id))],
        }


def definition_id(api: ApiClient, version: int) -> int:
    with api.app.extensions["govflow"].db.read() as session:
        return int(session.scalars(select(Definition.id).where(Definition.key == "petition",
                                                               Definition.version == version)).one())


# ----- dry run and real run ----------------------------------------------------------------------


def test_dry_run_lists_the_changed_group_and_the_added_step_and_writes_nothing(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    task = api.task("bgs", iid, "leader_sign")
    assert deploy(api, with_note(regrouped(petition_xml(api)))) == 2
    before = rows(api, iid)

    r = migrate(api, iid, {"version": 2, "dry_run": True})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["id"], body["version"], body["from_version"], body["dry_run"]) == (iid, 2, 1, True)
    timer = next(k for k in body["kept"] if k["kind"] == "timer")
    assert body["kept"] == [{"task_id": task["id"], "bpmn_id": "leader_sign", "name": "分管领导签阅", "kind": "task"},
                            {"task_id": timer["task_id"], "bpmn_id": "route_deadline_leader_sign",
                             "name": "分流期限届满", "kind": "timer"}]
    assert body["changes"] == [{"task_id": task["id"], "bpmn_id": "leader_sign", "name": "分管领导签阅", "kind": "task",
                                "changes": [{"attribute": "candidateGroups", "label": "办理组",
                                             "before": "office_leader", "after": "secretary_general"}]}]
    assert body["blocked"] == []
    assert body["added"] == [{"bpmn_id": "leader_note", "name": "领导批注"}]
    assert rows(api, iid) == before
    assert api.instance("admin", iid)["version"] == 1


def test_migrated_case_runs_on_v2_its_task_reaching_the_new_group_and_the_added_step(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    task = api.task("bgs", iid, "leader_sign")
    deploy(api, with_note(regrouped(petition_xml(api))))

    r = migrate(api, iid, {"version": 2})
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"id": iid, "version": 2}
    detail = api.instance("admin", iid)
    assert (detail["version"], detail["definition_id"]) == (2, definition_id(api, 2))
    assert detail["history"][-1] | {"at": None} == {
        "at": None, "user": "admin", "on_behalf_of": None, "action": "migrate", "task": None,
        "task_name": "迁移版本", "comment": "由 v1 迁移到 v2", "data": {"version": 2}}
    with api.app.extensions["govflow"].db.read() as session:
        stored = session.scalars(select(History).where(History.instance_id == iid, History.action == "migrate")).one()
        assert (stored.data_before, stored.data_after) == ('{"version":1}', '{"version":2}')
    # the same task (same id), now offered to 秘书长 only
    assert api.tasks("bgs", iid) == []
    moved = api.task("msz", iid, "leader_sign")
    assert (moved["id"], moved["candidate_groups"]) == (task["id"], ["secretary_general"])
    assert [c for c in rows(api, iid)["candidates"] if c[0] == task["id"]] == [(task["id"], "secretary_general")]
    # the live workflow of the case is the v2 one
    runtime = api.app.extensions["govflow"].runtime
    live = runtime.live.take(iid, rows(api, iid)["instance"][0], detail["business_key"])
    assert live is not None and live.spec is runtime.models.cached(definition_id(api, 2)).spec

    done(api, "msz", iid, "leader_sign", {"decision": "approve"})
    assert [t["bpmn_id"] for t in api.instance("admin", iid)["open_tasks"]] == ["leader_note"]
    done(api, "xfk1", iid, "leader_note", {"proposal": "已阅"})
    after_sign(api, iid)
    steps = [h["task"] for h in api.instance("admin", iid)["history"] if h["action"] == "complete"]
    assert steps == ["classify", "propose", "leader_sign", "leader_note", "sg_approve", "handle", "review_result",
                     "reply"]


def test_claims_survive_unless_the_claimer_is_outside_the_new_group(api: ApiClient) -> None:
    at_classify = start(api, received_at=TODAY)
    assert api.post("xfk1", f"/api/v1/tasks/{api.task('xfk1', at_classify, 'classify')['id']}/claim").status_code == 200
    signing = at_leader_sign(api)
    sign = api.task("bgs", signing, "leader_sign")
    assert api.post("bgs", f"/api/v1/tasks/{sign['id']}/claim").status_code == 200
    deploy(api, regrouped(petition_xml(api)))

    assert migrate(api, at_classify, {"version": 2}).status_code == 200
    assert api.task("xfk1", at_classify, "classify")["assignee"] == "xfk1"  # its element is unchanged
    assert migrate(api, signing, {"version": 2}).status_code == 200
    released = api.task("msz", signing, "leader_sign")
    assert (released["id"], released["assignee"]) == (sign["id"], None)
    assert [(h["action"], h["user"], h["comment"]) for h in api.instance("admin", signing)["history"][-2:]] == [
        ("migrate", "admin", "由 v1 迁移到 v2"), ("unclaim", "admin", "迁移后办理组变更，bgs 的签收已退回")]
    finish(api, signing)


def test_case_waiting_at_a_task_the_target_removed_is_refused_and_unchanged(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    task = api.task("bgs", iid, "leader_sign")
    deploy(api, without_leader_sign(petition_xml(api)))
    before = rows(api, iid)
    named = [{"task_id": task["id"], "bpmn_id": "leader_sign", "name": "分管领导签阅",
              "message": "目标版本 v2 没有“分管领导签阅”环节，该待办无法迁移"}]

    dry = migrate(api, iid, {"version": 2, "dry_run": True})
    assert dry.status_code == 200 and dry.get_json()["blocked"] == named
    r = migrate(api, iid, {"version": 2})
    assert r.status_code == 409
    assert r.get_json() == {"error": "conflict", "details": named,
                            "message": "案件有 1 项在目标版本 v2 中不存在，不能迁移，未做任何更改"}
    assert rows(api, iid) == before
    finish(api, iid, sign_as="bgs")  # still on v1, where 分管领导签阅 exists


def test_case_past_the_removed_task_moves_and_completes_keeping_its_record(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    deploy(api, without_leader_sign(petition_xml(api)))
    assert migrate(api, iid, {"version": 2}).status_code == 200
    detail = api.instance("admin", iid)
    assert "leader_sign" not in detail["completed_steps"]  # the element is gone from the case's diagram
    assert [h["task"] for h in detail["history"] if h["action"] == "complete"][-1] == "leader_sign"
    after_sign(api, iid)
    new = at_leader_sign(api)  # a new case on v2 goes from 拟办 straight to 秘书长
    assert [t["bpmn_id"] for t in api.instance("admin", new)["open_tasks"]] == ["sg_approve"]


def test_waiting_timer_keeps_its_due_and_fires_after_migration(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    waiting = [t for t in rows(api, iid)["timers"] if t[1] == "waiting"]
    deploy(api, regrouped(petition_xml(api)))
    assert migrate(api, iid, {"version": 2}).status_code == 200
    assert [t for t in rows(api, iid)["timers"] if t[1] == "waiting"] == waiting  # same task, same due
    assert [t["due_at"] for t in api.instance("admin", iid)["timers"]] == [ROUTE_DUE]

    clock.advance(timedelta(days=16))
    api._tokens.clear()
    assert api.app.extensions["govflow"].runtime.fire_due_timers() == 1
    history = api.instance("admin", iid)["history"]
    actions = [(h["action"], h["task_name"]) for h in history]
    assert actions[actions.index(("migrate", "迁移版本")) + 1] == ("timer", "分流期限届满")
    assert [t[1] for t in rows(api, iid)["timers"] if t[0] == waiting[0][0]] == ["fired"]
    assert api.task("msz", iid, "leader_sign")["bpmn_id"] == "leader_sign"


# ----- refusals ----------------------------------------------------------------------------------


def test_only_the_administrator_may_migrate(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    deploy(api, regrouped(petition_xml(api)))
    before = rows(api, iid)
    for user in ("xfk1", "bgs", "sjy1", "zr"):
        for dry in (True, False):
            r = migrate(api, iid, {"version": 2, "dry_run": dry}, user)
            assert r.status_code == 403, user
            assert r.get_json()["message"] == "只有系统管理员可以迁移案件"
    assert api.client.post(f"/api/v1/instances/{iid}/migrate", json={"version": 2}).status_code == 401
    assert rows(api, iid) == before


@pytest.mark.parametrize(("body", "fields"), [
    ({}, ["version"]), ({"version": "2"}, ["version"]), ({"version": 0}, ["version"]), ({"version": True}, ["version"]),
    ({"version": 2, "dry_run": "yes"}, ["dry_run"]), ({"version": None, "dry_run": 1}, ["version", "dry_run"]),
])
def test_a_bad_body_is_refused_naming_its_fields(api: ApiClient, body: dict[str, Any], fields: list[str]) -> None:
    iid = start(api)
    r = migrate(api, iid, body)
    assert r.status_code == 422
    assert r.get_json()["message"] == "迁移请求不正确"
    assert [d["field"] for d in r.get_json()["details"]] == fields
    assert all(d["message"] for d in r.get_json()["details"])


def test_unknown_same_or_finished_is_refused(api: ApiClient) -> None:
    iid = start(api)
    deploy(api, regrouped(petition_xml(api)))
    r = migrate(api, iid, {"version": 9})
    assert (r.status_code, r.get_json()["message"]) == (404, "流程版本不存在")
    r = migrate(api, iid, {"version": 1, "dry_run": True})
    assert (r.status_code, r.get_json()["message"]) == (422, "案件已在 v1 上")
    r = migrate(api, 999_999, {"version": 2})
    assert (r.status_code, r.get_json()["message"]) == (404, "案件不存在")
    closed = start(api)
    done(api, "xfk1", closed, "classify", {"category": "其他", "route": "reject"})
    done(api, "xfk1", closed, "reply", {"reply_text": "请向有权处理的机关提出。", "replied_at": "2026-12-01",
                                        "delivery": "当面"})
    assert api.post("xfk1", f"/api/v1/instances/{closed}/messages/review_request",
                    json={"data": {**REVIEW_REQUEST, "requested_at": "2026-12-01"}}).status_code == 200
    for dry in (True, False):
        r = migrate(api, closed, {"version": 2, "dry_run": dry})
        assert (r.status_code, r.get_json()["message"]) == (409, "只有在办案件可以迁移")


# ----- the page ----------------------------------------------------------------------------------


def test_migration_page_is_the_administrators(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    deploy(api, regrouped(petition_xml(api)))
    api.app.config["WTF_CSRF_ENABLED"] = False
    for user in ("xfk1", "sjy1"):
        client = login(api.app, user)
        assert client.get("/admin/migrations").status_code == 403
        r = client.post("/admin/migrations/case", data={"id": iid, "target": 2})
        assert r.status_code == 403 and "只有系统管理员可以迁移案件" in text(r)
    assert api.instance("admin", iid)["version"] == 1


def test_page_shows_each_case_and_migrates_the_movable_ones_of_a_version(api: ApiClient) -> None:
    signing, classifying = at_leader_sign(api), start(api, received_at=TODAY)
    deploy(api, without_leader_sign(petition_xml(api)))
    api.app.config["WTF_CSRF_ENABLED"] = False
    client = login(api.app, "admin")
    keys = {iid: api.instance("admin", iid)["business_key"] for iid in (signing, classifying)}
    page = text(client.get("/admin/migrations?key=petition&version=1&target=2"))
    assert f'data-business-key="{keys[signing]}"' in page and f'data-business-key="{keys[classifying]}"' in page
    assert "目标版本 v2 没有“分管领导签阅”环节，该待办无法迁移" in page
    assert 'id="movable-count">1<' in page and 'id="blocked-count">1<' in page
    only = text(client.get(f"/admin/migrations?instance={classifying}&target=2"))
    assert f'data-business-key="{keys[classifying]}"' in only and keys[signing] not in only

    r = client.post("/admin/migrations/case", data={"id": signing, "target": 2, "key": "petition", "version": 1})
    assert r.status_code == 409 and "目标版本 v2 没有“分管领导签阅”环节，该待办无法迁移" in text(r)
    r = client.post("/admin/migrations/all", data={"key": "petition", "version": 1, "target": 2},
                    follow_redirects=True)
    assert r.status_code == 200
    assert (f"已迁移 1 件到 v2；1 件未迁移：{keys[signing]}（案件有 1 项在目标版本 v2 中不存在，不能迁移，未做任何更改）"
            in text(r))
    assert (api.instance("admin", classifying)["version"], api.instance("admin", signing)["version"]) == (2, 1)


def test_page_forms_need_their_csrf_token(api: ApiClient) -> None:
    iid = at_leader_sign(api)
    deploy(api, regrouped(petition_xml(api)))
    client = login_with_csrf(api.app, "admin")
    page = text(client.get(f"/admin/migrations?instance={iid}&target=2"))
    assert page.count('name="csrf_token"') >= 2  # logout and 迁移
    r = client.post("/admin/migrations/case", data={"id": iid, "target": 2, "key": "petition", "version": 1})
    assert r.status_code == 400
    assert api.instance("admin", iid)["version"] == 1
    token = page.split('name="csrf_token" value="', 2)[2].split('"', 1)[0]
    r = client.post("/admin/migrations/case", data={"id": iid, "target": 2, "key": "petition", "version": 1,
                                                    "csrf_token": token})
    assert r.status_code == 302
    assert api.instance("admin", iid)["version"] == 2


def login_with_csrf(app: Any, username: str) -> Any:
    """A logged-in client of an app that checks CSRF tokens (the login form's own token first)."""
    client = app.test_client()
    form = text(client.get("/login"))
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"username": username, "password": "govflow-demo", "csrf_token": token})
    assert r.status_code == 302, text(r)
    return client


# ----- the move itself (engine level: no database) -----------------------------------------------

TIMER_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="http://govflow.test/t">
  <bpmn:process id="timed" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="{name}"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:boundaryEvent id="remind" name="提醒" attachedToRef="work" cancelActivity="false">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"P3D"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="reminded"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="reminded"/>
  </bpmn:process>
</bpmn:definitions>"""


def model(xml: str, key: str) -> Any:
    return parse_processes(safe_parse(xml.encode()), f"{key}.bpmn")[key]


def moved(wf: Any, target: Any, version: int = 2) -> Any:
    """`wf` moved to `target` and restored from its stored state, as the service saves it."""
    to = case_migration.Target(0, version, target)
    found = case_migration.plan(wf, to)
    assert found.blocked == []
    case_migration.move(wf, to, found)
    return restore_workflow(dump_state(wf), target)


def test_a_duration_timer_is_not_restarted_and_an_overdue_one_is_not_fired_by_the_move() -> None:
    v1, v2 = model(TIMER_DIAGRAM.format(name="办理"), "timed"), model(TIMER_DIAGRAM.format(name="承办"), "timed")
    wf = new_workflow(v1)
    wf.do_engine_steps()
    started = clock.now()
    due = [d for d, _name in waiting_dues(wf).values()]
    assert len(due) == 1 and abs(due[0] - started - timedelta(days=3)) < timedelta(minutes=1)
    clock.advance(timedelta(days=1))
    wf = moved(wf, v2)
    assert [d for d, _name in waiting_dues(wf).values()] == due
    assert [t.task_spec.bpmn_name for t in ready_user_tasks(wf).values()] == ["承办"]
    clock.advance(timedelta(days=5))  # overdue: the scheduler fires it, not the migration
    wf = moved(wf, v1, version=3)
    assert [d for d, _name in waiting_dues(wf).values()] == due
    assert [t.task_spec.name for t in wf.get_tasks() if t.state == TaskState.READY and not t.task_spec.manual] == []


def _run(wf: Any, bpmn_id: str, data: dict[str, Any], **match: Any) -> None:
    task = next(t for t in ready_user_tasks(wf).values()
                if t.task_spec.bpmn_id == bpmn_id and all(t.data.get(k) == v for k, v in match.items()))
    task.data.update(data)
    task.run()
    wf.do_engine_steps()


def test_multi_instance_children_keep_their_department_and_the_inserted_step_is_reached() -> None:
    from test_state_serializer import BPMN_DIR

    xml = (BPMN_DIR / "mi_parallel.bpmn").read_text(encoding="utf-8")
    inserted = xml.replace('targetRef="summarize"/>', 'targetRef="check"/><bpmn:sequenceFlow id="f3b" '
                           'sourceRef="check" targetRef="summarize"/><bpmn:userTask id="check" name="核对" '
                           'camunda:candidateGroups="xfk"><bpmn:incoming>f3</bpmn:incoming>'
                           '<bpmn:outgoing>f3b</bpmn:outgoing></bpmn:userTask>')
    inserted = inserted.replace("<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4", "<bpmn:incoming>f3b"
                                "</bpmn:incoming><bpmn:outgoing>f4")
    wf = new_workflow(model(xml, "mi_parallel"))
    wf.do_engine_steps()
    _run(wf, "register", {"groups": ["dept_a", "dept_b", "dept_c"]})
    _run(wf, "dept_report", {"zero_report": True}, group="dept_a")
    open_before = {k: t.data["group"] for k, t in ready_user_tasks(wf).items()}
    wf = moved(wf, model(inserted, "mi_parallel"))
    assert {k: t.data["group"] for k, t in ready_user_tasks(wf).items()} == open_before
    _run(wf, "dept_report", {"zero_report": False}, group="dept_b")
    _run(wf, "dept_report", {"zero_report": True}, group="dept_c")
    assert [t.task_spec.bpmn_id for t in ready_user_tasks(wf).values()] == ["check"]


def test_the_tasks_a_cycle_timer_opened_stay_open_and_it_keeps_ticking() -> None:
    from test_state_serializer import BPMN_DIR

    xml = (BPMN_DIR / "cycle_timer.bpmn").read_text(encoding="utf-8")
    wf = new_workflow(model(xml, "cycle_timer"))
    wf.do_engine_steps()
    clock.advance(timedelta(minutes=61))
    wf.refresh_timers()
    wf.do_engine_steps()
    opened = {k for k, t in ready_user_tasks(wf).items() if t.task_spec.bpmn_id == "progress_report"}
    due = list(waiting_dues(wf).values())
    wf = moved(wf, model(xml.replace('name="续报"', 'name="续报（新）"'), "cycle_timer"))
    assert {k for k, t in ready_user_tasks(wf).items() if t.task_spec.bpmn_id == "progress_report"} == opened
    assert list(waiting_dues(wf).values()) == due
    clock.advance(timedelta(minutes=61))
    wf.refresh_timers()
    wf.do_engine_steps()
    reports = [t for t in ready_user_tasks(wf).values() if t.task_spec.bpmn_id == "progress_report"]
    assert len(reports) == 2 and {t.task_spec.bpmn_name for t in reports} == {"续报（新）"}


def test_a_timer_whose_definition_changed_is_reported_and_evaluated_again() -> None:
    v1, v2 = (model(TIMER_DIAGRAM.format(name="办理"), "timed"),
              model(TIMER_DIAGRAM.format(name="办理").replace('"P3D"', '"P5D"'), "timed"))
    wf = new_workflow(v1)
    wf.do_engine_steps()
    to = case_migration.Target(0, 2, v2)
    found = case_migration.plan(wf, to)
    [timer] = [k for k in found.kept if k["kind"] == "timer"]
    assert found.changes == [{**timer, "changes": [{"attribute": "timer", "label": "定时表达式",
                                                    "before": '"P3D"', "after": '"P5D"'}]}]
    case_migration.move(wf, to, found)
    [due] = [d for d, _name in waiting_dues(restore_workflow(dump_state(wf), v2)).values()]
    assert abs(due - clock.now() - timedelta(days=5)) < timedelta(minutes=1)


def test_a_task_the_target_turns_into_a_script_blocks() -> None:
    xml = TIMER_DIAGRAM.format(name="办理")
    scripted = xml.replace('<bpmn:userTask id="work"', '<bpmn:scriptTask id="work" scriptFormat="python"').replace(
        "</bpmn:userTask>", "<bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>")
    wf = new_workflow(model(xml, "timed"))
    wf.do_engine_steps()
    [task_id] = ready_user_tasks(wf)
    found = case_migration.plan(wf, case_migration.Target(0, 2, model(scripted, "timed")))
    assert found.blocked == [{"task_id": task_id, "bpmn_id": "work", "name": "办理",
                              "message": "目标版本 v2 中“办理”已不是人工办理的环节，该待办无法迁移"}]
