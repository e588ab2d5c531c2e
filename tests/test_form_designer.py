"""Forms in the browser (issue 13, item 3): a designer edits a task's form (fields, 标题, types,
required, choices) into the draft; the deployment snapshots it, so the new version has the new
form while the previous version keeps its own; a schema the task page could not draw is refused
with its Chinese problems and nothing is stored; the live preview is drawn by the task page's
own code."""

from __future__ import annotations

import copy
import json
from typing import Any

from designer_support import Session, definition_id, petition_xml, stored_draft

FORM = "/designer/petition/draft/forms/petition_leader_sign"
EDITOR = "/designer/petition/forms/petition_leader_sign"
BASIS = {"title": "签阅依据", "type": "string", "x-widget": "textarea"}


def leader_sign(app: Any, definition: int | None = None) -> dict[str, Any]:
    return dict(app.extensions["govflow"].runtime.forms.get("petition_leader_sign", definition).schema)


def with_basis(app: Any) -> dict[str, Any]:
    schema = copy.deepcopy(leader_sign(app, definition_id(app, 1)))
    schema["properties"]["basis"] = BASIS
    schema["required"] = [*schema["required"], "basis"]
    return schema


def test_a_form_change_is_the_new_versions_form_and_the_old_version_keeps_its_own(app: Any) -> None:
    sjy = Session(app, "sjy1")
    saved = sjy.put(FORM, json={"schema": with_basis(app)})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["form_key"] == "petition_leader_sign" and saved.get_json()["status"] == "editing"
    draft = stored_draft(app)
    assert draft is not None and draft["forms"]["petition_leader_sign"]["properties"]["basis"] == BASIS
    deployed = Session(app, "admin").post("/designer/petition/deploy", json={"comment": "签阅增加依据"})
    assert deployed.status_code == 201, deployed.get_json()
    assert deployed.get_json()["version"] == 2
    new = leader_sign(app, definition_id(app, 2))
    old = leader_sign(app, definition_id(app, 1))
    assert new["properties"]["basis"] == BASIS and "basis" in new["required"]
    assert "basis" not in old["properties"] and old["required"] == ["decision"]
    # the editor now opens the deployed version's form
    page = sjy.get(EDITOR).get_data(as_text=True)
    assert "当前版本的表单" in page and "签阅依据" in page


def test_the_check_with_the_drafts_forms_knows_a_new_form(app: Any) -> None:
    sjy = Session(app, "sjy1")
    xml = petition_xml().replace('camunda:formKey="petition_leader_sign"', 'camunda:formKey="petition_leader_note"', 1)
    assert sjy.put("/designer/petition/draft", json={"xml": xml}).status_code == 200
    new_form = {"title": "分管领导批注", "type": "object", "properties": {"note": {"title": "批注", "type": "string"}}}
    assert sjy.put("/designer/petition/draft/forms/petition_leader_note", json={"schema": new_form}).status_code == 200
    without = sjy.post("/designer/petition/check", data=xml.encode()).get_json()
    assert [e["message"] for e in without["errors"]] == ["表单 petition_leader_note 不存在（forms/petition_leader_note.json）"]
    with_draft = sjy.post("/designer/petition/check?forms=draft", data=xml.encode()).get_json()
    assert with_draft == {"ok": True, "errors": [], "warnings": []}
    editor = sjy.get("/designer/petition/forms/petition_leader_note").get_data(as_text=True)
    assert "草稿中的修改（尚未部署）" in editor and "分管领导批注" in editor


BAD_SCHEMAS: list[tuple[str, list[dict[str, str]]]] = [
    ('{"type": "object", "properties": {}}', [{"field": "", "message": "表单至少需要一个字段"}]),
    ('{"type": "object"}', [{"field": "", "message": "表单至少需要一个字段"}]),
    ('{"type": "object", "properties": {"basis": {"type": "string"}}}',
     [{"field": "basis", "message": "字段 basis 缺少标题"}]),
    ('{"type": "object", "properties": {"basis": {"title": "依据", "type": "text"}}}',
     [{"field": "basis", "message": "字段 basis 的类型 text 不支持"}]),
    ('{"type": "object", "properties": {"basis": {"title": "依据", "type": "string"},'
     ' "basis": {"title": "依据二", "type": "string"}}}',
     [{"field": "basis", "message": "字段名 basis 重复"}]),
    ('{"type": "object", "properties": {"decision": {"title": "意见", "type": "string", "enum": []}}}',
     [{"field": "decision", "message": "字段 decision 的选项不能为空"}]),
    ('{"type": "object", "properties": {"decision": {"title": "意见", "type": "string"}}, "required": ["basis"]}',
     [{"field": "basis", "message": "必填字段 basis 不在表单中"}]),
    ('{"type": "object", "properties": {"1st": {"title": "第一", "type": "string"}}}',
     [{"field": "1st", "message": "字段名 1st 只能由英文字母、数字和下划线组成，且不能以数字开头"}]),
    ('{"type": "object", "properties": {"basis": {"title": "依据", "type": "string", "minLength": "x"}}}',
     [{"field": "basis", "message": "字段 basis 的设置 minLength 取值不正确"}]),
    ('["not", "a", "form"]', [{"field": "", "message": "表单应为 JSON 对象"}]),
]


def test_bad_form_schemas_are_refused_with_their_problems_and_nothing_is_stored(app: Any) -> None:
    sjy = Session(app, "sjy1")
    for raw, problems in BAD_SCHEMAS:
        refused = sjy.put(FORM, data=f'{{"schema": {raw}}}'.encode(), content_type="application/json")
        assert refused.status_code == 422, raw
        assert refused.get_json()["message"] == "表单有误，未保存", raw
        assert refused.get_json()["details"] == problems, raw
    assert stored_draft(app) is None


def test_a_bad_form_leaves_an_existing_drafts_form_as_it_was(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(FORM, json={"schema": with_basis(app)}).status_code == 200
    before = stored_draft(app)
    broken = with_basis(app)
    broken["properties"]["basis"] = {"type": "string"}
    refused = sjy.put(FORM, json={"schema": broken})
    assert refused.status_code == 422
    assert refused.get_json()["details"] == [{"field": "basis", "message": "字段 basis 缺少标题"}]
    assert stored_draft(app) == before


def test_the_preview_draws_the_form_as_the_task_page_does(app: Any) -> None:
    sjy = Session(app, "sjy1")
    preview = sjy.post(f"{EDITOR}/preview", data={"schema": json.dumps(with_basis(app), ensure_ascii=False)})
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert '<h3 class="fd-preview-title">分管领导签阅</h3>' in html
    assert '<label for="f_decision">签阅意见' in html and '<option value="approve">同意</option>' in html
    assert '<label for="f_basis">签阅依据' in html and '<textarea id="f_basis" name="basis"' in html
    assert 'class="schema-form" data-rules=' in html  # the task page's macro, with its if/then rules
    bad = sjy.post(f"{EDITOR}/preview", data={"schema": '{"type": "object", "properties": {"basis": {"type": "string"}}}'})
    assert bad.status_code == 200
    assert "表单有误，预览未更新" in bad.get_data(as_text=True)
    assert '<li data-field="basis">字段 basis 缺少标题</li>' in bad.get_data(as_text=True)
    not_json = sjy.post(f"{EDITOR}/preview", data={"schema": "{"})
    assert "JSON 格式错误，无法预览" in not_json.get_data(as_text=True)
    assert stored_draft(app) is None  # previews store nothing


def test_the_form_editor_page_opens_the_current_form_with_its_preview(app: Any) -> None:
    sjy = Session(app, "sjy1")
    page = sjy.get(EDITOR)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "编辑表单：<span id=\"fd-heading\">分管领导签阅</span>" in html
    assert "当前版本的表单" in html
    assert '<label for="f_decision">签阅意见' in html  # the preview, drawn before any script runs
    assert 'href="/definitions/petition/edit"' in html
    new = sjy.get("/designer/petition/forms/petition_new_step").get_data(as_text=True)
    assert "新表单" in new and "表单至少需要一个字段" in new
    assert sjy.get("/designer/petition/forms/bad.key").status_code == 404
    assert sjy.get("/designer/no_such_procedure/forms/petition_leader_sign").status_code == 404


def test_resetting_a_form_drops_the_drafts_change(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(FORM, json={"schema": with_basis(app)}).status_code == 200
    assert sjy.delete(FORM).status_code == 200
    assert stored_draft(app)["forms"] == {}  # type: ignore[index]
    assert sjy.delete(FORM).status_code == 404
