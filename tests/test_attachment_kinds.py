"""附件类别 per procedure (`Procedure.attachments`, service/attachment_rules.py): a petition's files
keep the petition's kinds and a registration upload stays personal data (the letter); a website
article's files are its pictures and downloads, none personal — published with the article on the
public site (/site/files/<id>); an emergency's files are scene photos and reports for those who
handle it, personal only as 身份证明; a dispute's are the parties' materials (personal). A kind
the procedure does not list is 422 in Chinese, and the pages offer the procedure's own kinds.
SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import pytest
from conftest import ROAD_PETITION, ApiClient, login, pin_clock, start, text

from service import clock

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
ARTICLE_FORM = {
    "title": "市人大常委会召开第十次会议", "column": "人大要闻", "author": "张三", "source": "市人大常委会办公室",
    "department": "dept_fgw", "received_at": "2026-12-01T09:00", "body": "<p>会议审议了有关报告。</p>",
}
ALL_PASS = {"wording": True, "secrecy": True, "ideology": True, "ethnic_religion": True, "border": True}


def pdf(body: bytes = b"article") -> bytes:
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Body (" + body + b") >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.fixture
def pages(app: Any) -> Any:
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["TESTING"] = True
    return app


def register_article(pages: Any, kind: str, files: list[tuple[bytes, str]]) -> Any:
    form = {**ARTICLE_FORM, "attachment_kind": kind,
            "attachments": [(io.BytesIO(content), name) for content, name in files]}
    return login(pages, "web1").post("/articles/new", data=form, content_type="multipart/form-data")


def registered_id(r: Any) -> int:
    assert r.status_code == 302, text(r)
    return int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def listed(api: ApiClient, user: str, iid: int) -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/instances/{iid}/attachments")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def upload(api: ApiClient, user: str, iid: int, name: str, content: bytes, kind: str | None) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(content), name)}
    if kind is not None:
        data["kind"] = kind
    return api.client.post(f"/api/v1/instances/{iid}/attachments", headers=api.headers(user), data=data,
                           content_type="multipart/form-data")


def publish(api: ApiClient, iid: int) -> None:
    for user, bpmn_id, data in (
            ("web1", "edit", {k: ARTICLE_FORM[k] for k in ("title", "column", "body")}),
            ("bgs", "review", {"checks": ALL_PASS, "decision": "approve"}),
            ("web1", "publish", {})):
        r = api.complete(user, iid, bpmn_id, data)
        assert r.status_code == 200, (bpmn_id, r.get_json())


def attachment_count(app: Any) -> int:
    from sqlalchemy import func, select

    from service.store.attachment_models import Attachment

    with app.extensions["govflow"].db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Attachment)) or 0)


def test_an_article_registered_with_a_pdf_and_a_picture_publishes_both_on_the_site(pages: Any, api: ApiClient) -> None:
    iid = registered_id(register_article(pages, "稿件附件", [(pdf(), "会议议程.pdf"), (PNG, "会场.png")]))
    files = listed(api, "web1", iid)
    assert [(f["filename"], f["kind"], f["step"], f["personal"], f["masked"]) for f in files] == [
        ("会议议程.pdf", "稿件附件", "start", False, False), ("会场.png", "稿件附件", "start", False, False)]
    # the timeline names the files (nothing personal to hide)
    comments = [h["comment"] for h in api.instance("web1", iid)["history"] if h["action"] == "attach"]
    assert comments == ["上传附件 会议议程.pdf（稿件附件）", "上传附件 会场.png（稿件附件）"]
    doc, picture = (f["id"] for f in files)
    public = pages.test_client()  # nobody logged in
    assert public.get(f"/site/files/{doc}").status_code == 404  # not published yet
    publish(api, iid)
    served = public.get(f"/site/files/{doc}")
    assert served.status_code == 200 and served.data == pdf()
    assert served.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    image = public.get(f"/site/files/{picture}")
    assert image.status_code == 200 and image.data == PNG and image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline;")
    # the article's page lists the download, not the picture (pictures are in the body)
    page = text(public.get(f"/site/articles/{iid}"))
    assert f"/site/files/{doc}" in page and "会议议程.pdf" in page
    assert f"/site/files/{picture}" not in page


def test_the_editors_picture_gets_the_image_kind_and_is_public_after_publication(pages: Any, api: ApiClient) -> None:
    iid = registered_id(register_article(pages, "稿件附件", []))
    task = api.task("web1", iid, "edit")
    r = login(pages, "web1").post(f"/instances/{iid}/attachments", headers={"Accept": "application/json"},
                                  data={"task_id": task["id"], "file": (io.BytesIO(PNG), "合影.png")},
                                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    [item] = r.get_json()["files"]
    assert item["src"] == f"/site/files/{item['id']}"
    [stored] = listed(api, "web1", iid)
    assert (stored["kind"], stored["step"], stored["personal"]) == ("稿件图片", "edit", False)
    publish(api, iid)
    assert pages.test_client().get(item["src"]).data == PNG


def test_a_petitions_registration_upload_is_still_personal_whatever_its_kind(pages: Any, api: ApiClient) -> None:
    client = login(pages, "xfk1")
    form = {**ROAD_PETITION, "people_count": "1", "attachment_kind": "其他",
            "attachments": [(io.BytesIO(pdf(b"letter")), "信封.pdf")]}
    iid = registered_id(client.post("/petitions/new", data=form, content_type="multipart/form-data"))
    [item] = listed(api, "xfk1", iid)
    assert (item["kind"], item["step"], item["personal"]) == ("其他", "start", True)
    # after registration a file of a non-personal kind is not personal (as before)
    [later] = upload(api, "xfk1", iid, "说明.pdf", pdf(b"note"), None).get_json()
    assert (later["kind"], later["personal"]) == ("其他", False)


def test_a_kind_not_of_the_procedure_is_refused_in_chinese_and_nothing_is_stored(pages: Any, api: ApiClient) -> None:
    article = registered_id(register_article(pages, "稿件附件", []))
    petition = start(api)
    r = upload(api, "web1", article, "来信.pdf", pdf(), "来信扫描件")
    assert r.status_code == 422
    assert r.get_json()["message"] == "附件类别应为：稿件图片、稿件附件、其他"
    assert r.get_json()["details"] == [{"field": "kind", "message": "附件类别应为：稿件图片、稿件附件、其他"}]
    r = upload(api, "xfk1", petition, "图.png", PNG, "稿件图片")
    assert r.status_code == 422 and r.get_json()["message"] == "附件类别应为：来信扫描件、身份证明、答复草稿、办理材料、其他"
    assert attachment_count(pages) == 0
    # at registration: the article's start offers its own kinds only; nothing is registered
    before = len(api.get("web1", "/api/v1/instances").get_json())
    refused = register_article(pages, "身份证明", [(pdf(), "议程.pdf")])
    assert refused.status_code == 422
    assert "登记时的附件类别应为：稿件附件、稿件图片、其他" in text(refused)
    assert len(api.get("web1", "/api/v1/instances").get_json()) == before
    assert attachment_count(pages) == 0
    # a file posted without a kind gets the procedure's default
    [item] = upload(api, "web1", article, "议程.pdf", pdf(), None).get_json()
    assert item["kind"] == "稿件附件"


def _options(page: str, select_id: str) -> list[str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, select_id
    return re.findall(r'<option value="([^"]*)"', found.group(1))


def _selected(page: str, select_id: str) -> list[str]:
    found = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, select_id
    return re.findall(r'<option value="([^"]*)" selected', found.group(1))


def test_the_pages_offer_the_procedures_own_kinds(pages: Any, api: ApiClient) -> None:
    article_start = text(login(pages, "web1").get("/articles/new"))
    assert _options(article_start, "attachment_kind") == ["稿件附件", "稿件图片", "其他"]
    assert "稿件的图片和附件" in article_start and "随稿件在网站公开" in article_start
    assert "按个人信息保护" not in article_start
    petition_start = text(login(pages, "xfk1").get("/petitions/new"))
    assert _options(petition_start, "attachment_kind") == ["来信扫描件", "身份证明", "其他"]
    assert "来信扫描件等文件" in petition_start and "按个人信息保护" in petition_start
    # the task page's and the case page's pickers: the article's kinds, the task's default
    iid = registered_id(register_article(pages, "稿件附件", []))
    task = api.task("web1", iid, "edit")
    task_page = text(login(pages, "web1").get(f"/tasks/{task['id']}"))
    assert _options(task_page, "att-kind") == ["稿件图片", "稿件附件", "其他"]
    assert _selected(task_page, "att-kind") == ["稿件附件"]
    case_page = text(login(pages, "web1").get(f"/instances/{iid}"))
    assert _options(case_page, "att-kind") == ["稿件图片", "稿件附件", "其他"]


def test_a_declaration_naming_a_kind_it_does_not_list_fails_at_once() -> None:
    from service.attachment_rules import DEFAULT, AttachmentRules

    with pytest.raises(ValueError, match="附件类别声明有误"):
        AttachmentRules(kinds=("稿件图片",), start_kinds=("稿件图片",), default_kind="其他",
                        task_kind="稿件图片", image_kind="稿件图片", personal_kinds=frozenset())
    # the default is the petition's rule of today
    assert DEFAULT.personal("其他", at_registration=True) and not DEFAULT.personal("其他", at_registration=False)
    assert DEFAULT.personal("身份证明", at_registration=False)


EMERGENCY_FORM = {
    "type": "群体性事件", "occurred_at": "2026-12-01T09:30", "discovered_at": "2026-12-01T09:50",
    "place": "机关大院门口", "people_count": "12", "cause": "施工方拖欠工资，工人聚集讨薪",
}


def test_an_emergency_carries_scene_photos_and_reports_not_a_citizens_letter(pages: Any, api: ApiClient) -> None:
    pin_clock(datetime(2026, 12, 1, 10, 0, tzinfo=clock.BEIJING))
    start_page = text(login(pages, "cjw1").get("/emergencies/new"))
    assert _options(start_page, "attachment_kind") == ["现场照片", "情况报告", "其他"]
    assert "现场照片、情况报告等文件" in start_page and "来信扫描件" not in start_page
    form = {**EMERGENCY_FORM, "attachment_kind": "现场照片", "attachments": [(io.BytesIO(PNG), "现场.png")]}
    iid = registered_id(login(pages, "cjw1").post("/emergencies/new", data=form, content_type="multipart/form-data"))
    [photo] = listed(api, "zzb1", iid)
    # a scene photo sent with the report is for those handling the incident, not personal data
    assert (photo["kind"], photo["step"], photo["personal"]) == ("现场照片", "start", False)
    [identity] = upload(api, "zzb1", iid, "身份证.pdf", pdf(b"id"), "身份证明").get_json()
    assert (identity["kind"], identity["personal"]) == ("身份证明", True)
    r = upload(api, "zzb1", iid, "来信.pdf", pdf(), "来信扫描件")
    assert r.status_code == 422
    assert r.get_json()["message"] == "附件类别应为：现场照片、情况报告、处置材料、身份证明、其他"
    assert len(listed(api, "zzb1", iid)) == 2


def test_a_dispute_case_carries_the_parties_materials_as_personal_data(pages: Any, api: ApiClient) -> None:
    start_page = text(login(pages, "zzb1").get("/dispute-cases/new"))
    assert _options(start_page, "attachment_kind") == ["纠纷材料", "身份证明", "其他"]
    assert "纠纷材料等文件" in start_page and "来信扫描件" not in start_page
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": {
        "parties": "张三、李四", "type": "土地纠纷", "place": "临翔区忙畔街道某村",
        "summary": "两户村民因承包地边界发生争执", "risk": "较大"}})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    [material] = upload(api, "zzb1", iid, "笔录.pdf", pdf(b"record"), "纠纷材料").get_json()
    [agreement] = upload(api, "zzb1", iid, "协议.pdf", pdf(b"deal"), "调解协议").get_json()
    assert (material["personal"], agreement["personal"]) == (True, False)
    r = upload(api, "zzb1", iid, "来信.pdf", pdf(), "来信扫描件")
    assert r.status_code == 422
    assert r.get_json()["message"] == "附件类别应为：纠纷材料、身份证明、调解协议、办理材料、其他"
    assert len(listed(api, "zzb1", iid)) == 2
