"""The organisation in Excel (openpyxl): two sheets, 组 (组标识, 组名称, 类别) and 用户 (用户名, 姓名,
电子邮箱, 电话, 所属组, 状态, 初始密码), the same columns both ways, so an exported file edited
offline imports back. The import reads the whole file first (read-only, limited in size and rows),
checks every row of both sheets and writes nothing unless all are right — the errors are listed by
sheet and row in Chinese. Existing groups and users are updated, new ones created (a new user
needs an initial password, changed at first login); nobody is deleted. Passwords are never
exported. `govflow org-export FILE` / `govflow org-import FILE` run the same code."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import audit, org_views, organisation
from service.actors import ADMIN_GROUP
from service.errors import Invalid
from service.organisation import kind_code, text
from service.store.db import Database
from service.store.models import Group, User

GROUP_SHEET, USER_SHEET = "组", "用户"
GROUP_COLUMNS = (("key", "组标识", 24), ("name", "组名称", 28), ("kind", "类别", 10))
USER_COLUMNS = (("username", "用户名", 16), ("name", "姓名", 18), ("email", "电子邮箱", 26), ("phone", "电话", 16),
                ("groups", "所属组", 36), ("status", "状态", 8), ("password", "初始密码（仅新用户）", 20))
REQUIRED = {GROUP_SHEET: ("key", "name", "kind"), USER_SHEET: ("username", "name")}
COLUMNS = {GROUP_SHEET: GROUP_COLUMNS, USER_SHEET: USER_COLUMNS}
STATUS_VALUES = {"": None, "在用": True, "启用": True, "已停用": False, "停用": False}
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000  # per sheet: more is not one office
HEADER_SEARCH_ROWS = 5
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILENAME = "组织机构.xlsx"

Rows = list[tuple[int, dict[str, str]]]


# ----- export -------------------------------------------------------------------------------------


def workbook(session: Session) -> bytes:
    """Both sheets, a bold Chinese header row, one row per group and per user (memberships as the
    groups' keys joined by 、)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    groups_sheet = book.active
    groups_sheet.title = GROUP_SHEET
    users_sheet = book.create_sheet(USER_SHEET)
    rows = {GROUP_SHEET: [[g["key"], g["name"], g["kind_label"]] for g in org_views.groups(session)],
            USER_SHEET: [[u["username"], u["name"], u["email"], u["phone"], "、".join(u["groups"]),
                          u["status_label"], ""] for u in org_views.users(session)]}
    for sheet in (groups_sheet, users_sheet):
        for index, (_key, title, width) in enumerate(COLUMNS[sheet.title], 1):
            cell = sheet.cell(row=1, column=index, value=title)
            cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor="EEF1F5")
            sheet.column_dimensions[get_column_letter(index)].width = width
        for values in rows[sheet.title]:
            sheet.append([v or None for v in values])
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_file(db: Database) -> bytes:
    """The workbook, and its `export` audit row (who took the organisation's personal data)."""
    with db.write() as session:
        content = workbook(session)
        counts = len(session.scalars(select(Group.key)).all()), len(session.scalars(select(User.id)).all())
        audit.record(session, "export", target="组织机构",
                     detail=f"导出组织机构 Excel（组 {counts[0]} 个、用户 {counts[1]} 个）")
    return content


def content_disposition() -> str:
    from urllib.parse import quote

    return f"attachment; filename=\"organisation.xlsx\"; filename*=UTF-8''{quote(FILENAME, safe='')}"


# ----- reading the file ---------------------------------------------------------------------------


def _refuse(message: str) -> Invalid:
    return Invalid(message, [{"sheet": "", "row": 0, "field": "file", "message": message}])


def cell_text(value: Any) -> str:
    """A cell as text: 13812345678 typed as a number stays 13812345678 (no .0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return text(value)


def _sheet_rows(sheet: Any, name: str) -> Rows:
    rows = sheet.iter_rows(values_only=True)
    positions: dict[str, int] | None = None
    header_at = 0
    for number, row in enumerate(rows, 1):
        titles = [cell_text(v) for v in row]
        known = {key: titles.index(title) for key, title, _w in COLUMNS[name] if title in titles}
        if all(key in known for key in REQUIRED[name]):
            positions, header_at = known, number
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if positions is None:
        wanted = "、".join(t for k, t, _w in COLUMNS[name] if k in REQUIRED[name])
        raise _refuse(f"工作表「{name}」未找到表头：前 {HEADER_SEARCH_ROWS} 行中应有一行写明 {wanted}")
    found: Rows = []
    for number, row in enumerate(rows, header_at + 1):
        cells = list(row)
        entry = {key: cell_text(cells[at]) if at < len(cells) else "" for key, at in positions.items()}
        if not any(entry.values()):
            continue
        found.append((number, entry))
        if len(found) > MAX_ROWS:
            raise _refuse(f"工作表「{name}」超过 {MAX_ROWS} 行，请分批导入")
    return found


def read(content: bytes) -> dict[str, Rows]:
    """The filled rows of both sheets (a missing sheet: no rows), or Invalid for the file."""
    from openpyxl import load_workbook

    if not content:
        raise _refuse("请选择要导入的组织机构文件（.xlsx）")
    if len(content) > MAX_BYTES:
        raise _refuse(f"文件超过 {MAX_BYTES // (1024 * 1024)} MB，请确认是组织机构表")
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # a zip that is no workbook fails in many ways, all the same to the user
        raise _refuse("文件不是有效的 Excel 文件（.xlsx），请使用导出的组织机构表格式") from exc
    try:
        sheets = {name: _sheet_rows(book[name], name) if name in book.sheetnames else [] for name in COLUMNS}
    finally:
        book.close()
    if not any(sheets.values()):
        raise _refuse(f"文件中没有数据：应有工作表「{GROUP_SHEET}」或「{USER_SHEET}」，表头下每行一个组或用户")
    return sheets


# ----- checking every row, then writing ----------------------------------------------------------


class _Errors(list[dict[str, Any]]):
    def add(self, sheet: str, row: int, problems: list[dict[str, str]]) -> None:
        for p in problems:
            self.append({"sheet": sheet, "row": row, "field": p["field"],
                         "message": f"工作表「{sheet}」第 {row} 行：{p['message']}"})


def _check_groups(session: Session, rows: Rows, errors: _Errors) -> dict[str, dict[str, str]]:
    planned: dict[str, dict[str, str]] = {}
    seen: set[str] = set()
    for number, entry in rows:
        values = {**entry, "kind": kind_code(entry.get("kind"))}
        problems = organisation.group_errors(values, ("key", "name", "kind"))
        if values["key"] and values["key"] in seen:
            problems.insert(0, {"field": "key", "message": f"组标识 {values['key']} 重复出现"})
        seen.add(values["key"])
        errors.add(GROUP_SHEET, number, problems)
        if not problems:
            planned[values["key"]] = values
    return planned


def _check_users(session: Session, rows: Rows, group_keys: set[str], errors: _Errors) -> dict[str, dict[str, Any]]:
    existing = {u.username: u for u in session.scalars(select(User))}
    planned: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for number, entry in rows:
        username = entry.get("username", "")
        problems = organisation.username_errors(username)
        if not problems and username in seen:
            problems.append({"field": "username", "message": f"用户名 {username} 重复出现"})
        repeated = username in seen
        seen.add(username)
        problems += organisation.person_errors(entry)
        values: dict[str, Any] = {k: v for k, v in entry.items() if k != "password"}
        if "groups" in entry:
            keys = organisation.split_keys(entry["groups"])
            missing = [k for k in keys if k not in group_keys]
            if missing:
                problems.append({"field": "groups", "message": f"组不存在：{'、'.join(missing)}"})
            values["groups"] = list(dict.fromkeys(keys))
        status = entry.get("status", "")
        if status not in STATUS_VALUES:
            problems.append({"field": "status", "message": "状态须为 在用 或 已停用（留空：新用户在用，原有用户不变）"})
        values["active"] = STATUS_VALUES.get(status)
        values["new"] = username not in existing
        if values["new"] and not repeated:
            if not entry.get("password"):
                problems.append({"field": "password", "message": "新用户须填写初始密码（首次登录时须修改）"})
            else:
                problems += organisation.password_errors(username, entry["password"])
                values["password"] = entry["password"]
        errors.add(USER_SHEET, number, problems)
        if not problems:
            planned[username] = values
    # after the import at least one active administrator must remain
    admins = set()
    for username, user in existing.items():
        plan = planned.get(username, {})
        active = user.active if plan.get("active") is None else plan["active"]
        if active and ADMIN_GROUP in plan.get("groups", user.group_keys):
            admins.add(username)
    admins |= {u for u, p in planned.items() if p["new"] and p["active"] is not False and ADMIN_GROUP in p.get("groups", [])}
    if not admins and not errors:
        errors.append({"sheet": USER_SHEET, "row": 0, "field": "groups",
                       "message": f"工作表「{USER_SHEET}」：导入后将没有在用的系统管理员，请保留至少一名"})
    return planned


def _apply(session: Session, groups: dict[str, dict[str, str]], users: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(("groups_created", "groups_changed", "users_created", "users_changed"), 0)
    for key, values in groups.items():
        if session.get(Group, key) is None:
            organisation.create_group(session, values)
            counts["groups_created"] += 1
        elif organisation.update_group(session, key, {"name": values["name"], "kind": values["kind"]}):
            counts["groups_changed"] += 1
    session.flush()
    changed: set[str] = set()
    for username, values in users.items():  # creations and additions first: never without an administrator
        fields = {k: values[k] for k in organisation.USER_FIELDS if k in values}
        if values["new"]:
            organisation.create_user(session, {**fields, "username": username, "groups": values.get("groups", []),
                                               "password": values["password"]})
            counts["users_created"] += 1
            continue
        if organisation.update_user(session, username, fields):
            changed.add(username)
        for key in values.get("groups", []):
            if organisation.add_member(session, key, username):
                changed.add(username)
        if values["active"] is True and not organisation.find_user(session, username).active:
            organisation.reactivate(session, username)
            changed.add(username)
    for username, values in users.items():  # then removals and deactivations
        user = organisation.find_user(session, username)
        if "groups" in values and not values["new"]:
            for key in sorted(set(user.group_keys) - set(values["groups"])):
                if organisation.remove_member(session, key, username):
                    changed.add(username)
        if values["active"] is False and user.active:
            organisation.deactivate(session, username)
            changed.add(username)
    counts["users_changed"] = len(changed - {u for u, v in users.items() if v["new"]})
    return counts


def summary(counts: dict[str, int]) -> str:
    return (f"新建组 {counts['groups_created']} 个、修改组 {counts['groups_changed']} 个，"
            f"新建用户 {counts['users_created']} 名、修改用户 {counts['users_changed']} 名")


def import_file(db: Database, content: bytes) -> dict[str, int]:
    """Check the whole file, then write it in one transaction; Invalid listing every bad row
    (nothing written) otherwise. The counts of what was created and changed."""
    sheets = read(content)
    with db.write() as session:
        errors = _Errors()
        groups = _check_groups(session, sheets[GROUP_SHEET], errors)
        known = set(session.scalars(select(Group.key))) | set(groups)
        users = _check_users(session, sheets[USER_SHEET], known, errors)
        if errors:
            raise Invalid(f"导入未完成：发现 {len(errors)} 处错误，未写入任何数据", list(errors))
        counts = _apply(session, groups, users)
        audit.record(session, "org_import", target="组织机构", detail=f"导入组织机构 Excel：{summary(counts)}")
    return counts


# ----- the commands -------------------------------------------------------------------------------


def _database() -> Database:
    from service.bootstrap import build
    from service.config import Settings

    settings = Settings()
    settings.deploy_on_start = False
    return build(settings).db


def export_main(args: argparse.Namespace) -> int:
    """govflow org-export FILE"""
    db = _database()
    try:
        with audit.bind("cli", None):
            Path(args.file).write_bytes(export_file(db))
    finally:
        db.dispose()
    print(f"已导出组织机构：{args.file}")
    return 0


def import_main(args: argparse.Namespace) -> int:
    """govflow org-import FILE: exit 2 with every error listed when the file is refused."""
    path = Path(args.file)
    if not path.is_file():
        print(f"导入失败：文件不存在：{path}", file=sys.stderr)
        return 2
    db = _database()
    try:
        with audit.bind("cli", None):
            counts = import_file(db, path.read_bytes())
    except Invalid as exc:
        print(exc.message, file=sys.stderr)
        for detail in exc.details:
            print(f"  {detail['message']}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"已导入组织机构：{summary(counts)}")
    return 0
