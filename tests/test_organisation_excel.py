"""组织管理 in Excel: the export (sheets 组 and 用户, Chinese header rows, memberships as keys) imports
back unchanged; an edited file updates the existing groups and users and creates new ones (with a
forced password change), deleting nobody; a file with any error is refused as a whole — every
error listed by sheet and row in Chinese — and writes nothing; `govflow org-export` /
`govflow org-import` run the same code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import login, text

GOOD = "Good-Pass-2026"


def _book(content: bytes) -> Any:
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(content))


def _bytes(book: Any) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _export(app: Any) -> bytes:
    from service import org_excel

    return org_excel.export_file(app.extensions["govflow"].db)


def _import(app: Any, content: bytes) -> dict[str, int]:
    from service import org_excel

    return org_excel.import_file(app.extensions["govflow"].db, content)


def _state(app: Any) -> Any:
    """Everything the import may touch: groups (key, name, kind) and users (fields, groups)."""
    from sqlalchemy import select

    from service.store.models import Group, User

    with app.extensions["govflow"].db.read() as session:
        return (sorted((g.key, g.name, g.kind) for g in session.scalars(select(Group))),
                sorted((u.username, u.name, u.email, u.phone, u.active, tuple(u.group_keys), u.password_hash)
                       for u in session.scalars(select(User))))


def test_the_export_has_both_sheets_with_chinese_headers_and_memberships(sqlite_app: Any) -> None:
    book = _book(_export(sqlite_app))
    assert book.sheetnames == ["组", "用户"]
    groups, users = book["组"], book["用户"]
    assert [c.value for c in groups[1]] == ["组标识", "组名称", "类别"]
    assert [c.value for c in users[1]] == ["用户名", "姓名", "电子邮箱", "电话", "所属组", "状态", "初始密码（仅新用户）"]
    rows = {r[0]: r for r in users.iter_rows(min_row=2, values_only=True)}
    assert rows["msz"][:6] == ("msz", "秘书长", None, None, "emergency_group、secretary_general", "在用")
    assert rows["msz"][6] is None  # passwords are never exported
    kinds = {r[0]: r[2] for r in groups.iter_rows(min_row=2, values_only=True)}
    assert kinds["dept_fgw"] == "部门" and kinds["county_linxiang"] == "县区" and kinds["admin"] == "平台"


def test_an_exported_file_imports_back_without_changes(sqlite_app: Any) -> None:
    before = _state(sqlite_app)
    counts = _import(sqlite_app, _export(sqlite_app))
    assert counts == {"groups_created": 0, "groups_changed": 0, "users_created": 0, "users_changed": 0}
    assert _state(sqlite_app) == before


def test_an_edited_file_updates_creates_and_deletes_nobody(sqlite_app: Any) -> None:
    book = _book(_export(sqlite_app))
    groups, users = book["组"], book["用户"]
    groups.append(["dept_jjw", "教育科学文化卫生委员会", "部门"])
    for row in groups.iter_rows(min_row=2):
        if row[0].value == "zzb":
            row[1].value, row[2].value = "综治办", "领导"
    for row in users.iter_rows(min_row=2):
        if row[0].value == "xfk2":
            row[1].value, row[3].value, row[4].value = "信访科 李明", 13812345678, "xfk、dept_jjw"
        if row[0].value == "web1":
            row[5].value = "已停用"
        if row[0].value == "fgw1":  # a row removed from the file: the user stays as they are
            for cell in row:
                cell.value = None
    users.append(["zhao6", "赵六", "zhao6@example.gov.cn", "0883-2123456", "dept_jjw", None, GOOD])
    counts = _import(sqlite_app, _bytes(book))
    assert counts == {"groups_created": 1, "groups_changed": 1, "users_created": 1, "users_changed": 2}
    api = sqlite_app.test_client()
    from conftest import ApiClient

    admin = ApiClient(sqlite_app)
    xfk2 = admin.get("admin", "/api/v1/users/xfk2").get_json()
    assert (xfk2["name"], xfk2["phone"], sorted(xfk2["groups"])) == ("信访科 李明", "13812345678", ["dept_jjw", "xfk"])
    assert admin.get("admin", "/api/v1/users/web1").get_json()["active"] is False
    assert admin.get("admin", "/api/v1/users/fgw1").get_json()["groups"] == ["dept_fgw"]
    zhao6 = admin.get("admin", "/api/v1/users/zhao6").get_json()
    assert (zhao6["name"], zhao6["groups"], zhao6["active"]) == ("赵六", ["dept_jjw"], True)
    assert admin.get("admin", "/api/v1/groups/zzb").get_json()["kind"] == "leaders"
    assert api.post("/api/v1/auth/token", json={"username": "zhao6", "password": GOOD}).status_code == 200


def test_a_file_with_errors_is_refused_row_by_row_and_writes_nothing(sqlite_app: Any) -> None:
    from service.errors import Invalid

    before = _state(sqlite_app)
    book = _book(_export(sqlite_app))
    groups, users = book["组"], book["用户"]
    groups.append(["dept_new", "新委员会", "部门"])  # right, but the file is refused as a whole
    groups.append(["Bad Key", "", "委员会"])
    for row in users.iter_rows(min_row=2):
        if row[0].value == "xfk1":
            row[1].value = "信访科 已改名"  # right, not written either
        if row[0].value == "cjw1":
            row[2].value, row[4].value = "not-an-address", "dept_cjw、nosuch"
    users.append(["newbie", "新人", None, None, "dept_new", None, None])
    users.append(["weak1", "弱密码", None, None, None, "休假", "weak"])
    users.append(["xfk1", "重复", None, None, None, None, None])
    with pytest.raises(Invalid) as refused:
        _import(sqlite_app, _bytes(book))
    details = refused.value.details
    assert refused.value.message == f"导入未完成：发现 {len(details)} 处错误，未写入任何数据"
    found = {(d["sheet"], d["row"], d["field"]) for d in details}
    group_row = groups.max_row
    last = users.max_row
    cjw_row = next(r[0].row for r in users.iter_rows(min_row=2) if r[0].value == "cjw1")
    assert found == {("组", group_row, "key"), ("组", group_row, "name"), ("组", group_row, "kind"),
                     ("用户", cjw_row, "email"), ("用户", cjw_row, "groups"),
                     ("用户", last - 2, "password"), ("用户", last - 1, "status"), ("用户", last - 1, "password"),
                     ("用户", last, "username")}
    messages = [d["message"] for d in details]
    assert f"工作表「组」第 {group_row} 行：请填写组名称" in messages
    assert f"工作表「用户」第 {cjw_row} 行：组不存在：nosuch" in messages
    assert f"工作表「用户」第 {last - 2} 行：新用户须填写初始密码（首次登录时须修改）" in messages
    assert f"工作表「用户」第 {last} 行：用户名 xfk1 重复出现" in messages
    assert _state(sqlite_app) == before


def test_an_import_that_leaves_no_administrator_is_refused(sqlite_app: Any) -> None:
    from service.errors import Invalid

    book = _book(_export(sqlite_app))
    for row in book["用户"].iter_rows(min_row=2):
        if row[0].value == "admin":
            row[5].value = "已停用"
    with pytest.raises(Invalid) as refused:
        _import(sqlite_app, _bytes(book))
    assert refused.value.details[0]["message"] == "工作表「用户」：导入后将没有在用的系统管理员，请保留至少一名"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "请选择要导入的组织机构文件（.xlsx）"),
    (b"PK\x03\x04 not a workbook", "文件不是有效的 Excel 文件（.xlsx），请使用导出的组织机构表格式"),
    (b"x" * (2 * 1024 * 1024 + 1), "文件超过 2 MB，请确认是组织机构表"),
])
def test_a_file_that_is_no_organisation_workbook_is_refused(sqlite_app: Any, content: bytes, message: str) -> None:
    from service.errors import Invalid

    with pytest.raises(Invalid) as refused:
        _import(sqlite_app, content)
    assert refused.value.message == message


def test_a_sheet_without_its_header_row_is_refused(sqlite_app: Any) -> None:
    from openpyxl import Workbook

    from service.errors import Invalid

    book = Workbook()
    book.active.title = "用户"
    book.active.append(["账号", "名字"])
    book.active.append(["li4", "李四"])
    with pytest.raises(Invalid) as refused:
        _import(sqlite_app, _bytes(book))
    assert refused.value.message == "工作表「用户」未找到表头：前 5 行中应有一行写明 用户名、姓名"


def test_the_page_exports_and_imports_and_lists_the_errors(page_app: Any) -> None:
    client = login(page_app, "admin")
    r = client.get("/admin/users/export")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    book = _book(r.data)
    book["用户"].append(["li4", "李四", None, None, "nosuch", None, GOOD])
    r = client.post("/admin/users/import", data={"file": (io.BytesIO(_bytes(book)), "org.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 422
    assert "导入未完成：发现 1 处错误，未写入任何数据" in text(r) and "组不存在：nosuch" in text(r)
    book["用户"].cell(row=book["用户"].max_row, column=5, value="xfk")
    r = client.post("/admin/users/import", data={"file": (io.BytesIO(_bytes(book)), "org.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    assert "导入完成：新建组 0 个、修改组 0 个，新建用户 1 名、修改用户 0 名" in text(client.get("/admin/users"))


def test_the_commands_export_and_import(sqlite_app: Any, sqlite_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from service import cli

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    file = tmp_path / "org.xlsx"
    assert cli.main(["org-export", str(file)]) == 0
    book = _book(file.read_bytes())
    book["用户"].append(["li4", "李四", None, None, "xfk", None, "weak"])
    file.write_bytes(_bytes(book))
    assert cli.main(["org-import", str(file)]) == 2
    assert "未写入任何数据" in capsys.readouterr().err
    book["用户"].cell(row=book["用户"].max_row, column=7, value=GOOD)
    file.write_bytes(_bytes(book))
    assert cli.main(["org-import", str(file)]) == 0
    assert "新建用户 1 名" in capsys.readouterr().out
