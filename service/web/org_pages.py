"""组织管理 in pages: /admin/users (search, 新建用户, the Excel export and import) and each user's page
(edit, groups, 停用/启用, 重置密码, 解除锁定); /admin/groups (search, 新建组) and each group's page
(rename, kind, members). The administrator's alone (service.organisation.require_admin); every
form posts once per form token (service/web/form_tokens.py). The rules are service/organisation.py's
and service/org_excel.py's; the JSON API is service/web/org_api.py, nested here."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import login_required

from service import org_excel, org_views, organisation
from service.errors import GovFlowError, Invalid, NotFound
from service.web.api_support import _TOKEN_CACHE
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor
from service.web.org_api import org_api

org_pages = Blueprint("org_pages", __name__)
org_pages.register_blueprint(org_api)

USER_FORM = ("username", "name", "email", "phone", "password")


def _admin(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        organisation.require_admin(current_actor())
        return view(*args, **kwargs)

    return login_required(wrapped)


def _errors(error: GovFlowError | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for d in error.details if error else []:
        field = d.get("field", "")
        found[field] = f"{found[field]}；{d['message']}" if field in found else d.get("message", "")
    return found


def _form(*fields: str) -> dict[str, str]:
    """The posted fields, trimmed (a password as typed)."""
    return {k: request.form.get(k, "") if k == "password" else request.form.get(k, "").strip() for k in fields}


def _refused(exc: GovFlowError) -> bool:
    """A refusal to show on the form again (field errors, a conflict); anything else propagates."""
    return exc.status in (409, 422)


def _forget_tokens() -> None:
    """This process's token cache (30 s) must not outlive a deactivation or a reset."""
    _TOKEN_CACHE.clear()


# ----- users --------------------------------------------------------------------------------------


def _users_page(error: GovFlowError | None = None, status: int = 200, imported: str | None = None) -> Any:
    args = {k: request.args.get(k, "").strip() for k in ("q", "group", "status")}
    with services().db.read() as session:
        rows = org_views.users(session, args["q"], args["group"], args["status"])
        choices = org_views.choices(session)
    return render_template("org_users.html", users=rows, args=args, choices=choices, statuses=org_views.STATUSES,
                           error=error, import_errors=error.details if error else [], imported=imported), status


@org_pages.get("/admin/users")
@_admin
def users() -> Any:
    return _users_page()


def _new_user_page(error: GovFlowError | None = None, values: dict[str, Any] | None = None) -> Any:
    with services().db.read() as session:
        choices = org_views.choices(session)
    return render_template("org_user_new.html", choices=choices, values=values or {"groups": []},
                           error=error.message if error else None, errors=_errors(error)), \
        error.status if error else 200


@org_pages.get("/admin/users/new")
@_admin
def new_user() -> Any:
    return _new_user_page()


@org_pages.post("/admin/users")
@_admin
def create_user() -> Any:
    values: dict[str, Any] = {**_form(*USER_FORM), "groups": request.form.getlist("groups")}

    def run() -> tuple[str, str]:
        if not values["password"]:
            raise Invalid("用户未创建", [{"field": "password", "message": "请填写初始密码（可点「生成」）"}])
        with services().db.write() as session:
            organisation.create_user(session, values)
        return (url_for("org_pages.user", username=values["username"]),
                f"已创建用户 {values['name']}（{values['username']}），首次登录时须修改初始密码")

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if not _refused(exc):
            raise
        return _new_user_page(exc, values)


def _user_page(username: str, error: GovFlowError | None = None, values: dict[str, str] | None = None,
               form: str = "") -> Any:
    with services().db.read() as session:
        found = org_views.user_detail(session, username)
        choices = org_views.choices(session)
    return render_template("org_user.html", user=found, choices=choices, values=values or {}, form=form,
                           error=error.message if error else None, errors=_errors(error)), \
        error.status if error else 200


@org_pages.get("/admin/users/<username>")
@_admin
def user(username: str) -> Any:
    return _user_page(username)


def _change(fields: tuple[str, ...], action: Callable[[Any, dict[str, str]], str], done_url: str,
            refused: Callable[[GovFlowError, dict[str, str]], Any]) -> Any:
    """Run one change of a user's or a group's page once (then back to `done_url`); refused: the
    page again with the form's errors. Any change may revoke tokens: this process forgets them."""
    values = _form(*fields)

    def run() -> tuple[str, str]:
        with services().db.write() as session:
            message = action(session, values)
        _forget_tokens()
        return done_url, message

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if not _refused(exc):
            raise
        return refused(exc, values)


def _user_action(username: str, form: str, fields: tuple[str, ...],
                 action: Callable[[Any, dict[str, str]], str]) -> Any:
    return _change(fields, action, url_for("org_pages.user", username=username),
                   lambda exc, values: _user_page(username, exc, values, form))


@org_pages.post("/admin/users/<username>")
@_admin
def update_user(username: str) -> Any:
    def change(session: Any, values: dict[str, str]) -> str:
        changed = organisation.update_user(session, username, values)
        return f"已修改{'、'.join(changed)}" if changed else "没有需要保存的修改"

    return _user_action(username, "edit", ("name", "email", "phone"), change)


@org_pages.post("/admin/users/<username>/deactivate")
@_admin
def deactivate(username: str) -> Any:
    def change(session: Any, _values: dict[str, str]) -> str:
        organisation.deactivate(session, username)
        return f"已停用 {username}：不能再登录，访问令牌已注销；其办理记录保留原姓名"

    return _user_action(username, "status", (), change)


@org_pages.post("/admin/users/<username>/reactivate")
@_admin
def reactivate(username: str) -> Any:
    def change(session: Any, _values: dict[str, str]) -> str:
        organisation.reactivate(session, username)
        return f"已启用 {username}"

    return _user_action(username, "status", (), change)


@org_pages.post("/admin/users/<username>/reset-password")
@_admin
def reset_password(username: str) -> Any:
    def change(session: Any, values: dict[str, str]) -> str:
        if not values["password"]:
            raise Invalid("密码未重置", [{"field": "password", "message": "请填写新密码（可点「生成」）"}])
        organisation.reset_password(session, username, values["password"])
        return f"已重置 {username} 的密码：下次登录时须修改；其访问令牌已注销"

    return _user_action(username, "password", ("password",), change)


@org_pages.post("/admin/users/<username>/unlock")
@_admin
def unlock(username: str) -> Any:
    def change(session: Any, _values: dict[str, str]) -> str:
        organisation.unlock(session, username, current_actor().username)
        return f"已解除 {username} 的登录锁定"

    return _user_action(username, "status", (), change)


def _join(session: Any, key: str, username: str, field: str, title: str, empty: str) -> bool:
    """Add a membership from a page's one field (the group on a user's page, the user on a
    group's): an empty or unknown entry is that field's error."""
    if not (key and username):
        raise Invalid(title, [{"field": field, "message": empty}])
    try:
        return organisation.add_member(session, key, username)
    except NotFound as exc:
        raise Invalid(title, [{"field": field, "message": exc.message}]) from exc


@org_pages.post("/admin/users/<username>/groups")
@_admin
def add_user_group(username: str) -> Any:
    def change(session: Any, values: dict[str, str]) -> str:
        added = _join(session, values["group"], username, "group", "未加入", "请选择要加入的组")
        return f"已加入组 {values['group']}" if added else f"{username} 已在组 {values['group']} 中"

    return _user_action(username, "groups", ("group",), change)


@org_pages.post("/admin/users/<username>/groups/<key>/remove")
@_admin
def remove_user_group(username: str, key: str) -> Any:
    def change(session: Any, _values: dict[str, str]) -> str:
        organisation.remove_member(session, key, username)
        return f"已将 {username} 移出组 {key}"

    return _user_action(username, "groups", (), change)


# ----- groups -------------------------------------------------------------------------------------


def _groups_page(error: GovFlowError | None = None, values: dict[str, str] | None = None) -> Any:
    args = {k: request.args.get(k, "").strip() for k in ("q", "kind")}
    with services().db.read() as session:
        rows = org_views.groups(session, args["q"], args["kind"])
    return render_template("org_groups.html", groups=rows, args=args, kinds=organisation.KINDS,
                           values=values or {}, error=error.message if error else None, errors=_errors(error)), \
        error.status if error else 200


@org_pages.get("/admin/groups")
@_admin
def groups() -> Any:
    return _groups_page()


@org_pages.post("/admin/groups")
@_admin
def create_group() -> Any:
    values = _form("key", "name", "kind")

    def run() -> tuple[str, str]:
        with services().db.write() as session:
            organisation.create_group(session, values)
        return url_for("org_pages.group", key=values["key"]), f"已创建组 {values['name']}（{values['key']}）"

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if not _refused(exc):
            raise
        return _groups_page(exc, values)


def _group_page(key: str, error: GovFlowError | None = None, values: dict[str, str] | None = None,
                form: str = "") -> Any:
    with services().db.read() as session:
        found = org_views.group_detail(session, key)
        choices = org_views.choices(session)
    return render_template("org_group.html", group=found, kinds=organisation.KINDS, choices=choices,
                           values=values or {}, form=form, error=error.message if error else None,
                           errors=_errors(error)), error.status if error else 200


@org_pages.get("/admin/groups/<key>")
@_admin
def group(key: str) -> Any:
    return _group_page(key)


def _group_action(key: str, form: str, fields: tuple[str, ...], action: Callable[[Any, dict[str, str]], str]) -> Any:
    return _change(fields, action, url_for("org_pages.group", key=key),
                   lambda exc, values: _group_page(key, exc, values, form))


@org_pages.post("/admin/groups/<key>")
@_admin
def update_group(key: str) -> Any:
    def change(session: Any, values: dict[str, str]) -> str:
        changed = organisation.update_group(session, key, values)
        return "已修改：" + "；".join(changed) if changed else "没有需要保存的修改"

    return _group_action(key, "edit", ("name", "kind"), change)


@org_pages.post("/admin/groups/<key>/members")
@_admin
def add_member(key: str) -> Any:
    def change(session: Any, values: dict[str, str]) -> str:
        added = _join(session, key, values["username"], "username", "未添加成员", "请填写要加入的用户名")
        return f"已将 {values['username']} 加入本组" if added else f"{values['username']} 已是本组成员"

    return _group_action(key, "members", ("username",), change)


@org_pages.post("/admin/groups/<key>/members/<username>/remove")
@_admin
def remove_member(key: str, username: str) -> Any:
    def change(session: Any, _values: dict[str, str]) -> str:
        organisation.remove_member(session, key, username)
        return f"已将 {username} 移出本组"

    return _group_action(key, "members", (), change)


# ----- Excel --------------------------------------------------------------------------------------


@org_pages.get("/admin/users/export")
@_admin
def export() -> Any:
    content = org_excel.export_file(services().db)
    return Response(content, mimetype=org_excel.XLSX_MIME,
                    headers={"Content-Disposition": org_excel.content_disposition()})


@org_pages.post("/admin/users/import")
@_admin
def import_excel() -> Any:
    upload = request.files.get("file")
    content = upload.read(org_excel.MAX_BYTES + 1) if upload is not None else b""

    def run() -> tuple[str, str]:
        counts = org_excel.import_file(services().db, content)
        _forget_tokens()  # the file may deactivate someone
        return url_for("org_pages.users"), f"导入完成：{org_excel.summary(counts)}"

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if not _refused(exc):
            raise
        return _users_page(exc, exc.status)
