"""Forms versioned with the diagram (issue 13, item 3): a deployment snapshots every form its
diagram names, so a running case keeps its version's form — on its task page, its completion and
the API — while new cases get the new one; the checksum covers the forms; start-up deploys of
bpmn/ never revert a version deployed in the browser (skip_known)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from conftest import ApiClient, login, text
from sqlalchemy import delete, select, update

FV = '''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_fv" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="fv" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start" camunda:formKey="fv_start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="承办" camunda:formKey="fv_work" camunda:candidateGroups="xfk">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
'''


def fv(name: str = "表单版本") -> str:
    return FV.replace("{name}", name)


START = {"title": "登记", "type": "object", "properties": {"subject": {"type": "string", "title": "事由"}},
         "required": ["subject"]}
WORK_V1 = {"title": "承办（第一版）", "type": "object",
           "properties": {"proposal": {"type": "string", "title": "拟办意见"}}, "required": ["proposal"]}
WORK_V2 = {"title": "承办（第二版）", "type": "object",
           "properties": {"proposal": {"type": "string", "title": "拟办意见"},
                          "basis": {"type": "string", "title": "法律依据"}},
           "required": ["proposal", "basis"]}


def runtime(api: ApiClient) -> Any:
    return api.app.extensions["govflow"].runtime


def deploy(api: ApiClient, xml: str, forms: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    from service.bootstrap import deploy_bytes

    return deploy_bytes(runtime(api), xml, "fv.bpmn", "admin", form_overrides=forms, **options)


def snapshots(api: ApiClient, key: str) -> dict[int, dict[str, Any]]:
    """version → {form_key: schema} of every version of `key`."""
    from service.store.designer_models import DefinitionForm
    from service.store.models import Definition

    found: dict[int, dict[str, Any]] = {}
    with api.app.extensions["govflow"].db.read() as session:
        for version, form_key, schema in session.execute(
                select(Definition.version, DefinitionForm.form_key, DefinitionForm.schema)
                .join(DefinitionForm, DefinitionForm.definition_id == Definition.id).where(Definition.key == key)):
            found.setdefault(version, {})[form_key] = json.loads(schema)
    return found


def versions(api: ApiClient, key: str) -> list[int]:
    from service.store.models import Definition

    with api.app.extensions["govflow"].db.read() as session:
        return list(session.scalars(select(Definition.version).where(Definition.key == key).order_by(Definition.version)))


def start(api: ApiClient, subject: str) -> int:
    r = api.post("admin", "/api/v1/instances", json={"process": "fv", "data": {"subject": subject}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def test_a_running_case_keeps_its_versions_form_while_new_cases_get_the_new_one(api: ApiClient) -> None:
    """Forms that exist only in the browser (no forms/ file) deploy; v2 adds a required field."""
    assert deploy(api, fv(), {"fv_start": START, "fv_work": WORK_V1})["versions"] == {"fv": 1}
    case_a = start(api, "甲")
    result = deploy(api, fv(), {"fv_work": WORK_V2})  # the start form stays v1's (its snapshot)
    assert (result["versions"], result["changed"]) == ({"fv": 2}, True)
    case_b = start(api, "乙")
    assert [api.instance("admin", i)["version"] for i in (case_a, case_b)] == [1, 2]
    task_a, task_b = api.task("xfk1", case_a, "work")["id"], api.task("xfk1", case_b, "work")["id"]

    assert api.get("xfk1", f"/api/v1/tasks/{task_a}").get_json()["form"] == WORK_V1
    assert api.get("xfk1", f"/api/v1/tasks/{task_b}").get_json()["form"] == WORK_V2
    api.app.config["WTF_CSRF_ENABLED"] = False
    pages = login(api.app, "xfk1")
    page_a, page_b = text(pages.get(f"/tasks/{task_a}")), text(pages.get(f"/tasks/{task_b}"))
    assert "承办（第一版）" in page_a and "法律依据" not in page_a
    assert "承办（第二版）" in page_b and "法律依据" in page_b

    r = pages.post(f"/tasks/{task_a}", data={"proposal": "按第一版办结"})  # no 法律依据: v1 has none
    assert r.status_code == 302, text(r)
    assert api.instance("admin", case_a)["status"] == "completed"
    r = api.complete("xfk1", case_b, "work", {"proposal": "按第二版办理"})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "basis", "message": "此项为必填项"}]
    r = api.complete("xfk1", case_b, "work", {"proposal": "按第二版办理", "basis": "《信访工作条例》"})
    assert r.status_code == 200, r.get_json()
    assert api.instance("admin", case_b)["status"] == "completed"


def test_the_start_uses_the_latest_versions_start_form(api: ApiClient) -> None:
    deploy(api, fv(), {"fv_start": START, "fv_work": WORK_V1})
    changed = {**START, "title": "登记（第二版）", "properties": {**START["properties"],
                                                          "phone": {"type": "string", "title": "联系电话"}},
               "required": ["subject", "phone"]}
    deploy(api, fv(), {"fv_start": changed})
    r = api.post("admin", "/api/v1/instances", json={"process": "fv", "data": {"subject": "丙"}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "phone", "message": "此项为必填项"}]
    api.app.config["WTF_CSRF_ENABLED"] = False
    page = text(login(api.app, "admin").get("/instances/new/fv"))
    assert "登记（第二版）" in page and "联系电话" in page


def test_a_deployment_snapshots_every_form_its_diagram_names(api: ApiClient) -> None:
    deploy(api, fv(), {"fv_start": START, "fv_work": WORK_V1})
    deploy(api, fv("表单版本（修订）"))  # no override: each form is the latest version's
    deploy(api, fv("表单版本（再修订）"), {"fv_work": WORK_V2})
    assert snapshots(api, "fv") == {1: {"fv_start": START, "fv_work": WORK_V1},
                                    2: {"fv_start": START, "fv_work": WORK_V1},
                                    3: {"fv_start": START, "fv_work": WORK_V2}}
    # the repository's petition: its start form and every task's form, as forms/ has them
    from service.forms import FORMS_DIR

    xml = (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")
    named = {part.split('"')[0] for part in xml.split('camunda:formKey="')[1:]}
    assert set(snapshots(api, "petition")[1]) == named
    for key, schema in snapshots(api, "petition")[1].items():
        assert schema == json.loads((FORMS_DIR / f"{key}.json").read_text(encoding="utf-8")), key


def test_the_checksum_covers_the_forms(api: ApiClient) -> None:
    assert deploy(api, fv(), {"fv_start": START, "fv_work": WORK_V1})["version"] == 1
    same = deploy(api, fv(), {"fv_start": START, "fv_work": WORK_V1})
    assert (same["version"], same["changed"]) == (1, False)
    assert deploy(api, fv(), {"fv_work": {**WORK_V1, "title": "承办（改题）"}})["version"] == 2
    reordered = {**WORK_V2, "properties": dict(reversed(list(WORK_V2["properties"].items())))}
    assert deploy(api, fv(), {"fv_work": WORK_V2})["version"] == 3
    assert deploy(api, fv(), {"fv_work": reordered})["version"] == 4  # the fields' order is the form's
    back = deploy(api, fv(), {"fv_work": WORK_V1})  # v1's content again: new unless known is asked
    assert (back["version"], back["changed"]) == (5, True)
    known = deploy(api, fv(), {"fv_work": WORK_V2}, skip_known=True)
    assert (known["version"], known["changed"]) == (3, False)
    assert versions(api, "fv") == [1, 2, 3, 4, 5]


def test_a_form_that_exists_nowhere_is_refused_and_an_override_is_checked(api: ApiClient) -> None:
    from service.errors import Invalid

    for forms, message in (({"fv_start": START}, "表单 fv_work 不存在（forms/fv_work.json）"),
                           ({"fv_start": START, "fv_work": {"type": 7}},
                            "表单 fv_work 不是有效的 JSON Schema：7 is not valid under any of the given schemas")):
        try:
            deploy(api, fv(), forms)
        except Invalid as exc:
            assert [(d["element_id"], d["name"], d["message"]) for d in exc.details] == [("work", "承办", message)]
        else:
            raise AssertionError("deployed a diagram whose form is missing or broken")
    assert versions(api, "fv") == []


def restart(api: ApiClient) -> None:
    """What a restart of the server does: build() on the same database (bpmn/ deployed at start)."""
    from service.bootstrap import build
    from service.config import Settings

    services = build(Settings(database_url=api.app.extensions["govflow"].settings.database_url,
                              secret_key="test-secret"))
    services.db.dispose()


def test_a_version_deployed_in_the_browser_survives_a_restart(api: ApiClient) -> None:
    xml = (api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")
    renamed = xml.replace('name="信访件办理" isExecutable="true"', 'name="信访件办理（修订）" isExecutable="true"')
    r = api.client.post("/api/v1/definitions", data=renamed.encode(),
                        headers={**api.headers("admin"), "Content-Type": "application/xml"})
    assert r.status_code == 201 and r.get_json()["version"] == 2, r.get_json()
    restart(api)
    assert versions(api, "petition") == [1, 2]
    reply = json.loads(json.dumps(snapshots(api, "petition")[2]["petition_reply"]))
    reply["title"] = "答复（浏览器修订）"
    from service.bootstrap import deploy_bytes

    result = deploy_bytes(runtime(api), renamed, "petition.bpmn", "admin", form_overrides={"petition_reply": reply})
    assert result["versions"] == {"petition": 3}
    restart(api)
    assert versions(api, "petition") == [1, 2, 3]
    assert snapshots(api, "petition")[3]["petition_reply"]["title"] == "答复（浏览器修订）"


def test_a_changed_form_file_is_deployed_at_start_up(api: ApiClient, tmp_path: Path) -> None:
    """A deploy of the repository's files takes forms/ as the forms: a changed file is a new version."""
    from service.bootstrap import deploy_files
    from service.forms import FORMS_DIR, FormRegistry
    from service.runtime import Runtime

    forms_dir = tmp_path / "forms"
    shutil.copytree(FORMS_DIR, forms_dir)
    files = Runtime(api.app.extensions["govflow"].db, FormRegistry(forms_dir))
    petition = api.app.extensions["govflow"].settings.bpmn_dir / "petition.bpmn"
    assert deploy_files(files, [petition], skip_known=True)[0]["changed"] is False
    reply = json.loads((forms_dir / "petition_reply.json").read_text(encoding="utf-8"))
    (forms_dir / "petition_reply.json").write_text(json.dumps({**reply, "title": "答复（文件修订）"},
                                                              ensure_ascii=False), encoding="utf-8")
    result = deploy_files(files, [petition], skip_known=True)[0]
    assert (result["versions"], result["changed"]) == ({"petition": 2}, True)
    assert snapshots(api, "petition")[2]["petition_reply"]["title"] == "答复（文件修订）"


def test_versions_deployed_before_snapshots_keep_the_file_forms_and_their_number(api: ApiClient) -> None:
    """An installation upgraded to snapshots: its versions have none (their cases read forms/) and
    their checksum covers the XML only — a restart deploys no new version of them."""
    from service.forms import FORMS_DIR
    from service.runtime import Runtime
    from service.store.designer_models import DefinitionForm
    from service.store.models import Definition

    db = api.app.extensions["govflow"].db
    with db.write() as session:
        definition = session.scalars(select(Definition).where(Definition.key == "petition")).one()
        session.execute(delete(DefinitionForm).where(DefinitionForm.definition_id == definition.id))
        legacy = hashlib.sha256(f"petition\n{definition.bpmn_xml}".encode()).hexdigest()
        session.execute(update(Definition).where(Definition.id == definition.id).values(checksum=legacy))
        definition_id = definition.id
    fresh = Runtime(db).forms
    file_form = json.loads((FORMS_DIR / "petition_reply.json").read_text(encoding="utf-8"))
    assert fresh.get("petition_reply", definition_id).schema == file_form
    restart(api)
    assert versions(api, "petition") == [1]
