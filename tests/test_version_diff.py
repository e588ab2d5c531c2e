"""The diff of two deployed versions (issue 13, items 4 and 8): it names every added, removed and
changed element by id, with each changed attribute GovFlow reads before and after, and the forms
whose snapshot differs with their changed fields (GET /api/v1/definitions/<key>/diff?a=&b=);
unknown versions are a 404 「流程版本不存在」, the same version twice a 422."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ApiClient

from service.definition_diff import Version, diff

LEADER_SIGN = 'camunda:formKey="petition_leader_sign" camunda:candidateGroups="{}"'


def petition_xml(api_or_app: Any) -> str:
    app = getattr(api_or_app, "app", api_or_app)
    return (app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")


def petition_v2(xml: str) -> str:
    """The petition with 分管领导签阅 offered to 信访科 instead of the office leader, and the task
    `propose` (拟办意见) replaced by `propose_draft` (removed under one id, added under another)."""
    assert xml.count(LEADER_SIGN.format("office_leader")) == 1
    changed = xml.replace(LEADER_SIGN.format("office_leader"), LEADER_SIGN.format("xfk"))
    return changed.replace('"propose"', '"propose_draft"').replace(">propose<", ">propose_draft<")


def deploy(api: ApiClient, xml: str, comment: str | None = None) -> Any:
    r = api.client.post("/api/v1/definitions", data=xml.encode("utf-8"),
                        query_string={"comment": comment} if comment is not None else None,
                        headers={**api.headers("admin"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["element_id"]: e for e in entries}


# ----- through the API, on SQLite and PostgreSQL ------------------------------------------------


def test_diff_names_the_task_whose_group_changed_and_the_removed_and_added_tasks(api: ApiClient) -> None:
    assert deploy(api, petition_v2(petition_xml(api)), "分管领导签阅改由信访科办理")["version"] == 2
    r = api.get("sjy1", "/api/v1/definitions/petition/diff?a=1&b=2")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["a"], body["b"]) == (1, 2)
    changed = by_id(body["changed"])
    assert changed["leader_sign"] == {
        "element_id": "leader_sign", "name": "分管领导签阅", "type": "userTask",
        "changes": [{"attribute": "candidateGroups", "before": "office_leader", "after": "xfk"}]}
    assert body["removed"] == [{"element_id": "propose", "name": "拟办意见", "type": "userTask"}]
    assert body["added"] == [{"element_id": "propose_draft", "name": "拟办意见", "type": "userTask"}]
    # what points at the renamed task changed with it, and nothing else did
    assert set(changed) == {"leader_sign", "route_deadline_propose", "Flow_gw_propose_merge_to_propose",
                            "Flow_propose_to_leader_sign", "Lane_xfk"}
    assert changed["Flow_propose_to_leader_sign"]["changes"] == [
        {"attribute": "sourceRef", "before": "propose", "after": "propose_draft"}]
    assert changed["route_deadline_propose"]["changes"] == [
        {"attribute": "attachedToRef", "before": "propose", "after": "propose_draft"}]
    assert changed["Lane_xfk"]["changes"] == [
        {"attribute": "flowNodeRef", "before": "propose", "after": "propose_draft"}]
    assert body["forms"] == []


def test_diff_the_other_way_round_swaps_added_and_removed_and_before_and_after(api: ApiClient) -> None:
    deploy(api, petition_v2(petition_xml(api)))
    body = api.get("admin", "/api/v1/definitions/petition/diff?a=2&b=1").get_json()
    assert [e["element_id"] for e in body["added"]] == ["propose"]
    assert [e["element_id"] for e in body["removed"]] == ["propose_draft"]
    assert by_id(body["changed"])["leader_sign"]["changes"] == [
        {"attribute": "candidateGroups", "before": "xfk", "after": "office_leader"}]


def test_diff_without_versions_compares_the_latest_with_the_one_before(api: ApiClient) -> None:
    deploy(api, petition_v2(petition_xml(api)))
    body = api.get("sjy1", "/api/v1/definitions/petition/diff").get_json()
    assert (body["a"], body["b"]) == (1, 2)
    assert "leader_sign" in by_id(body["changed"])


def test_a_changed_form_snapshot_is_named_with_its_changed_fields(api: ApiClient) -> None:
    from service.bootstrap import deploy_bytes

    svc = api.app.extensions["govflow"]
    schema = svc.runtime.forms.get("petition_leader_sign").schema
    first = next(iter(schema["properties"]))
    changed = {**schema, "properties": {**schema["properties"],
                                        first: {**schema["properties"][first], "title": "签阅结论"},
                                        "leader_note": {"type": "string", "title": "领导批注"}}}
    result = deploy_bytes(svc.runtime, petition_xml(api), "petition.bpmn", "admin",
                          form_overrides={"petition_leader_sign": changed})
    assert result["versions"]["petition"] == 2
    body = api.get("sjy1", "/api/v1/definitions/petition/diff?a=1&b=2").get_json()
    assert body["changed"] == [] and body["added"] == [] and body["removed"] == []
    [form] = body["forms"]
    assert form["form_key"] == "petition_leader_sign" and form["change"] == "changed"
    assert form["used_by"] == [{"element_id": "leader_sign", "name": "分管领导签阅"}]
    fields = {f["field"]: f for f in form["fields"]}
    assert fields[first]["change"] == "changed"
    assert fields[first]["changes"] == [{"attribute": "title", "before": schema["properties"][first]["title"],
                                         "after": "签阅结论"}]
    assert fields["leader_note"] == {"field": "leader_note", "title": "领导批注", "change": "added", "changes": [
        {"attribute": "title", "before": None, "after": "领导批注"},
        {"attribute": "type", "before": None, "after": "string"},
        {"attribute": "required", "before": None, "after": "否"}]}
    assert set(fields) == {first, "leader_note"}


@pytest.mark.parametrize("query", ["a=1&b=9", "a=9&b=1", "a=9"])
def test_diff_of_an_unknown_version_is_404(api: ApiClient, query: str) -> None:
    r = api.get("sjy1", f"/api/v1/definitions/petition/diff?{query}")
    assert r.status_code == 404, r.get_json()
    assert r.get_json()["message"] == "流程版本不存在"


def test_diff_of_an_unknown_procedure_is_404(api: ApiClient) -> None:
    r = api.get("sjy1", "/api/v1/definitions/no_such_process/diff?a=1&b=2")
    assert r.status_code == 404
    assert r.get_json()["message"] == "流程版本不存在"


def test_diff_of_a_version_with_itself_is_422(api: ApiClient) -> None:
    deploy(api, petition_v2(petition_xml(api)))
    r = api.get("sjy1", "/api/v1/definitions/petition/diff?a=2&b=2")
    assert r.status_code == 422
    assert r.get_json()["message"] == "请选择两个不同的版本进行比较"


def test_diff_of_a_procedure_with_one_version_and_no_versions_given_is_422(api: ApiClient) -> None:
    r = api.get("sjy1", "/api/v1/definitions/petition/diff")
    assert r.status_code == 422
    assert r.get_json()["message"] == "该流程只有一个版本，没有可比较的版本"


@pytest.mark.parametrize("query", ["a=x&b=1", "a=0&b=1", "a=-1&b=1"])
def test_a_version_that_is_not_a_positive_integer_is_422(api: ApiClient, query: str) -> None:
    r = api.get("sjy1", f"/api/v1/definitions/petition/diff?{query}")
    assert r.status_code == 422
    assert r.get_json()["message"] == "版本号必须是正整数"


def test_the_diff_is_refused_to_whoever_is_not_a_designer(api: ApiClient) -> None:
    r = api.get("xfk1", "/api/v1/definitions/petition/diff?a=1&b=2")
    assert r.status_code == 403
    assert r.get_json()["message"] == "只有系统管理员和流程设计员可以查看流程版本"


# ----- the comparison itself (pure: no database) ----------------------------------------------


def small(condition: str = 'route == "a"', script: str = "x = 1", timer: str = '"P3D"', name: str = "办理",
          default: str = "f_b", extra: str = "") -> str:
    """start → script `calc` → gateway (`f_a` conditional, default `f_b`) → task `work` (timer `t`)."""
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="small" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="gw" default="{default}"/>
    <bpmn:userTask id="work" name="{name}" camunda:formKey="f" camunda:candidateGroups="xfk"/>
    <bpmn:boundaryEvent id="t" attachedToRef="work">
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{timer}</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f_a" sourceRef="gw" targetRef="work">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_b" sourceRef="gw" targetRef="end"/>{extra}
  </bpmn:process>
</bpmn:definitions>'''


def compare(before: str, after: str) -> dict[str, Any]:
    return diff(Version("small", 1, before), Version("small", 2, after))


@pytest.mark.parametrize(("change", "element_id", "attribute", "old", "new"), [
    ({"condition": 'route == "b"'}, "f_a", "condition", 'route == "a"', 'route == "b"'),
    ({"script": "x = 2"}, "calc", "script", "x = 1", "x = 2"),
    ({"timer": '"P5D"'}, "t", "timeDuration", '"P3D"', '"P5D"'),
    ({"name": "承办"}, "work", "name", "办理", "承办"),
    ({"default": "f_a"}, "gw", "default", "f_b", "f_a"),
])
def test_each_attribute_govflow_reads_is_compared(change: dict[str, str], element_id: str, attribute: str,
                                                   old: str, new: str) -> None:
    result = compare(small(), small(**change))
    assert result["changed"] == [{"element_id": element_id, "name": result["changed"][0]["name"],
                                  "type": result["changed"][0]["type"],
                                  "changes": [{"attribute": attribute, "before": old, "after": new}]}]
    assert result["added"] == result["removed"] == []


def test_identical_versions_have_no_differences() -> None:
    assert compare(small(), small()) == {"a": 1, "b": 2, "added": [], "removed": [], "changed": [], "forms": [],
                                         "moved": []}


def test_an_added_sequence_flow_is_listed_after_the_flow_nodes() -> None:
    extra = '\n    <bpmn:sequenceFlow id="f_c" sourceRef="calc" targetRef="gw"/>\n    <bpmn:task id="note" name="备注"/>'
    result = compare(small(), small(extra=extra))
    assert result["added"] == [{"element_id": "note", "name": "备注", "type": "task"},
                               {"element_id": "f_c", "name": None, "type": "sequenceFlow"}]
