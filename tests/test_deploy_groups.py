"""Checks before deploy (issue 13, item 2): every literal candidate group a diagram names must
exist (「办理组 X 不存在」, nothing stored) and should have an active member (a warning that never
blocks); each problem names its element by id and by name, with its level; the deployer's
版本说明 is stored with the version (API.md POST /api/v1/definitions ?comment=)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ApiClient
from sqlalchemy import func, select

from service import clock


def diagram(groups: str, name: str = "办理组检查") -> str:
    """start → user task `work` (承办, offered to `groups`) → end."""
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_grp" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="grp" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="承办" camunda:formKey="petition_propose" camunda:candidateGroups="{groups}">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
'''


WORK_LINE = 6  # the line of <bpmn:userTask id="work"> in `diagram`


def deploy(api: ApiClient, xml: str, comment: str | None = None) -> Any:
    return api.client.post("/api/v1/definitions", data=xml.encode("utf-8"),
                           query_string={"comment": comment} if comment is not None else None,
                           headers={**api.headers("admin"), "Content-Type": "application/xml"})


def stored(api: ApiClient) -> tuple[int, int]:
    """How many versions of `grp` and form snapshots in all the database holds."""
    from service.store.designer_models import DefinitionForm
    from service.store.models import Definition

    with api.app.extensions["govflow"].db.read() as session:
        return (session.scalar(select(func.count()).select_from(Definition).where(Definition.key == "grp")) or 0,
                session.scalar(select(func.count()).select_from(DefinitionForm)) or 0)


def add_group(api: ApiClient, key: str, name: str) -> None:
    from service.store.models import Group

    with api.app.extensions["govflow"].db.write() as session:
        session.add(Group(key=key, name=name))


def test_deploy_naming_an_unknown_group_is_refused_and_nothing_is_stored(api: ApiClient) -> None:
    before = stored(api)
    r = deploy(api, diagram("no_such_group"))
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["error"] == "invalid" and body["message"] == "流程图有错误，未部署"
    assert body["details"] == [{"line": WORK_LINE, "element_id": "work", "name": "承办",
                                "message": "办理组 no_such_group 不存在", "level": "error"}]
    assert stored(api) == before == (0, before[1])


def test_each_unknown_group_of_a_list_is_named_and_the_known_ones_are_not(api: ApiClient) -> None:
    r = deploy(api, diagram("xfk, no_such_group,zzb,other_missing"))
    assert r.status_code == 422, r.get_json()
    assert [d["message"] for d in r.get_json()["details"]] == ["办理组 no_such_group 不存在", "办理组 other_missing 不存在"]


def test_a_group_expression_is_decided_per_case_not_at_deploy(api: ApiClient) -> None:
    r = deploy(api, diagram("${handler_group}"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["warnings"] == []


def test_a_group_without_members_deploys_with_a_warning(api: ApiClient) -> None:
    add_group(api, "empty_office", "空科室")
    r = deploy(api, diagram("xfk,empty_office"))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["keys"], body["version"], body["versions"], body["changed"]) == (["grp"], 1, {"grp": 1}, True)
    assert body["warnings"] == [{"line": WORK_LINE, "element_id": "work", "name": "承办",
                                 "message": "办理组 empty_office 没有成员，任务将无人办理", "level": "warning"}]
    assert stored(api)[0] == 1


def test_a_refused_diagram_lists_its_warnings_after_its_errors(api: ApiClient) -> None:
    add_group(api, "empty_office", "空科室")
    r = deploy(api, diagram("empty_office,no_such_group"))
    assert r.status_code == 422, r.get_json()
    assert [(d["level"], d["message"]) for d in r.get_json()["details"]] == [
        ("error", "办理组 no_such_group 不存在"), ("warning", "办理组 empty_office 没有成员，任务将无人办理")]


def test_only_active_unsuspended_members_count(api: ApiClient) -> None:
    """A user who may not log in, or whose membership is suspended (停权), reaches no task."""
    from service.deploy import group_members
    from service.store.models import User
    from service.store.suspension_models import RESTORE, SUSPEND, MembershipSuspension

    db = api.app.extensions["govflow"].db
    with db.read() as session:
        before = group_members(session)
    assert before["xfk"] == 2 and before["county_linxiang_web"] == 1 and before["county_fengqing"] == 0
    with db.write() as session:
        member = session.scalars(select(User).where(User.groups.any(key="county_linxiang_web"))).one()
        session.add(MembershipSuspension(username=member.username, group_key="county_linxiang_web", seq=1,
                                         action=SUSPEND, reason="测试", done_by="admin", at=clock.now()))
        for user in session.scalars(select(User).where(User.groups.any(key="xfk"))).all()[:1]:
            user.active = False
    with db.read() as session:
        after = group_members(session)
    assert (after["county_linxiang_web"], after["xfk"]) == (0, 1)
    assert {k: v for k, v in after.items() if k not in ("county_linxiang_web", "xfk")} == \
        {k: v for k, v in before.items() if k not in ("county_linxiang_web", "xfk")}
    r = deploy(api, diagram("county_linxiang_web"))
    assert r.status_code == 201, r.get_json()
    assert [w["message"] for w in r.get_json()["warnings"]] == ["办理组 county_linxiang_web 没有成员，任务将无人办理"]
    with db.write() as session:
        session.add(MembershipSuspension(username=member.username, group_key="county_linxiang_web", seq=2,
                                         action=RESTORE, reason="恢复", done_by="admin", at=clock.now()))
    with db.read() as session:
        assert group_members(session)["county_linxiang_web"] == 1


def test_the_deployers_comment_is_stored_with_the_new_version(api: ApiClient) -> None:
    from service.store.models import Definition

    r = deploy(api, diagram("xfk"), comment="首次上线")
    assert r.status_code == 201, r.get_json()
    r = deploy(api, diagram("xfk,zzb"), comment="增加组织部")
    assert r.status_code == 201 and r.get_json()["version"] == 2, r.get_json()
    with api.app.extensions["govflow"].db.read() as session:
        rows = session.execute(select(Definition.version, Definition.comment, Definition.deployed_by)
                               .where(Definition.key == "grp").order_by(Definition.version)).all()
    assert [tuple(row) for row in rows] == [(1, "首次上线", "admin"), (2, "增加组织部", "admin")]


def test_a_comment_over_the_limit_is_refused_and_nothing_is_stored(api: ApiClient) -> None:
    r = deploy(api, diagram("xfk"), comment="长" * 1001)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["message"] == "版本说明不能超过 1000 字"
    assert stored(api)[0] == 0


def test_a_database_without_groups_deploys_unchecked_with_a_warning(sqlite_url: str) -> None:
    """A fresh installation (no organisation yet) deploys bpmn/ before its groups exist."""
    from service.bootstrap import NO_ORGANISATION, build, deploy_bytes
    from service.config import Settings

    settings = Settings(database_url=sqlite_url, secret_key="test-secret")
    settings.deploy_on_start = False
    services = build(settings)
    try:
        result = deploy_bytes(services.runtime, diagram("no_such_group"), "grp.bpmn", "admin")
    finally:
        services.db.dispose()
    assert (result["versions"], result["changed"]) == ({"grp": 1}, True)
    assert result["warnings"] == [{"line": None, "element_id": None, "name": None, "message": NO_ORGANISATION,
                                   "level": "warning"}]


def test_cli_deploy_checks_the_groups_and_stores_the_comment(tmp_path: Path, sqlite_url: str) -> None:
    from conftest import make_app
    from test_deploy_validation import run_cli

    from service.store.models import Definition

    app = make_app(sqlite_url)  # the demo organisation: the groups the CLI checks against
    app.extensions["govflow"].db.dispose()
    bad, good = tmp_path / "bad.bpmn", tmp_path / "grp.bpmn"
    bad.write_text(diagram("no_such_group"), encoding="utf-8")
    good.write_text(diagram("xfk"), encoding="utf-8")
    refused = run_cli(tmp_path, sqlite_url, bad)
    assert refused.returncode == 2, refused.stderr
    assert f"第 {WORK_LINE} 行 [work] 办理组 no_such_group 不存在" in refused.stderr
    deployed = run_cli(tmp_path, sqlite_url, good, "--comment", "命令行部署")
    assert deployed.returncode == 0, deployed.stderr
    assert "grp.bpmn: grp v1（新版本）" in deployed.stdout
    with app.extensions["govflow"].db.read() as session:
        assert session.execute(select(Definition.version, Definition.comment, Definition.deployed_by)
                               .where(Definition.key == "grp")).all() == [(1, "命令行部署", "cli")]
    app.extensions["govflow"].db.dispose()
