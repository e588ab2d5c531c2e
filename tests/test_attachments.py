"""附件: files uploaded at registration, at handling and on the case page; their limits (size,
count, type by content), names, download headers, who may upload and open them (a personal
file masked like the petitioner's data), their history rows — and never in the state JSON.
On SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from conftest import PETITION, ROAD_PETITION, ApiClient, done, login, start, text

from workflows.petition_sample import dept_route

MB = 1024 * 1024
def just_now(at: str) -> bool:
    """At the suite's pinned clock (2026-12-01T10:00+08:00, running on by the seconds a test takes)."""
    return at.startswith("2026-12-01T10:0") and at.endswith("+08:00")


def pdf(body: bytes = b"letter") -> bytes:
    return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Body (" + body + b") >>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def upload(api: ApiClient, user: str, iid: int, name: str, content: bytes, kind: str = "其他",
           task_id: str | None = None) -> Any:
    data: dict[str, Any] = {"kind": kind, "file": (io.BytesIO(content), name)}
    if task_id:
        data["task_id"] = task_id
    return api.client.post(f"/api/v1/instances/{iid}/attachments", headers=api.headers(user), data=data,
                           content_type="multipart/form-data")


def listed(api: ApiClient, user: str, iid: int) -> list[dict[str, Any]]:
    r = api.get(user, f"/api/v1/instances/{iid}/attachments")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def at_handling(api: ApiClient) -> int:
    """A petition routed to 法制工作委员会 (dept_fgw), waiting at 部门办理 (handle)."""
    iid = start(api)
    for user, bpmn_id, data in dept_route()[:4]:
        done(api, user, iid, bpmn_id, data)
    return iid


def attach_rows(api: ApiClient, user: str, iid: int) -> list[dict[str, Any]]:
    return [h for h in api.instance(user, iid)["history"] if h["action"] == "attach"]


@pytest.fixture
def pages(app: Any) -> Any:
    app.config["WTF_CSRF_ENABLED"] = False
    app.config["TESTING"] = True
    return app


def _stored_counts(app: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from service.store.attachment_models import Attachment, AttachmentBlob

    with app.extensions["govflow"].db.read() as session:
        return (session.scalar(select(func.count()).select_from(Attachment)) or 0,
                session.scalar(select(func.count()).select_from(AttachmentBlob)) or 0)


# ----- at registration --------------------------------------------------------------------------


def test_registration_form_stores_the_letter_with_the_new_case_as_personal(pages: Any, api: ApiClient) -> None:
    client = login(pages, "xfk1")
    form = {**ROAD_PETITION, "people_count": "1", "attachment_kind": "来信扫描件",
            "attachments": [(io.BytesIO(pdf()), "来信.pdf"), (io.BytesIO(b"\xff\xd8\xff\xe0jpeg"), "信封.JPG")]}
    r = client.post("/petitions/new", data=form, content_type="multipart/form-data")
    assert r.status_code == 302, text(r)
    iid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    files = listed(api, "xfk1", iid)
    assert [(f["filename"], f["kind"], f["media_type"], f["step"], f["personal"]) for f in files] == [
        ("来信.pdf", "来信扫描件", "application/pdf", "start", True),
        ("信封.JPG", "来信扫描件", "image/jpeg", "start", True)]
    assert all(f["uploaded_by"] == "xfk1" and just_now(f["uploaded_at"]) for f in files)
    rows = attach_rows(api, "xfk1", iid)
    assert [(h["task_name"], h["comment"]) for h in rows] == [("登记", "上传附件（来信扫描件）")] * 2
    page = text(client.get(f"/instances/{iid}"))
    assert "来信.pdf" in page and "信访科 张科员" in page and f"/attachments/{files[0]['id']}" in page


def test_registration_with_a_refused_file_registers_nothing(pages: Any, api: ApiClient) -> None:
    client = login(pages, "xfk1")
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    form = {**ROAD_PETITION, "people_count": "1", "attachments": [(io.BytesIO(html), "来信.pdf")]}
    r = client.post("/petitions/new", data=form, content_type="multipart/form-data")
    assert r.status_code == 422
    assert "“来信.pdf”的内容与扩展名 .pdf 不符" in text(r) and "仅允许上传 PDF" in text(r)
    assert ROAD_PETITION["subject"] in text(r)  # the form again, with what was typed
    assert api.get("xfk1", "/api/v1/instances").get_json() == []
    assert _stored_counts(pages) == (0, 0)


def test_api_letter_uploaded_after_registration_is_personal(api: ApiClient) -> None:
    iid = start(api)
    r = upload(api, "xfk1", iid, "来信.pdf", pdf(), kind="来信扫描件")
    assert r.status_code == 201, r.get_json()
    [item] = r.get_json()
    assert (item["filename"], item["kind"], item["personal"], item["step"]) == ("来信.pdf", "来信扫描件", True, "classify")


# ----- at handling, listing, history ------------------------------------------------------------


def test_department_uploads_a_reply_draft_on_its_task_page(pages: Any, api: ApiClient) -> None:
    iid = at_handling(api)
    task = api.task("fgw1", iid, "handle")
    client = login(pages, "fgw1")
    page = text(client.get(f"/tasks/{task['id']}"))
    assert 'id="attachment-upload"' in page and f'name="task_id" value="{task["id"]}"' in page
    r = client.post(f"/instances/{iid}/attachments", data={
        "kind": "答复草稿", "task_id": task["id"], "next": f"/tasks/{task['id']}",
        "file": (io.BytesIO(docx()), "答复意见（草稿）.docx")}, content_type="multipart/form-data")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tasks/{task['id']}")
    [item] = listed(api, "fgw1", iid)
    assert (item["filename"], item["kind"], item["step"], item["task_id"], item["personal"], item["uploaded_by"]) == (
        "答复意见（草稿）.docx", "答复草稿", "handle", task["id"], False, "fgw1")
    assert item["media_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    [row] = attach_rows(api, "xfk1", iid)
    assert (row["user"], row["task"], row["task_name"], row["comment"]) == (
        "fgw1", "handle", "办理", "上传附件 答复意见（草稿）.docx（答复草稿）")
    case_page = text(client.get(f"/instances/{iid}"))
    assert "上传附件 答复意见（草稿）.docx（答复草稿）" in case_page  # the timeline
    assert "答复草稿" in case_page and "法制工作委员会" in case_page


def test_a_step_not_the_users_may_not_upload(api: ApiClient) -> None:
    iid = start(api)  # at 归纳分类 (信访科)
    assert upload(api, "bgs", iid, "意见.pdf", pdf()).status_code == 403  # a leader who sees it, no task
    task = api.task("xfk1", iid, "classify")
    assert upload(api, "fgw1", iid, "x.pdf", pdf(), task_id=task["id"]).status_code == 403
    assert listed(api, "xfk1", iid) == []


def test_listing_says_who_uploaded_what_when(api: ApiClient) -> None:
    iid = at_handling(api)
    assert upload(api, "xfk1", iid, "补充材料.pdf", pdf(b"x" * 3000), kind="办理材料").status_code == 201
    assert upload(api, "fgw1", iid, "情况说明.txt", "经调查，情况属实。".encode()).status_code == 201
    files = listed(api, "msz", iid)
    assert [(f["filename"], f["kind"], f["uploaded_by"], f["size"]) for f in files] == [
        ("补充材料.pdf", "办理材料", "xfk1", len(pdf(b"x" * 3000))),
        ("情况说明.txt", "其他", "fgw1", len("经调查，情况属实。".encode()))]
    assert all(just_now(f["uploaded_at"]) for f in files)


# ----- limits and checks ------------------------------------------------------------------------


def test_a_file_over_10_mb_is_refused_and_nothing_is_stored(api: ApiClient) -> None:
    iid = start(api)
    r = upload(api, "xfk1", iid, "大文件.pdf", pdf(b"0" * (11 * MB)))
    assert r.status_code == 413
    assert r.get_json()["message"] == "文件“大文件.pdf”超过 10 MB，未上传"
    assert listed(api, "xfk1", iid) == [] and attach_rows(api, "xfk1", iid) == []
    assert _stored_counts(api.app) == (0, 0)
    # 3 MB is above the app's 2 MB body limit but well within an upload's
    assert upload(api, "xfk1", iid, "扫描件.pdf", pdf(b"0" * (3 * MB))).status_code == 201
    big_json = {"process": "petition", "data": {**PETITION, "content": "长" * (3 * MB)}}
    assert api.post("xfk1", "/api/v1/instances", json=big_json).status_code == 413  # other routes: 2 MB


def test_a_file_too_large_on_the_case_page_is_flashed(pages: Any, api: ApiClient) -> None:
    iid = start(api)
    client = login(pages, "xfk1")
    r = client.post(f"/instances/{iid}/attachments", data={"kind": "其他", "file": (
        io.BytesIO(pdf(b"0" * (11 * MB))), "大.pdf")}, content_type="multipart/form-data", follow_redirects=True)
    assert "附件未上传：文件“大.pdf”超过 10 MB，未上传" in text(r)
    assert listed(api, "xfk1", iid) == []


@pytest.mark.parametrize(("name", "content", "why"), [
    ("来信.pdf", b"<html><body>not a pdf</body></html>", "“来信.pdf”的内容与扩展名 .pdf 不符"),
    ("照片.png", b"\xff\xd8\xff\xe0 a jpeg", "“照片.png”的内容与扩展名 .png 不符"),
    ("说明.docx", b"MZ\x90\x00 an executable", "“说明.docx”的内容与扩展名 .docx 不符"),
    ("压缩包.docx", b"PK\x03\x04 not a zip at all", "“压缩包.docx”的内容与扩展名 .docx 不符"),
    ("程序.exe", b"MZ\x90\x00", "“程序.exe”的内容与扩展名 .exe 不符"),
    ("页面.txt", b"<script>alert(1)</script>", "“页面.txt”的内容与扩展名 .txt 不符"),
    ("README", b"plain", "“README”没有扩展名"),
    ("空.pdf", b"", "“空.pdf”是空文件，未上传"),
])
def test_the_type_is_checked_by_content(api: ApiClient, name: str, content: bytes, why: str) -> None:
    iid = start(api)
    r = upload(api, "xfk1", iid, name, content)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["message"].startswith(why)
    assert listed(api, "xfk1", iid) == []


def test_unknown_kind_and_count_per_case_are_refused(api: ApiClient) -> None:
    iid = start(api)
    r = upload(api, "xfk1", iid, "a.pdf", pdf(), kind="病毒")
    assert r.status_code == 422 and r.get_json()["message"].startswith("附件类别应为：来信扫描件")
    assert api.client.put("/api/v1/settings/attachments.max_per_case", json={"value": 2},
                          headers=api.headers("admin")).status_code == 200
    try:
        assert upload(api, "xfk1", iid, "1.pdf", pdf()).status_code == 201
        assert upload(api, "xfk1", iid, "2.pdf", pdf()).status_code == 201
        r = upload(api, "xfk1", iid, "3.pdf", pdf())
        assert r.status_code == 422 and r.get_json()["message"] == "每个案件最多 2 个附件，本案已有 2 个，未上传"
    finally:
        api.client.put("/api/v1/settings/attachments.max_per_case", json={"value": 20}, headers=api.headers("admin"))
    assert [f["filename"] for f in listed(api, "xfk1", iid)] == ["1.pdf", "2.pdf"]


@pytest.mark.parametrize(("raw", "kept"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("/home/张三/桌面/来信 扫描.pdf", "来信 扫描.pdf"),
    ("恶意\u202efdp.exe.pdf", "恶意fdp.exe.pdf"),
    ("...隐藏\x00\x07.pdf", "隐藏.pdf"),
    ("a<b>:c|d?.pdf", "a_b__c_d_.pdf"),
])
def test_file_names_are_sanitised(api: ApiClient, raw: str, kept: str) -> None:
    iid = start(api)
    r = upload(api, "xfk1", iid, raw, pdf())
    assert r.status_code == 201, r.get_json()
    assert r.get_json()[0]["filename"] == kept


def test_a_windows_path_keeps_its_last_part_and_long_names_their_extension() -> None:
    from service.attachment_types import clean_filename

    assert clean_filename("C:\\Users\\张三\\Desktop\\来信.pdf") == "来信.pdf"
    assert clean_filename("长" * 300 + ".pdf") == "长" * 116 + ".pdf"
    assert clean_filename("../..") == "附件" and clean_filename(None) == "附件"


# ----- downloading, who may -------------------------------------------------------------------


def test_download_sends_the_bytes_with_safe_headers(api: ApiClient) -> None:
    iid = at_handling(api)
    content = pdf(b"reply")
    [item] = upload(api, "fgw1", iid, "答复 草稿.pdf", content, kind="答复草稿").get_json()
    r = api.get("xfk1", f"/api/v1/attachments/{item['id']}")
    assert r.status_code == 200 and r.data == content
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Length"] == str(len(content))
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E7%AD%94%E5%A4%8D%20%E8%8D%89%E7%A8%BF.pdf")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "private, no-store"
    text_item = upload(api, "fgw1", iid, "note.txt", "办理情况".encode()).get_json()[0]
    r = api.get("xfk1", f"/api/v1/attachments/{text_item['id']}")
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="note.txt"; ')


def test_a_personal_file_is_listed_masked_and_refused_outside_the_chain(pages: Any, api: ApiClient) -> None:
    iid = at_handling(api)
    [letter] = upload(api, "xfk1", iid, "张三身份证.jpg", b"\xff\xd8\xff\xe0id", kind="身份证明").get_json()
    [draft] = upload(api, "fgw1", iid, "答复.pdf", pdf(), kind="答复草稿").get_json()
    # the handling unit and the chain see it; the administrator sees the case, not the petitioner
    assert api.get("fgw1", f"/api/v1/attachments/{letter['id']}").status_code == 200
    r = api.get("admin", f"/api/v1/attachments/{letter['id']}")
    assert r.status_code == 403 and r.get_json()["message"] == "该附件含个人信息，您无权查看"
    assert api.get("admin", f"/api/v1/attachments/{draft['id']}").status_code == 200
    files = listed(api, "admin", iid)
    assert [(f["filename"], f["masked"], f["sha256"]) for f in files] == [
        ("身份证明（已隐藏）", True, None), ("答复.pdf", False, draft["sha256"])]
    [row] = [h for h in attach_rows(api, "admin", iid) if h["user"] == "xfk1"]
    assert row["comment"] == "上传附件（身份证明）"  # no name in the timeline everyone reads
    page = text(login(pages, "admin").get(f"/instances/{iid}"))
    assert "身份证明（已隐藏）" in page and "张三身份证" not in page
    assert f"/attachments/{letter['id']}" not in page and f"/attachments/{draft['id']}" in page
    assert login(pages, "admin").get(f"/attachments/{letter['id']}").status_code == 403


def test_a_user_who_may_not_see_the_case_gets_403(pages: Any, api: ApiClient) -> None:
    iid = at_handling(api)
    [item] = upload(api, "fgw1", iid, "答复.pdf", pdf(), kind="答复草稿").get_json()
    assert api.get("cjw1", f"/api/v1/attachments/{item['id']}").status_code == 403
    assert api.get("cjw1", f"/api/v1/instances/{iid}/attachments").status_code == 403
    assert upload(api, "cjw1", iid, "x.pdf", pdf()).status_code == 403
    assert login(pages, "cjw1").get(f"/attachments/{item['id']}").status_code == 403
    assert api.get("cjw1", "/api/v1/attachments/999999").status_code == 404


def test_files_are_kept_outside_the_state_json(api: ApiClient) -> None:
    from sqlalchemy import select

    from service.store.attachment_models import AttachmentBlob
    from service.store.models import InstanceState

    iid = start(api)
    content = pdf(b"UNIQUE-LETTER-MARK")
    [item] = upload(api, "xfk1", iid, "独特名称.pdf", content, kind="来信扫描件").get_json()
    with api.app.extensions["govflow"].db.read() as session:
        state = session.scalar(select(InstanceState.state).where(InstanceState.instance_id == iid))
        blob = session.scalar(select(AttachmentBlob.content).where(AttachmentBlob.attachment_id == item["id"]))
    assert bytes(blob) == content
    assert "UNIQUE-LETTER-MARK" not in state and "独特名称" not in state and item["sha256"] not in state
    assert "独特名称" not in json.dumps(api.instance("xfk1", iid)["data"], ensure_ascii=False)


def test_a_body_over_the_upload_limit_is_refused_unread(sqlite_api: ApiClient) -> None:
    """The upload routes take 5 files at the size limit plus 1 MB of form (here 1 MB → 6 MB)."""
    api = sqlite_api
    api.app.config["WTF_CSRF_ENABLED"] = False
    iid = start(api)
    assert api.client.put("/api/v1/settings/attachments.max_mb", json={"value": 1},
                          headers=api.headers("admin")).status_code == 200
    try:
        r = upload(api, "xfk1", iid, "大.pdf", pdf(b"0" * (7 * MB)))
        assert r.status_code == 413
        assert r.get_json()["message"] == "上传内容过大：每个附件不超过 1 MB，一次最多 5 个，未上传"
        r = login(api.app, "xfk1").post(f"/instances/{iid}/attachments", data={
            "file": (io.BytesIO(pdf(b"0" * (7 * MB))), "大.pdf")}, content_type="multipart/form-data",
            follow_redirects=True)
        assert "上传内容过大：每个附件不超过 1 MB" in text(r)
    finally:
        api.client.put("/api/v1/settings/attachments.max_mb", json={"value": 10}, headers=api.headers("admin"))
    assert listed(api, "xfk1", iid) == []
