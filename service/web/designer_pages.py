"""流程设计 (the designer's workshop): the catalog the modeler's properties panel reads, server
checks shown on the canvas, drafts (autosaved, submitted) and deploying a draft, and the form
editor with its live preview (drawn by the task page's own code). Designers edit, only `admin`
deploys (service/drafts.py decides both). Every JSON endpoint exists twice: for the pages
(session, X-CSRFToken header) and under /api/v1 (token)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import wraps
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from flask_login import login_required

from service import definitions, drafts, queries
from service.actors import Actor
from service.deploy import group_members, named_forms, safe_parse
from service.engine import SCRIPT_ENGINE
from service.errors import GovFlowError, Invalid
from service.form_checks import FORM_NOT_OBJECT, form_problems, load_json
from service.forms import Form
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import csrf, services
from service.web.definition_pages import deploy_message, versions_url
from service.web.formview import form_context, initial_values
from service.web.guards import current_actor, designer_required

designer_api = Blueprint("designer_api", __name__, url_prefix="/api/v1")
designer_pages = Blueprint("designer_pages", __name__)
designer_pages.register_blueprint(designer_api)
csrf.exempt(designer_api)

# 办理期限 presets of the properties panel (the panel puts the number of days in for N)
DUE_PRESETS = [
    {"label": "N 日", "expression": "${add_days(now(), N)}", "help": "自任务到达之日起 N 个自然日"},
    {"label": "N 个工作日", "expression": '${add_days(now(), N, "working")}',
     "help": "自任务到达之日起 N 个工作日（不计周末和法定节假日）"},
    {"label": "收件后 N 日", "expression": "${add_days(received_at, N)}", "help": "自收件（登记的收件时间）起 N 日"},
]
# the platform's script helpers in Chinese (a procedure's namespace lists its functions instead)
HELPER_DOCS = {
    "add_days": "期限：自 start 起 n 日；kind 为 \"working\" 时按工作日计算",
    "now": "当前时间（北京时间，ISO 8601）",
    "days_overdue": "已超过期限的天数（未超期为 0）",
    "group_keys": "以 prefix 开头的办理组标识列表",
    "notify": "发送通知（kind 为通知类型，recipients 为组或 user:用户名）",
    "notify_open": "向仍有某一步骤待办的各组发送通知",
    "start_linked": "发起一件关联的案件",
    "procedure_exists": "本系统是否安装了某一流程",
    "ledger_rows": "某一台账某一期间的数据行",
}
KINDS = [  # the field list's 类型 (service/web/static/form_designer.js builds each from these)
    ("text", "单行文本"), ("textarea", "多行文本"), ("integer", "整数"), ("number", "数字"),
    ("boolean", "是/否"), ("date", "日期"), ("datetime", "日期时间"), ("choice", "下拉选项"),
]
SOURCE_LABELS = {"draft": "草稿中的修改（尚未部署）", "version": "当前版本的表单", "file": "表单文件",
                 "new": "新表单"}


def _actor() -> Actor:
    return api_actor() if request.path.startswith("/api/") else current_actor()


def _json_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """The modeler's calls get JSON errors too (the app answers HTML outside /api/)."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except GovFlowError as exc:
            return jsonify(exc.to_json()), exc.status

    return wrapped


def _both(rule: str, methods: list[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a JSON view for the pages (`/designer…`, session) and the API (`/api/v1/designer…`)."""
    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        designer_pages.add_url_rule(f"/designer{rule}", view.__name__, login_required(_json_errors(view)),
                                    methods=methods)
        designer_api.add_url_rule(f"/designer{rule}", view.__name__, token_required(view), methods=methods)
        return view

    return register


# ----- catalog ------------------------------------------------------------------------------------


def _signature(value: Any) -> str:
    try:
        params = inspect.signature(value).parameters.values()
    except (TypeError, ValueError):
        return ""
    shown = [("**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else "") + p.name
             + (f"={p.default!r}" if p.default is not p.empty else "") for p in params]
    return f"({', '.join(shown)})"


def helpers() -> list[dict[str, str]]:
    """The names a script or expression may call: the platform's functions and each procedure's
    namespace (with its functions), with a line of help."""
    found = []
    for name, value in sorted(SCRIPT_ENGINE.environment.globals.items()):
        if name.startswith("_"):
            continue
        if isinstance(value, SimpleNamespace):
            members = [m for m in vars(value) if not m.startswith("_")]
            found.append({"name": name, "signature": "",
                          "doc": f"流程 {name} 的辅助函数：{'、'.join(f'{name}.{m}' for m in members)}"})
        elif callable(value) and not inspect.isclass(value):
            first = (inspect.getdoc(value) or "").strip().split("\n")[0]
            found.append({"name": name, "signature": _signature(value), "doc": HELPER_DOCS.get(name, first)})
    return found


@_both("/<key>/catalog", ["GET"])
def catalog(key: str) -> Any:
    """What the properties panel offers: the groups (with active members), the forms, the script
    helpers and the 办理期限 presets."""
    drafts.require_designer(_actor())
    with services().db.read() as session:
        latest = definitions.latest(session, key)
        draft = drafts.get(session, key)
        counts = group_members(session)
        groups = [{**g, "members": counts.get(g["key"], 0)} for g in queries.groups(session)]
        forms = drafts.available_forms(session, services().runtime.forms, key)
        xml = draft.bpmn_xml if draft is not None else latest.bpmn_xml
    named = named_forms(safe_parse(xml))
    order = sorted(forms, key=lambda k: (k not in named, named.index(k) if k in named else 0, k))
    return jsonify({
        "groups": groups,
        "forms": [{"key": k, "title": str(forms[k].get("title") or k), "in_diagram": k in named,
                   "edit_url": url_for("designer_pages.form_editor", key=key, form_key=k)} for k in order],
        "helpers": helpers(),
        "due_presets": DUE_PRESETS,
    })


# ----- checks and drafts --------------------------------------------------------------------------


@_both("/<key>/check", ["POST"])
def check(key: str) -> Any:
    drafts.require_designer(_actor())
    with services().db.read() as session:
        definitions.latest(session, key)
    return jsonify(drafts.check(services().runtime, key, request.get_data(cache=False),
                                use_draft_forms=request.args.get("forms") == "draft"))


@_both("/<key>/draft", ["PUT"])
def save_draft(key: str) -> Any:
    drafts.require_designer(_actor())
    body = json_body()
    return jsonify(drafts.save(services().db, _actor(), key, body.get("xml"), body.get("comment")))


@_both("/<key>/draft", ["DELETE"])
def discard_draft(key: str) -> Any:
    return jsonify({"discarded": drafts.discard(services().db, _actor(), key)})


@_both("/<key>/draft.xml", ["GET"])
def draft_xml(key: str) -> Any:
    drafts.require_designer(_actor())
    with services().db.read() as session:
        xml = drafts.draft_xml(session, key)
    return Response(xml, mimetype="application/xml")


def _schema_body() -> Any:
    body = load_json(request.get_data(cache=False))
    if "schema" not in body:
        raise Invalid(FORM_NOT_OBJECT, [{"field": "", "message": FORM_NOT_OBJECT}])
    return body["schema"]


@_both("/<key>/draft/forms/<form_key>", ["PUT"])
def save_form(key: str, form_key: str) -> Any:
    drafts.require_designer(_actor())
    return jsonify(drafts.set_form(services().db, _actor(), key, form_key, _schema_body()))


@_both("/<key>/draft/forms/<form_key>", ["DELETE"])
def reset_form(key: str, form_key: str) -> Any:
    return jsonify(drafts.reset_form(services().db, _actor(), key, form_key))


@_both("/<key>/draft/submit", ["POST"])
def submit_draft(key: str) -> Any:
    drafts.require_designer(_actor())
    body = json_body(optional=True)
    return jsonify(drafts.submit(services().runtime, _actor(), key, body.get("comment")))


@_both("/<key>/deploy", ["POST"])
def deploy(key: str) -> Any:
    drafts.require_deployer(_actor())  # 403 before the body is read
    body = json_body(optional=True)
    result = drafts.deploy_draft(services().runtime, _actor(), key, body.get("comment"), body.get("xml"))
    return jsonify({"message": deploy_message(result), **result}), 201


# ----- the form editor ----------------------------------------------------------------------------


def _preview(form_key: str, schema: Any) -> dict[str, Any]:
    """The preview's context: the problems of the schema, else the task page's form context."""
    problems = form_problems(schema)
    if problems:
        return {"problems": problems, "form": None}
    form = Form(form_key, schema)
    with services().db.read() as session:
        return {"problems": [], **form_context(form, initial_values(form), None, session)}


@designer_pages.get("/designer/<key>/forms/<form_key>")
@designer_required
def form_editor(key: str, form_key: str) -> Any:
    actor = current_actor()
    with services().db.read() as session:
        latest = definitions.latest(session, key)
        schema, source = drafts.form_for_edit(session, services().runtime.forms, key, form_key)
        draft = drafts.view(session, drafts.get(session, key), latest.version)
    urls = {
        "save": url_for("designer_pages.save_form", key=key, form_key=form_key),
        "reset": url_for("designer_pages.reset_form", key=key, form_key=form_key),
        "preview": url_for("designer_pages.form_preview", key=key, form_key=form_key),
        "modeler": url_for("definitions.definition_edit", key=key),
        "versions": versions_url(key),
    }
    return render_template(
        "form_designer.html", definition={"key": key, "name": latest.name, "version": latest.version},
        form_key=form_key, schema=schema, schema_json=json.dumps(schema, ensure_ascii=False, indent=2),
        source=source, source_label=SOURCE_LABELS[source], draft=draft, urls=urls, kinds=KINDS,
        is_deployer=actor.is_admin, **_preview(form_key, schema))


@designer_pages.post("/designer/<key>/forms/<form_key>/preview")
@designer_required
def form_preview(key: str, form_key: str) -> Any:
    """The live preview: the posted schema (form field `schema`, JSON text) drawn as the task
    page draws it; a schema with problems answers the list of them instead (200, for htmx)."""
    raw = request.form.get("schema", "")
    try:
        schema: Any = load_json(raw)
    except GovFlowError:
        schema = None
    context = _preview(form_key, schema) if schema is not None else {
        "problems": [{"field": "", "message": "JSON 格式错误，无法预览"}], "form": None}
    return render_template("_form_preview.html", **context)
