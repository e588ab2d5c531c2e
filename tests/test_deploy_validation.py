"""Deployment of designers' diagrams (ARCHITECTURE.md, engine facts; API.md POST /definitions):
safe XML, BPMN 2.0 XSD, forms, restricted scripts, versions, admin only, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient

USER_TASK = 'camunda:formKey="petition_propose" camunda:candidateGroups="xfk"'


def diagram(script: str = "x = 1", user_task: str = USER_TASK, name: str = "小流程",
            condition: str | None = None, before_end: str = "") -> str:
    """A small executable process: start → script `calc` → user task `work` → end."""
    cond = (f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
            if condition else "")
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="Definitions_mini" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="mini" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:scriptTask id="calc" name="计算" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="work" name="办理" {user_task}>
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    {before_end}<bpmn:endEvent id="end">
      <bpmn:incoming>f3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="work">{cond}</bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
'''


def line_of(xml: str, needle: str) -> int:
    """1-based line of the first line of `xml` containing `needle`."""
    for number, line in enumerate(xml.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in diagram")


def deploy(api: ApiClient, xml: str | bytes, user: str = "admin") -> Any:
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    return api.client.post("/api/v1/definitions", data=body,
                           headers={**api.headers(user), "Content-Type": "application/xml"})


def refused(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == "invalid"
    assert body["details"], body
    for d in body["details"]:
        assert set(d) == {"line", "element_id", "name", "message", "level"}
    return list(body["details"])


def keys(api: ApiClient) -> dict[str, int]:
    """The deployed versions of the petition and of this module's diagram (the other procedures
    of bpmn/ are deployed beside them and play no part here)."""
    return {d["key"]: d["version"] for d in api.get("admin", "/api/v1/definitions").get_json()
            if d["key"] in ("petition", "mini")}


def test_the_small_diagram_itself_deploys(sqlite_api: ApiClient) -> None:
    r = deploy(sqlite_api, diagram())
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["keys"] == ["mini"] and r.get_json()["version"] == 1
    assert keys(sqlite_api) == {"petition": 1, "mini": 1}


# ---- XML ------------------------------------------------------------------------------------


def test_malformed_xml_is_refused_with_its_line(sqlite_api: ApiClient) -> None:
    xml = diagram().replace('<bpmn:endEvent id="end">', '<bpmn:endEvent id="end" =>')
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["line"] == line_of(xml, '<bpmn:endEvent id="end" =>')
    assert details[0]["message"].startswith("XML 语法错误")
    assert keys(sqlite_api) == {"petition": 1}


def test_unclosed_element_is_refused_with_a_line(sqlite_api: ApiClient) -> None:
    xml = diagram().replace("    </bpmn:userTask>\n", "")
    details = refused(deploy(sqlite_api, xml))
    assert isinstance(details[0]["line"], int)
    assert line_of(xml, '<bpmn:userTask id="work"') <= details[0]["line"] <= len(xml.splitlines())
    assert details[0]["message"].startswith("XML 语法错误")


XXE = [
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!doctype x SYSTEM "file:///etc/passwd">',
]


@pytest.mark.parametrize("doctype", XXE, ids=["file", "parameter", "expansion", "lowercase"])
def test_doctype_and_entities_are_refused_and_nothing_is_deployed(sqlite_api: ApiClient, doctype: str) -> None:
    xml = diagram(script="x = '&e;'").replace('<?xml version="1.0" encoding="UTF-8"?>\n',
                                              f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n')
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["line"] == 2
    assert "XXE" in details[0]["message"]
    assert "root:" not in str(details)
    assert keys(sqlite_api) == {"petition": 1}


def test_xsd_violation_is_refused_with_its_line(sqlite_api: ApiClient) -> None:
    xml = diagram(before_end='<bpmn:notAnElement id="bogus"/>\n    ')
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["line"] == line_of(xml, "notAnElement")
    assert details[0]["message"].startswith("不符合 BPMN 2.0 规范")
    assert "notAnElement" in details[0]["message"]
    assert keys(sqlite_api) == {"petition": 1}


def test_diagram_without_executable_process_is_refused(sqlite_api: ApiClient) -> None:
    details = refused(deploy(sqlite_api, diagram().replace('isExecutable="true"', 'isExecutable="false"')))
    assert "isExecutable" in details[0]["message"]


# ---- forms ----------------------------------------------------------------------------------


def test_user_task_without_a_form_is_refused_naming_the_task(sqlite_api: ApiClient) -> None:
    xml = diagram(user_task='camunda:candidateGroups="xfk"')
    details = refused(deploy(sqlite_api, xml))
    assert details == [{"line": line_of(xml, '<bpmn:userTask id="work"'), "element_id": "work",
                        "name": "办理",
                        "message": "用户任务缺少表单（camunda:formKey）", "level": "error"}]


def test_user_task_whose_form_file_does_not_exist_is_refused(sqlite_api: ApiClient) -> None:
    xml = diagram(user_task='camunda:formKey="no_such_form" camunda:candidateGroups="xfk"')
    details = refused(deploy(sqlite_api, xml))
    assert details == [{"line": line_of(xml, '<bpmn:userTask id="work"'), "element_id": "work",
                        "name": "办理",
                        "message": "表单 no_such_form 不存在（forms/no_such_form.json）", "level": "error"}]


def test_form_key_cannot_walk_out_of_the_forms_folder(sqlite_api: ApiClient) -> None:
    xml = diagram(user_task='camunda:formKey="../forms/petition_propose" camunda:candidateGroups="xfk"')
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["element_id"] == "work"


def test_user_task_without_a_group_is_refused(sqlite_api: ApiClient) -> None:
    xml = diagram(user_task='camunda:formKey="petition_propose"')
    details = refused(deploy(sqlite_api, xml))
    assert details == [{"line": line_of(xml, '<bpmn:userTask id="work"'), "element_id": "work",
                        "name": "办理",
                        "message": "用户任务未指定办理组（camunda:candidateGroups）或泳道", "level": "error"}]


# ---- restricted scripts -------------------------------------------------------------------------

ESCAPES = {
    "import": "import os",
    "subclasses": "x = ().__class__.__mro__[1].__subclasses__()",
    "open": "x = open('/etc/passwd').read()",
    "eval": "x = eval('1')",
    "getattr": "x = getattr(x, 'y')",
    "format": 'x = "{0.__class__}".format(1)',
    "dunder_import": "x = __import__('os')",
    "from_import": "from os import system",
}


@pytest.mark.parametrize("script", list(ESCAPES.values()), ids=list(ESCAPES))
def test_script_escape_is_refused_with_the_script_task_and_line(sqlite_api: ApiClient, script: str) -> None:
    xml = diagram(script=script)
    details = refused(deploy(sqlite_api, xml))
    assert len(details) == 1
    assert details[0]["element_id"] == "calc"
    assert details[0]["line"] == line_of(xml, "<bpmn:script>")
    assert details[0]["message"].startswith("脚本不被允许")
    assert keys(sqlite_api) == {"petition": 1}


def test_script_error_line_is_the_line_of_the_offending_statement(sqlite_api: ApiClient) -> None:
    xml = diagram(script="x = 1\ny = 2\nimport os")
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["line"] == line_of(xml, "import os")
    assert details[0]["element_id"] == "calc"


def test_script_starting_on_the_next_line_reports_the_offending_statements_line(sqlite_api: ApiClient) -> None:
    xml = diagram(script="\nx = 1\nimport os\n")
    details = refused(deploy(sqlite_api, xml))
    assert details[0]["element_id"] == "calc"
    assert details[0]["line"] == line_of(xml, "import os")


def test_condition_escape_is_refused_naming_the_sequence_flow(sqlite_api: ApiClient) -> None:
    xml = diagram(condition="x.__class__ is int")
    details = refused(deploy(sqlite_api, xml))
    assert [(d["element_id"], d["line"]) for d in details] == [("f2", line_of(xml, 'id="f2"'))]
    assert details[0]["message"].startswith("条件表达式不被允许")


def test_every_error_is_reported_at_once(sqlite_api: ApiClient) -> None:
    xml = diagram(script="import os", user_task='camunda:candidateGroups="xfk"', condition="eval('1')")
    details = refused(deploy(sqlite_api, xml))
    assert sorted(d["element_id"] for d in details) == ["calc", "f2", "work"]


# ---- versions -------------------------------------------------------------------------------


def test_changed_diagram_becomes_version_2_while_running_instances_stay_on_1(api: ApiClient) -> None:
    assert deploy(api, diagram()).status_code == 201
    first = api.post("admin", "/api/v1/instances", json={"process": "mini", "data": {}}).get_json()
    assert api.instance("admin", first["id"])["version"] == 1

    r = deploy(api, diagram(script="x = 2", name="小流程（修订）"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["version"] == 2 and r.get_json()["versions"] == {"mini": 2}
    assert keys(api) == {"petition": 1, "mini": 2}

    running = api.instance("admin", first["id"])
    assert running["version"] == 1
    assert running["data"]["x"] == 1
    second = api.post("admin", "/api/v1/instances", json={"process": "mini", "data": {}}).get_json()
    detail = api.instance("admin", second["id"])
    assert detail["version"] == 2 and detail["data"]["x"] == 2
    assert detail["process_name"] == "小流程（修订）"

    r = api.complete("xfk1", first["id"], "work", {"proposal": "按原版本办结"})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["instance"]["id"], r.get_json()["instance"]["status"]) == (first["id"], "completed")
    assert api.instance("admin", first["id"])["version"] == 1


def test_petition_redeployed_keeps_running_petitions_on_their_version(api: ApiClient) -> None:
    iid = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()["id"]
    xml = (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")
    changed = xml.replace('name="信访件办理" isExecutable="true"', 'name="信访件办理（2026修订）" isExecutable="true"')
    assert changed != xml
    r = deploy(api, changed)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["versions"] == {"petition": 2}
    assert api.instance("xfk1", iid)["version"] == 1
    r = api.complete("xfk1", iid, "classify", {"category": "行政", "route": "own"})
    assert r.status_code == 200, r.get_json()
    assert api.instance("xfk1", iid)["version"] == 1
    new = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()["id"]
    assert api.instance("xfk1", new)["version"] == 2


def test_unchanged_redeploy_creates_no_new_version(api: ApiClient) -> None:
    assert deploy(api, diagram()).get_json()["version"] == 1
    r = deploy(api, diagram())
    assert r.status_code in (200, 201)
    assert r.get_json()["version"] == 1 and r.get_json()["changed"] is False
    assert keys(api) == {"petition": 1, "mini": 1}
    xml = (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_bytes()
    assert deploy(api, xml).get_json()["versions"] == {"petition": 1}


def test_only_admin_may_deploy(api: ApiClient) -> None:
    for user in ("xfk1", "bgs", "msz", "zr", "fgw1"):
        r = deploy(api, diagram(), user)
        assert r.status_code == 403, user
        assert r.get_json()["error"] == "forbidden"
    assert keys(api) == {"petition": 1}
    r = api.client.post("/api/v1/definitions", data=diagram().encode(), headers={"Content-Type": "application/xml"})
    assert r.status_code == 401
    assert keys(api) == {"petition": 1}


# ---- govflow deploy (CLI) ---------------------------------------------------------------------


def run_cli(tmp_path: Path, url: str, *files: Path) -> subprocess.CompletedProcess[str]:
    govflow = Path(sys.executable).parent / "govflow"
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "test-secret", "GOVFLOW_TIMERS": "0"}
    return subprocess.run([str(govflow), "deploy", *map(str, files)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_cli_deploy_of_a_bad_diagram_exits_2_with_the_chinese_error(tmp_path: Path, sqlite_url: str) -> None:
    bad = tmp_path / "bad.bpmn"
    xml = diagram(script="import os")
    bad.write_text(xml, encoding="utf-8")
    result = run_cli(tmp_path, sqlite_url, bad)
    assert result.returncode == 2, result.stderr
    assert "部署失败：bad.bpmn: 流程图有错误，未部署" in result.stderr
    assert f"第 {line_of(xml, '<bpmn:script>')} 行 [calc] 脚本不被允许：脚本中不允许使用 import" in result.stderr


def test_cli_deploy_of_a_good_diagram_exits_0(tmp_path: Path, sqlite_url: str) -> None:
    good = tmp_path / "mini.bpmn"
    good.write_text(diagram(), encoding="utf-8")
    result = run_cli(tmp_path, sqlite_url, good)
    assert result.returncode == 0, result.stderr
    assert "mini.bpmn: mini v1（新版本）" in result.stdout
    again = run_cli(tmp_path, sqlite_url, good)
    assert again.returncode == 0, again.stderr
    assert "mini.bpmn: mini v1（未变化）" in again.stdout
