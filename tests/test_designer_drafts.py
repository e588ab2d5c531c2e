"""Safe designing (issue 13, item 7): a 流程设计员 edits a draft (autosaved, one per procedure),
runs the server's checks and submits it — an administrator is told — but never deploys; the
administrator deploys the draft with a 版本说明 and the draft is gone; a refused deployment and a
malformed autosave leave the draft as it was; a draft begun on an older version is saved and the
modeler says so. Session endpoints carry X-CSRFToken; the same calls exist under /api/v1."""

from __future__ import annotations

from typing import Any

from conftest import ApiClient
from designer_support import PETITION_XML, Session, petition_xml, stored_draft, versions

DRAFT = "/designer/petition/draft"
NOT_DEPLOYER = "只有系统管理员可以部署流程，流程设计员请提交审核"
NOT_DESIGNER = "只有系统管理员和流程设计员可以设计流程"


def test_a_designer_saves_and_submits_a_draft_and_the_admins_are_told(app: Any) -> None:
    sjy = Session(app, "sjy1")
    xml = petition_xml("分管领导审阅")
    saved = sjy.put(DRAFT, json={"xml": xml})
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["status"] == "editing"
    assert saved.get_json()["stale"] is None
    assert sjy.get(f"{DRAFT}.xml").get_data(as_text=True) == xml
    submitted = sjy.post(f"{DRAFT}/submit", json={"comment": "分管领导签阅改名为审阅"})
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "submitted"
    draft = stored_draft(app)
    assert draft is not None
    assert (draft["status"], draft["submitted_by"], draft["comment"]) == ("submitted", "sjy1", "分管领导签阅改名为审阅")
    admin_notices = ApiClient(app).get("admin", "/api/v1/notices").get_json()
    mine = [n for n in admin_notices if n["kind"] == "draft_submitted"]
    assert len(mine) == 1
    assert mine[0]["kind_name"] == "流程草稿待部署"
    assert mine[0]["text"] == "流程设计员 提交了「信访件办理」（petition）的草稿，请审核部署：分管领导签阅改名为审阅"


def test_a_designer_may_not_deploy_and_nothing_is_deployed(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    refused = sjy.post("/designer/petition/deploy", json={"comment": "我来部署"})
    assert refused.status_code == 403
    assert refused.get_json()["message"] == NOT_DEPLOYER
    assert [v for v, _by, _c in versions(app)] == [1]
    assert stored_draft(app) is not None
    # the same through the API with a token
    api = ApiClient(app)
    assert api.post("sjy1", "/api/v1/designer/petition/deploy", json={}).status_code == 403
    assert [v for v, _by, _c in versions(app)] == [1]


def test_the_admin_deploys_the_draft_with_a_comment_and_the_draft_is_gone(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    assert sjy.post(f"{DRAFT}/submit", json={"comment": "改名"}).status_code == 200
    admin = Session(app, "admin")
    deployed = admin.post("/designer/petition/deploy", json={"comment": "签阅改为审阅"})
    assert deployed.status_code == 201, deployed.get_json()
    body = deployed.get_json()
    assert (body["version"], body["changed"], body["draft_removed"]) == (2, True, True)
    assert body["message"] == "已部署 petition v2"
    assert versions(app)[-1] == (2, "admin", "签阅改为审阅")
    assert stored_draft(app) is None
    assert sjy.get(f"{DRAFT}.xml").status_code == 404
    latest = ApiClient(app).get("admin", "/api/v1/definitions").get_json()
    assert next(d for d in latest if d["key"] == "petition")["version"] == 2


def test_without_a_comment_the_deployment_takes_the_drafts(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅"), "comment": "草稿说明"}).status_code == 200
    assert Session(app, "admin").post("/designer/petition/deploy", json={}).status_code == 201
    assert versions(app)[-1] == (2, "admin", "草稿说明")


def test_a_refused_deployment_leaves_the_draft_untouched(app: Any) -> None:
    sjy = Session(app, "sjy1")
    xml = petition_xml(group="no_such_group")
    assert sjy.put(DRAFT, json={"xml": xml}).status_code == 200
    before = stored_draft(app)
    refused = Session(app, "admin").post("/designer/petition/deploy", json={"comment": "试试"})
    assert refused.status_code == 422
    errors = [d for d in refused.get_json()["details"] if d["level"] == "error"]
    assert [(d["element_id"], d["name"], d["message"]) for d in errors] == [
        ("leader_sign", "分管领导签阅", "办理组 no_such_group 不存在")]
    assert stored_draft(app) == before
    assert [v for v, _by, _c in versions(app)] == [1]


def test_a_malformed_autosave_is_refused_and_the_draft_is_unchanged(app: Any) -> None:
    sjy = Session(app, "sjy1")
    good = petition_xml("分管领导审阅")
    assert sjy.put(DRAFT, json={"xml": good}).status_code == 200
    bad = sjy.put(DRAFT, json={"xml": good[:-40]})
    assert bad.status_code == 422
    assert bad.get_json()["message"] == "流程图不是格式正确的 XML"
    doctype = sjy.put(DRAFT, json={"xml": '<!DOCTYPE x [<!ENTITY e "x">]>' + good})
    assert doctype.status_code == 422
    assert doctype.get_json()["message"] == "流程图被拒绝：不允许 DOCTYPE/实体声明"
    assert stored_draft(app)["xml"] == good  # type: ignore[index]


def test_a_malformed_first_autosave_creates_no_draft(app: Any) -> None:
    sjy = Session(app, "sjy1")
    bad = sjy.put(DRAFT, json={"xml": "<bpmn:definitions"})
    assert bad.status_code == 422
    assert bad.get_json()["message"] == "流程图不是格式正确的 XML"
    assert stored_draft(app) is None


def test_a_draft_based_on_an_older_version_is_saved_and_the_modeler_says_so(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    api = ApiClient(app)
    upload = api.post("admin", "/api/v1/definitions", data=petition_xml("分管领导批示").encode(),
                      content_type="application/xml")
    assert upload.status_code == 201 and upload.get_json()["version"] == 2
    saved = sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅（二）")})
    assert saved.status_code == 200
    assert saved.get_json()["stale"] == "草稿基于 v1，当前已是 v2"
    assert stored_draft(app)["xml"] == petition_xml("分管领导审阅（二）")  # type: ignore[index]
    page = sjy.get("/definitions/petition/edit").get_data(as_text=True)
    assert "草稿基于 v1，当前已是 v2" in page
    listing = sjy.get("/definitions").get_data(as_text=True)
    assert "草稿基于 v1，当前已是 v2" in listing


def test_the_modeler_page_gets_the_contracts_context(app: Any) -> None:
    import json
    import re

    sjy = Session(app, "sjy1")

    def config() -> dict[str, Any]:
        page = sjy.get("/definitions/petition/edit")
        assert page.status_code == 200
        found = re.search(r'id="modeler-config">(.*?)</script>', page.get_data(as_text=True), re.S)
        assert found is not None
        return dict(json.loads(found.group(1)))

    first = config()
    assert first["can_deploy"] is False and first["draft"] is None
    assert first["definition"]["key"] == "petition" and first["definition"]["version"] == 1
    urls = first["urls"]
    assert urls["deploy"] is None
    assert urls["form_edit"] == "/designer/petition/forms/__FORM__"
    assert (urls["catalog"], urls["check"], urls["draft"], urls["submit"]) == (
        "/designer/petition/catalog", "/designer/petition/check", DRAFT, f"{DRAFT}/submit")
    assert urls["versions"] == "/definitions/petition/versions"
    assert urls["xml"] == f"/definitions/{first['definition']['id']}/xml"
    latest_xml = sjy.get(urls["xml"])  # a designer reads the deployed diagram without a case of it
    assert latest_xml.status_code == 200 and 'id="leader_sign"' in latest_xml.get_data(as_text=True)
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    second = config()
    assert second["urls"]["xml"] == f"{DRAFT}.xml"
    assert second["draft"]["status"] == "editing" and second["draft"]["updated_by"] == "流程设计员"
    admin = Session(app, "admin")
    page = admin.get("/definitions/petition/edit").get_data(as_text=True)
    assert '"deploy": "/designer/petition/deploy"' in page and '"can_deploy": true' in page


def test_the_server_check_lists_unknown_groups_by_name_and_deploys_nothing(app: Any) -> None:
    sjy = Session(app, "sjy1")
    bad = sjy.post("/designer/petition/check", data=petition_xml(group="no_such_group").encode(),
                   content_type="application/xml")
    assert bad.status_code == 200
    body = bad.get_json()
    assert body["ok"] is False
    assert [(e["element_id"], e["name"], e["message"]) for e in body["errors"]] == [
        ("leader_sign", "分管领导签阅", "办理组 no_such_group 不存在")]
    good = sjy.post("/designer/petition/check", data=PETITION_XML.encode(), content_type="application/xml")
    assert good.get_json() == {"ok": True, "errors": [], "warnings": []}
    malformed = sjy.post("/designer/petition/check", data=b"<bpmn:definitions", content_type="application/xml")
    assert malformed.get_json()["ok"] is False
    assert malformed.get_json()["errors"][0]["message"].startswith("XML 语法错误")
    assert [v for v, _by, _c in versions(app)] == [1]


def test_the_catalog_offers_groups_forms_helpers_and_due_presets(app: Any) -> None:
    catalog = Session(app, "sjy1").get("/designer/petition/catalog")
    assert catalog.status_code == 200
    body = catalog.get_json()
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["office_leader"]["name"] and groups["office_leader"]["members"] >= 1
    forms = {f["key"]: f for f in body["forms"]}
    assert forms["petition_leader_sign"] == {"key": "petition_leader_sign", "title": "分管领导签阅", "in_diagram": True,
                                             "edit_url": "/designer/petition/forms/petition_leader_sign"}
    assert body["forms"][0]["in_diagram"] is True
    helpers = {h["name"]: h for h in body["helpers"]}
    assert helpers["add_days"]["doc"] == '期限：自 start 起 n 日；kind 为 "working" 时按工作日计算'
    assert "petition" in helpers
    assert [p["expression"] for p in body["due_presets"]] == [
        "${add_days(now(), N)}", '${add_days(now(), N, "working")}', "${add_days(received_at, N)}"]
    assert [p["label"] for p in body["due_presets"]] == ["N 日", "N 个工作日", "收件后 N 日"]


def test_who_is_not_a_designer_gets_403_in_chinese(app: Any) -> None:
    xfk = Session(app, "xfk1")
    for response in (xfk.get("/designer/petition/catalog"), xfk.put(DRAFT, json={"xml": PETITION_XML}),
                     xfk.post("/designer/petition/check", data=PETITION_XML.encode()),
                     xfk.post(f"{DRAFT}/submit", json={}), xfk.delete(DRAFT)):
        assert response.status_code == 403
        assert response.get_json()["message"] == NOT_DESIGNER
    assert xfk.post("/designer/petition/deploy", json={}).get_json()["message"] == NOT_DEPLOYER
    assert xfk.get("/definitions").status_code == 403
    assert xfk.get("/definitions/petition/edit").status_code == 403
    assert xfk.get("/designer/petition/forms/petition_leader_sign").status_code == 403
    assert ApiClient(app).get("xfk1", "/api/v1/designer/petition/catalog").status_code == 403
    assert stored_draft(app) is None


def test_the_json_calls_need_the_csrf_header(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": PETITION_XML}, csrf=False).status_code == 400
    assert stored_draft(app) is None


def test_the_definitions_list_shows_drafts_and_offers_upload_to_admins_only(app: Any) -> None:
    sjy = Session(app, "sjy1")
    page = sjy.get("/definitions")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "上传部署" not in text and 'href="/definitions/petition/versions"' in text
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    assert sjy.post(f"{DRAFT}/submit", json={"comment": "请审核"}).status_code == 200
    text = sjy.get("/definitions").get_data(as_text=True)
    assert 'data-draft-status="submitted"' in text and "已提交审核" in text and "请审核" in text
    assert sjy.post("/definitions", data={"csrf_token": sjy.csrf}).status_code == 403
    assert "上传部署" in Session(app, "admin").get("/definitions").get_data(as_text=True)


def test_a_change_after_submission_makes_the_draft_editing_again(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    assert sjy.post(f"{DRAFT}/submit", json={}).status_code == 200
    same = sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")})
    assert same.get_json()["status"] == "submitted"
    changed = sjy.put(DRAFT, json={"xml": petition_xml("分管领导阅示")})
    assert changed.get_json()["status"] == "editing"


def test_a_draft_with_errors_cannot_be_submitted(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml(group="no_such_group")}).status_code == 200
    refused = sjy.post(f"{DRAFT}/submit", json={"comment": "请部署"})
    assert refused.status_code == 422
    assert refused.get_json()["message"] == "草稿有错误，请修正后再提交"
    assert refused.get_json()["details"][0]["message"] == "办理组 no_such_group 不存在"
    assert stored_draft(app)["status"] == "editing"  # type: ignore[index]


def test_discarding_removes_the_draft(app: Any) -> None:
    sjy = Session(app, "sjy1")
    assert sjy.put(DRAFT, json={"xml": petition_xml("分管领导审阅")}).status_code == 200
    gone = sjy.delete(DRAFT)
    assert (gone.status_code, gone.get_json()) == (200, {"discarded": True})
    assert stored_draft(app) is None
    assert sjy.delete(DRAFT).get_json() == {"discarded": False}


def test_the_api_offers_the_same_calls_with_a_token(app: Any) -> None:
    api = ApiClient(app)
    saved = api.client.put("/api/v1/designer/petition/draft", json={"xml": petition_xml("分管领导审阅")},
                           headers=api.headers("sjy1"))
    assert saved.status_code == 200 and saved.get_json()["status"] == "editing"
    assert api.post("sjy1", "/api/v1/designer/petition/draft/submit", json={"comment": "接口提交"}).status_code == 200
    deployed = api.post("admin", "/api/v1/designer/petition/deploy", json={"comment": "接口部署"})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 2
    assert versions(app)[-1] == (2, "admin", "接口部署")
    assert stored_draft(app) is None
