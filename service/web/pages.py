"""Server-rendered pages (Chinese UI): inbox, task forms, case search, case view with its
diagram, petition registration and the designers' definition list.

The pages call the same service layer as the JSON API (service.queries for reading,
service.runtime for commands); forms are rendered from the JSON Schemas in forms/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, config_store, definitions, notices, queries, supervision
from service.actors import Actor
from service.auth import authenticate
from service.bootstrap import deploy_bytes
from service.errors import Forbidden, GovFlowError, Invalid, NotFound, Unauthorized
from service.forms import Form, coerce
from service.store.models import Definition, Instance, User
from service.web import LoginUser, services

pages = Blueprint("pages", __name__)

STATUS_LABELS = {"running": "办理中", "completed": "已办结", "terminated": "已终止", "error": "出错"}
ACTION_LABELS = {
    "start": "登记", "complete": "办理", "claim": "签收", "unclaim": "退回签收",
    "message": "收到消息", "timer": "定时器触发", "end": "办结",
    "urge": "催办", "listed": "挂牌督办", "unlisted": "撤销挂牌", "reassign": "改派", "recalc": "期限重算",
}
MESSAGE_LABELS = {"review_request": "复查申请"}
# Who may register (start) a process from the web; processes not listed: any logged-in user.
START_GROUPS: dict[str, frozenset[str]] = {"petition": frozenset({"xfk"})}
# Keys the procedures compute themselves (not on any form).
COMPUTED_LABELS = {
    "business_key": "统一编号",
    "due_at": "办结期限",
    "route_due_at": "登记分流期限",
    "extension_total": "累计延期天数",
    "handed_over_at": "交办时间",
    "handling_group": "办理单位",
    "review_window_end": "复查申请截止",
    "review_requested": "已申请复查",
}
# Fields every approval step writes: the case data keeps the latest one.
SHARED_LABELS = {"decision": "最近审批意见", "comment": "最近意见说明"}
# Conditionally required fields that stay visible when not required (free comments).
ALWAYS_VISIBLE = frozenset({"comment"})
SOON = timedelta(days=3)


# ----- helpers -------------------------------------------------------------------------------


def _actor() -> Actor:
    return current_user.actor  # type: ignore[no-any-return]


def _safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never redirect to another host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _actor().is_admin:
            raise Forbidden("只有系统管理员可以管理流程定义")
        return view(*args, **kwargs)

    return login_required(wrapped)


def may_start(actor: Actor, process: str) -> bool:
    groups = START_GROUPS.get(process)
    return actor.is_admin or groups is None or bool(actor.groups & groups)


def _group_names(session: Session) -> dict[str, str]:
    if "group_names" not in g:
        g.group_names = {row["key"]: row["name"] for row in queries.groups(session)}
    return g.group_names  # type: ignore[no-any-return]


def _user_names(session: Session) -> dict[str, str]:
    if "user_names" not in g:
        g.user_names = {u: n for u, n in session.execute(select(User.username, User.name))}
        g.user_names.setdefault("system", "系统")
    return g.user_names  # type: ignore[no-any-return]


def _process_names(session: Session) -> dict[str, str]:
    if "process_names" not in g:
        g.process_names = {d.key: d.name for d in definitions.latest_all(session)}
    return g.process_names  # type: ignore[no-any-return]


def to_datetime(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return clock.parse_datetime(value)
    except (TypeError, ValueError):
        return None


def fmt_dt(value: Any) -> str:
    """YYYY-MM-DD HH:MM in Beijing time; a bare date stays a date."""
    if value in (None, ""):
        return ""
    if isinstance(value, str) and len(value) == 10:
        return value
    parsed = to_datetime(value)
    return parsed.strftime("%Y-%m-%d %H:%M") if parsed else str(value)


def due_state(value: Any, status: str = "running") -> str:
    """'overdue', 'soon' (within 3 days) or '' for a deadline."""
    due = to_datetime(value)
    if due is None or status != "running":
        return ""
    now = clock.now()
    if due < now:
        return "overdue"
    if due - now <= SOON:
        return "soon"
    return ""


@pages.app_template_filter("dt")
def _dt_filter(value: Any) -> str:
    return fmt_dt(value)


@pages.app_template_global("status_label")
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


pages.add_app_template_global(due_state, "due_state")
pages.add_app_template_global(STATUS_LABELS, "STATUS_LABELS")


@pages.app_context_processor
def _layout() -> dict[str, Any]:
    """What base.html needs: the user's group names and the nav entries they may use."""
    ctx: dict[str, Any] = {}
    if not current_user.is_authenticated:
        return ctx
    actor = _actor()
    unread = 0
    try:
        with services().db.read() as session:
            names = _group_names(session)
            unread = notices.unread_count(session, actor)
    except Exception:  # noqa: BLE001 - the error page must render even when the database is down
        names = {}
    ctx.update(
        user_groups=[names.get(k, k) for k in sorted(actor.groups)],
        can_register=actor.is_admin or "xfk" in actor.groups,
        is_admin=actor.is_admin,
        is_supervisor=is_supervisor(actor),
        calendar_url=_calendar_url() if actor.is_admin else None,
        unread_notices=unread,
        virtual_now=clock.now() if clock.is_virtual() else None,
    )
    return ctx


def is_supervisor(actor: Actor) -> bool:
    """督办 pages: leadership, secretary-general, office leader, 综治办 and admins."""
    return bool(actor.groups & supervision.SUPERVISOR_GROUPS)


def _calendar_url() -> str | None:
    """The holiday calendar admin page (service/web/calendar_admin.py), when it is registered."""
    from flask import current_app

    return url_for("calendar_admin.index") if "calendar_admin.index" in current_app.view_functions else None


# ----- labels for case data --------------------------------------------------------------------

_label_cache: dict[tuple[int, str], dict[str, Any]] = {}


CAMUNDA_FORM_KEY = "{http://camunda.org/schema/1.0/bpmn}formKey"


def _step_forms(definition: Definition) -> dict[str, str]:
    """bpmn_id → formKey of every element that has a form, in document order."""
    from service.deploy import safe_parse

    try:
        root = safe_parse(definition.bpmn_xml)
    except GovFlowError:
        return {}
    return {str(node.get("id")): str(node.get(CAMUNDA_FORM_KEY)) for node in root.iter()
            if isinstance(node.tag, str) and node.get(CAMUNDA_FORM_KEY) and node.get("id")}


def _form_labels(schema: dict[str, Any]) -> dict[str, Any]:
    titles: dict[str, str] = {}
    enums: dict[str, dict[str, str]] = {}
    formats: dict[str, str] = {}
    for name, prop in schema.get("properties", {}).items():
        titles[name] = str(prop.get("title", name))
        if prop.get("format"):
            formats[name] = prop["format"]
        for value, title in zip(prop.get("enum", []), prop.get("x-enum-titles", []), strict=False):
            enums.setdefault(name, {})[str(value)] = str(title)
    return {"titles": titles, "enums": enums, "formats": formats}


def _labels(definition: Definition) -> dict[str, Any]:
    """Field titles, enum titles and formats from every form the diagram uses (start form first);
    `steps` keeps each step's own labels for its history entries."""
    cache_key = (definition.id, definition.checksum)
    cached = _label_cache.get(cache_key)
    if cached is not None:
        return cached
    forms = services().runtime.forms
    step_forms = _step_forms(definition)
    keys = [definition.start_form_key] if definition.start_form_key else []
    keys += list(step_forms.values())
    titles: dict[str, str] = dict(SHARED_LABELS)
    enums: dict[str, dict[str, str]] = {}
    formats: dict[str, str] = {}
    per_form: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(keys):
        if not forms.exists(key):
            continue
        own = per_form[key] = _form_labels(forms.get(key).schema)
        for name, title in own["titles"].items():
            titles.setdefault(name, title)
        for name, fmt in own["formats"].items():
            formats.setdefault(name, fmt)
        for name, mapping in own["enums"].items():
            for value, title in mapping.items():
                enums.setdefault(name, {}).setdefault(value, title)
    for name, title in COMPUTED_LABELS.items():
        titles.setdefault(name, title)
    order = [k for k in titles if k not in SHARED_LABELS] + list(SHARED_LABELS)
    result: dict[str, Any] = {"titles": titles, "enums": enums, "formats": formats, "order": order, "steps": {}}
    for bpmn_id, key in step_forms.items():
        own = per_form.get(key)
        if own is None:
            continue
        result["steps"][bpmn_id] = {
            "titles": {**titles, **own["titles"]},
            "enums": {**enums, **own["enums"]},
            "formats": {**formats, **own["formats"]},
            "order": list(own["titles"]) + [k for k in order if k not in own["titles"]],
        }
    _label_cache[cache_key] = result
    return result


def _display(name: str, value: Any, labels: dict[str, Any], group_names: dict[str, str]) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    enum = labels["enums"].get(name)
    if enum and str(value) in enum:
        return enum[str(value)]
    if name.endswith("group") and isinstance(value, str):
        return group_names.get(value, value)
    fmt = labels["formats"].get(name)
    if fmt == "date":
        return str(value)
    if isinstance(value, str) and (fmt == "date-time" or re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", value)):
        return fmt_dt(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def data_rows(data: dict[str, Any] | None, labels: dict[str, Any], group_names: dict[str, str],
              skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    """(label, shown value) rows in form order; empty values and unknown internals left out."""
    if not data:
        return []
    order = {name: i for i, name in enumerate(labels["order"])}
    skipped = set(skip)
    rows = []
    for name in sorted(data, key=lambda k: (order.get(k, len(order)), k)):
        value = data[name]
        if name in skipped or value is None or value == "" or name.startswith("_"):
            continue
        rows.append({
            "name": name,
            "label": labels["titles"].get(name, name),
            "value": _display(name, value, labels, group_names),
            "long": isinstance(value, str) and (len(value) > 40 or "\n" in value),
        })
    return rows


# ----- forms rendered from JSON Schema ---------------------------------------------------------


def _conditions(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """if/then rules as {when: {field: value}, required: [...], patterns: {field: regex}}."""
    rules = []
    for part in schema.get("allOf", []):
        cond, then = part.get("if", {}), part.get("then", {})
        when = {k: v["const"] for k, v in cond.get("properties", {}).items()
                if isinstance(v, dict) and "const" in v}
        if not when:
            continue
        patterns = {k: v["pattern"] for k, v in then.get("properties", {}).items()
                    if isinstance(v, dict) and "pattern" in v}
        rules.append({"when": when, "required": list(then.get("required", [])), "patterns": patterns})
    return rules


def form_fields(form: Form, values: dict[str, Any], errors: dict[str, str],
                group_rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One dict per schema property, telling the template which widget to draw."""
    schema = form.schema
    required = set(schema.get("required", []))
    conditional = {f for rule in _conditions(schema) for f in rule["required"]} - required
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type")
        field: dict[str, Any] = {
            "name": name,
            "title": prop.get("title", name),
            "description": prop.get("description", ""),
            "required": name in required,
            "conditional": name in conditional,
            "hideable": name in conditional and name not in ALWAYS_VISIBLE,
            "error": errors.get(name),
            "value": values.get(name, ""),
            "min": prop.get("minimum"),
            "max": prop.get("maximum"),
            "maxlength": prop.get("maxLength"),
            "options": [],
        }
        if "x-group-prefix" in prop:
            prefixes = tuple(prop["x-group-prefix"])
            field["widget"] = "select"
            field["options"] = [(row["key"], row["name"]) for row in group_rows if row["key"].startswith(prefixes)]
        elif "enum" in prop:
            titles = prop.get("x-enum-titles") or prop["enum"]
            field["widget"] = "select"
            field["options"] = [(str(v), str(t)) for v, t in zip(prop["enum"], titles, strict=False)]
        elif kind == "boolean":
            field["widget"] = "checkbox"
        elif kind in ("integer", "number"):
            field["widget"] = "number"
            field["step"] = "1" if kind == "integer" else "any"
        elif kind == "array":
            items = prop.get("items", {})
            if "enum" in items:
                titles = items.get("x-enum-titles") or items["enum"]
                field["widget"] = "checkboxes"
                field["options"] = [(str(v), str(t)) for v, t in zip(items["enum"], titles, strict=False)]
                value = field["value"]
                field["value"] = [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value else [])
            else:
                field["widget"] = "unsupported"
        elif prop.get("format") == "date":
            field["widget"] = "date"
        elif prop.get("format") == "date-time":
            field["widget"] = "datetime"
        elif prop.get("x-widget") == "textarea":
            field["widget"] = "textarea"
        else:
            field["widget"] = "text"
        field["wide"] = field["widget"] in ("textarea", "checkboxes", "unsupported")
        fields.append(field)
    return fields


def _initial_values(form: Form) -> dict[str, Any]:
    """Defaults for a fresh form: schema defaults; required dates default to now/today."""
    now = clock.now()
    required = set(form.schema.get("required", []))
    values: dict[str, Any] = {}
    for name, prop in form.schema.get("properties", {}).items():
        if "default" in prop:
            values[name] = prop["default"]
        elif name in required and prop.get("format") == "date-time":
            values[name] = now.strftime("%Y-%m-%dT%H:%M")
        elif name in required and prop.get("format") == "date":
            values[name] = now.strftime("%Y-%m-%d")
    return values


def _submitted_values() -> dict[str, Any]:
    """The raw values of a posted form, for re-rendering it (lists for multi-value fields)."""
    raw = request.form.to_dict(flat=False)
    raw.pop("csrf_token", None)
    return {k: (v if len(v) > 1 else v[0]) for k, v in raw.items()}


def _error_map(exc: Invalid) -> tuple[dict[str, str], list[str]]:
    """Field errors by field name; errors that name no field go to the top of the form."""
    fields: dict[str, str] = {}
    general: list[str] = []
    for detail in exc.details:
        field = str(detail.get("field") or "").split(".")[0]
        message = str(detail.get("message") or exc.message)
        if field:
            fields.setdefault(field, message)
        else:
            general.append(message)
    return fields, general


def _form_context(form: Form | None, values: dict[str, Any], exc: Invalid | None,
                  session: Session) -> dict[str, Any]:
    errors, general = _error_map(exc) if exc else ({}, [])
    if form is None:
        return {"form": None, "fields": [], "rules": [], "form_errors": general}
    fields = form_fields(form, values, errors, queries.groups(session))
    known = {f["name"] for f in fields}
    general += [f"{name}：{msg}" for name, msg in errors.items() if name not in known]
    return {"form": form, "fields": fields, "rules": _conditions(form.schema), "form_errors": general,
            "form_message": exc.message if exc else None}


# ----- login ----------------------------------------------------------------------------------


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    target = _safe_next(request.values.get("next"), url_for("pages.tasks"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target)
    if request.method == "POST":
        try:
            with services().db.read() as session:
                user = authenticate(session, request.form.get("username"), request.form.get("password"))
                login_user(LoginUser(user))
            return redirect(target)
        except Unauthorized as exc:
            error = exc.message
    return render_template("login.html", error=error, next=request.values.get("next", ""),
                           username=request.form.get("username", "")), (401 if error else 200)


@pages.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    flash("您已安全退出", "info")
    return redirect(url_for("pages.login"))


@pages.get("/")
@login_required
def index() -> Any:
    return redirect(url_for("pages.tasks"))


# ----- 我的待办 --------------------------------------------------------------------------------


def _task_view(task: dict[str, Any], session: Session) -> dict[str, Any]:
    groups, users, processes = _group_names(session), _user_names(session), _process_names(session)
    return {
        **task,
        "process_name": processes.get(task["process"], task["process"]),
        "group_names": [groups.get(k, k) for k in task["candidate_groups"]],
        "assignee_name": users.get(task["assignee"], task["assignee"]) if task["assignee"] else "",
        "due": due_state(task["due_at"]),
    }


@pages.get("/tasks")
@login_required
def tasks() -> Any:
    with services().db.read() as session:
        found = queries.inbox(session, _actor())
        listed = _listed_ids(session, {t.instance_id for t in found})
        rows = [{**_task_view(queries.task_json(t), session), "listed": t.instance_id in listed} for t in found]
    return render_template("tasks.html", tasks=rows)


def _listed_ids(session: Session, instance_ids: Iterable[int]) -> set[int]:
    """Which of these cases are under 挂牌督办 (one query)."""
    ids = sorted(set(instance_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Instance.id).where(Instance.id.in_(ids), Instance.listed.is_(True))))


def _back(default: str) -> str:
    return _safe_next(request.form.get("next"), default)


@pages.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str) -> Any:
    try:
        services().runtime.claim(task_id, _actor())
        flash("已签收，该任务只由您办理", "success")
    except GovFlowError as exc:
        flash(exc.message, "error")
    return redirect(_back(url_for("pages.tasks")))


@pages.post("/tasks/<task_id>/unclaim")
@login_required
def unclaim(task_id: str) -> Any:
    try:
        services().runtime.unclaim(task_id, _actor())
        flash("已退回签收，组内其他人可以办理", "success")
    except GovFlowError as exc:
        flash(exc.message, "error")
    return redirect(_back(url_for("pages.tasks")))


def _case_context(session: Session, instance_id: int) -> dict[str, Any]:
    """Instance detail plus everything the case panels show (labels, names, history)."""
    svc = services()
    actor = _actor()
    detail = queries.instance_detail(session, svc.runtime, actor, instance_id)
    definition = session.get(Definition, detail["definition_id"])
    assert definition is not None
    labels = _labels(definition)
    groups, users = _group_names(session), _user_names(session)
    history = []
    for h in detail["history"]:
        label = ACTION_LABELS.get(h["action"], h["action"])
        task_name = h["task_name"] or ""
        if h["action"] == "message":
            task_name = MESSAGE_LABELS.get(task_name, task_name)
        shown = h["data"] if h["action"] in ("complete", "message") and isinstance(h["data"], dict) else None
        history.append({
            **h,
            "user_name": users.get(h["user"], h["user"]),
            "action_label": label,
            "task_label": task_name,
            "rows": data_rows(shown, labels["steps"].get(h["task"] or "", labels), groups, skip=("comment",)),
        })
    open_tasks = []
    for t in detail["open_tasks"]:
        view = _task_view(t, session)
        view["may_act"] = actor.may_act(t["candidate_groups"], t["assignee"])
        view["may_view"] = view["may_act"] or actor.is_supervisor or t["assignee"] == actor.username \
            or bool(actor.groups & set(t["candidate_groups"]))
        open_tasks.append(view)
    return {
        "case": detail,
        "case_rows": data_rows(detail["data"], labels, groups),
        "history": history,
        "open_tasks": open_tasks,
        "handling_group_name": groups.get(detail["handling_group"] or "", detail["handling_group"] or ""),
        "case_due": due_state(detail["due_at"], detail["status"]),
    }


# ----- 办理 (task page) ------------------------------------------------------------------------


def _render_task(task_id: str, values: dict[str, Any] | None = None, exc: Invalid | None = None,
                 status: int = 200) -> Any:
    svc = services()
    actor = _actor()
    with svc.db.read() as session:
        row = queries.get_task(session, actor, task_id)
        task = _task_view(queries.task_json(row), session)
        form = svc.runtime.forms.get(row.form_key) if row.form_key else None
        is_open = row.state == "open"
        ctx = _case_context(session, row.instance_id) if is_open else {}
        if values is None:
            values = _initial_values(form) if form else {}
        ctx.update(_form_context(form, values, exc, session))
    return render_template(
        "task.html", task=task, is_open=is_open,
        may_act=is_open and actor.may_act(row.candidate_groups, row.assignee), **ctx,
    ), status


@pages.get("/tasks/<task_id>")
@login_required
def task_page(task_id: str) -> Any:
    return _render_task(task_id)


@pages.post("/tasks/<task_id>")
@login_required
def task_submit(task_id: str) -> Any:
    svc = services()
    with svc.db.read() as session:
        row = queries.get_task(session, _actor(), task_id)
        form_key = row.form_key
    schema = svc.runtime.forms.get(form_key).schema if form_key else {"properties": {}}
    data = coerce(schema, request.form.to_dict(flat=False))
    try:
        result = svc.runtime.complete(task_id, data, _actor())
    except Invalid as exc:
        return _render_task(task_id, _submitted_values(), exc, 422)
    if result["instance"]["status"] == "completed":
        flash("已办理，案件已办结", "success")
    else:
        flash("已办理", "success")
    return redirect(url_for("pages.tasks"))


# ----- 案件查询 --------------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


@pages.get("/instances")
@login_required
def instances() -> Any:
    page_size = 50
    offset = _int_arg("offset") or 0
    filters = {
        "process": request.args.get("process", "").strip(),
        "status": request.args.get("status", "").strip(),
        "overdue": request.args.get("overdue") in ("1", "on", "true"),
        "stalled_days": _int_arg("stalled_days"),
        "q": request.args.get("q", "").strip(),
    }
    with services().db.read() as session:
        rows = queries.instances(
            session, _actor(), process=filters["process"] or None, status=filters["status"] or None,
            overdue=filters["overdue"], stalled_days=filters["stalled_days"], q=filters["q"] or None,
            limit=page_size + 1, offset=offset,
        )
        processes = _process_names(session)
        groups = _group_names(session)
        items = []
        for inst in rows[:page_size]:
            item = queries.instance_json(inst)
            item["process_name"] = processes.get(item["process"], item["process"])
            item["handling_group_name"] = groups.get(item["handling_group"] or "", item["handling_group"] or "")
            items.append(item)
    args = {k: v for k, v in request.args.items() if k != "offset"}
    return render_template(
        "instances.html", items=items, filters=filters, processes=processes,
        prev_url=url_for("pages.instances", **args, offset=max(offset - page_size, 0)) if offset else None,
        next_url=url_for("pages.instances", **args, offset=offset + page_size) if len(rows) > page_size else None,
    )


def _awaits_review_request(case: dict[str, Any]) -> bool:
    if case["process"] != "petition" or case["status"] != "running" or case["open_tasks"]:
        return False
    return "review_window_end" in case["data"] or bool(case["timers"])


@pages.get("/instances/<int:instance_id>")
@login_required
def instance_page(instance_id: int) -> Any:
    with services().db.read() as session:
        ctx = _case_context(session, instance_id)
    case = ctx["case"]
    current = sorted(set(case["current_steps"]) | {t["bpmn_id"] for t in case["open_tasks"]})
    overdue = [t["bpmn_id"] for t in case["open_tasks"] if due_state(t["due_at"]) == "overdue"]
    return render_template(
        "instance.html", **ctx,
        diagram={"xml": url_for("pages.definition_xml", definition_id=case["definition_id"]),
                 "done": case["completed_steps"], "current": current, "overdue": overdue,
                 "started": True, "ended": case["status"] == "completed"},
        can_request_review="xfk" in _actor().groups and _awaits_review_request(case),
        supervise=_supervise_context(case) if is_supervisor(_actor()) else None,
    )


def _supervise_context(case: dict[str, Any]) -> dict[str, Any] | None:
    """The 督办 panel of a running case: its open tasks (for 改派) and the groups to pick from."""
    if case["status"] != "running":
        return None
    with services().db.read() as session:
        groups = queries.groups(session)
        names, users = _group_names(session), _user_names(session)
    tasks = [{"id": t["id"], "name": t["name"], "assignee": t["assignee"],
              "holder": users.get(t["assignee"], t["assignee"]) if t["assignee"]
              else "、".join(names.get(k, k) for k in t["candidate_groups"])}
             for t in case["open_tasks"]]
    return {"tasks": tasks, "groups": groups}


@pages.post("/instances/<int:instance_id>/messages/<name>")
@login_required
def post_message(instance_id: int, name: str) -> Any:
    actor = _actor()
    with services().db.read() as session:
        queries.visible_instance(session, actor, instance_id)
    if "xfk" not in actor.groups:
        raise Forbidden("只有信访科可以登记复查申请")
    services().runtime.send_message(instance_id, name, {}, actor)
    flash(f"已登记{MESSAGE_LABELS.get(name, name)}", "success")
    return redirect(url_for("pages.instance_page", instance_id=instance_id))


# ----- 登记 (start forms) ----------------------------------------------------------------------


def _render_start(process: str, values: dict[str, Any] | None = None, exc: Invalid | None = None,
                  status: int = 200) -> Any:
    svc = services()
    with svc.db.read() as session:
        definition = definitions.latest(session, process)
        form = svc.runtime.forms.get(definition.start_form_key) if definition.start_form_key else None
        if values is None:
            values = _initial_values(form) if form else {}
        ctx = _form_context(form, values, exc, session)
    return render_template("start.html", process=process, definition=definition,
                           action=request.path, **ctx), status


@pages.route("/petitions/new", methods=["GET", "POST"])
@login_required
def new_petition() -> Any:
    return new_instance("petition")


@pages.route("/instances/new/<process>", methods=["GET", "POST"])
@login_required
def new_instance(process: str) -> Any:
    actor = _actor()
    if not may_start(actor, process):
        raise Forbidden("只有信访科可以登记信访件" if process == "petition" else "您无权发起此流程")
    if request.method == "GET":
        return _render_start(process)
    svc = services()
    with svc.db.read() as session:
        definition = definitions.latest(session, process)
        form_key = definition.start_form_key
    schema = svc.runtime.forms.get(form_key).schema if form_key else {"properties": {}}
    data = coerce(schema, request.form.to_dict(flat=False))
    try:
        result = svc.runtime.start(process, data, actor)
    except Invalid as exc:
        return _render_start(process, _submitted_values(), exc, 422)
    flash(f"已登记，编号 {result['business_key']}", "success")
    return redirect(url_for("pages.instance_page", instance_id=result["id"]))


# ----- 流程定义 --------------------------------------------------------------------------------


@pages.get("/definitions/<int:definition_id>/xml")
@login_required
def definition_xml(definition_id: int) -> Any:
    """The diagram of one deployed version: for admins and whoever can see a case of it."""
    from service import access

    actor = _actor()
    with services().db.read() as session:
        definition = session.get(Definition, definition_id)
        if definition is None:
            raise NotFound("流程定义不存在")
        if not actor.is_admin:
            seen = session.scalars(access.visible(
                select(Instance.id).where(Instance.definition_id == definition_id), actor).limit(1)).first()
            if seen is None:
                raise Forbidden("您无权查看此流程图")
        xml = definition.bpmn_xml
    return Response(xml, mimetype="application/xml")


def _definition_rows(session: Session) -> list[dict[str, Any]]:
    users = _user_names(session)
    return [{"id": d.id, "key": d.key, "name": d.name, "version": d.version,
             "deployed_at": queries.iso(d.deployed_at),
             "deployed_by": users.get(d.deployed_by or "", d.deployed_by or "")}
            for d in definitions.latest_all(session)]


def _deploy_message(result: dict[str, Any]) -> str:
    versions = "，".join(f"{k} v{v}" for k, v in result["versions"].items())
    return f"已部署 {versions}" if result["changed"] else f"流程图与当前版本相同，未生成新版本（{versions}）"


@pages.route("/definitions", methods=["GET", "POST"])
@admin_required
def definitions_page() -> Any:
    errors: list[dict[str, Any]] = []
    error_message = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error_message, status = "请选择要上传的 BPMN 文件", 422
        else:
            try:
                result = deploy_bytes(services().runtime, upload.read(), upload.filename, _actor().username)
                flash(_deploy_message(result), "success")
                return redirect(url_for("pages.definitions_page"))
            except Invalid as exc:
                error_message, errors, status = exc.message, exc.details, 422
    with services().db.read() as session:
        rows = _definition_rows(session)
    return render_template("definitions.html", definitions=rows, errors=errors,
                           error_message=error_message), status


@pages.get("/definitions/<key>/edit")
@admin_required
def definition_edit(key: str) -> Any:
    with services().db.read() as session:
        definition = definitions.latest(session, key)
        info = {"id": definition.id, "key": definition.key, "name": definition.name,
                "version": definition.version}
    return render_template("modeler.html", definition=info)


@pages.post("/definitions/<key>/deploy")
@admin_required
def definition_deploy(key: str) -> Any:
    """The modeler posts the edited XML here (fetch with the X-CSRFToken header); answers JSON."""
    try:
        result = deploy_bytes(services().runtime, request.get_data(cache=False), f"{key}.bpmn",
                              _actor().username)
    except GovFlowError as exc:
        return jsonify({"error": exc.code, "message": exc.message, "details": exc.details}), exc.status
    return jsonify({"message": _deploy_message(result), **result}), 201


# ----- 通知 (notice centre) --------------------------------------------------------------------


@pages.get("/notices")
@login_required
def notices_page() -> Any:
    unread_only = request.args.get("unread") in ("1", "true", "on")
    with services().db.read() as session:
        items = notices.for_user(session, _actor(), unread_only=unread_only)
        ids = {n["instance_id"] for n in items if n["instance_id"]}
        keys = dict(session.execute(select(Instance.id, Instance.business_key)
                                    .where(Instance.id.in_(sorted(ids)))).all()) if ids else {}
        listed = _listed_ids(session, ids)
    for n in items:
        n["business_key"] = keys.get(n["instance_id"])
        n["listed"] = n["instance_id"] in listed
    return render_template("notices.html", items=items, unread_only=unread_only)


@pages.post("/notices/read")
@login_required
def notices_read() -> Any:
    """标为已读: one notice (form field `id`) or, without it, all of the user's notices."""
    raw = request.form.getlist("id")
    try:
        ids = [int(v) for v in raw] if raw else None
    except ValueError as exc:
        raise Invalid("通知编号不正确") from exc
    with services().db.write() as session:
        count = notices.mark_read(session, _actor(), ids, clock.now())
    if ids is None:
        flash(f"已将 {count} 条通知标为已读" if count else "没有未读通知", "success" if count else "info")
    elif count:
        flash("已标为已读", "success")
    return redirect(_back(url_for("pages.notices_page")))


# ----- 督办 (supervision board) ----------------------------------------------------------------

# Chart series: each case counted once, so a bar's height is the department's number of cases.
CHART_SERIES = (("overdue", "超期"), ("stalled_only", "停滞（未超期）"), ("listed_only", "挂牌督办（其他）"))


def supervisor_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        supervision.require_supervisor(_actor())
        return view(*args, **kwargs)

    return login_required(wrapped)


def _chart(departments: list[dict[str, Any]]) -> dict[str, Any]:
    """ECharts data: departments on the x axis, stacked exclusive counts."""
    series: dict[str, list[int]] = {key: [] for key, _ in CHART_SERIES}
    for dept in departments:
        cases = dept["cases"]
        series["overdue"].append(sum(1 for c in cases if c["overdue"]))
        series["stalled_only"].append(sum(1 for c in cases if c["stalled"] and not c["overdue"]))
        series["listed_only"].append(sum(1 for c in cases if c["listed"] and not c["overdue"] and not c["stalled"]))
    return {"departments": [d["name"] for d in departments],
            "stalled": [d["stalled"] for d in departments],
            "series": [{"key": key, "name": name, "data": series[key]} for key, name in CHART_SERIES]}


@pages.get("/supervision")
@supervisor_required
def supervision_page() -> Any:
    days = _int_arg("stalled_days")
    with services().db.read() as session:
        board = supervision.board(session, _actor(), days)
        groups = queries.groups(session)
        users = _user_names(session)
        processes = _process_names(session)
    names = {g["key"]: g["name"] for g in groups}
    for dept in board["departments"]:
        for case in dept["cases"]:
            case["process_name"] = processes.get(case["process"], case["process"])
            for task in case["tasks"]:
                task["holder"] = users.get(task["assignee"], task["assignee"]) if task["assignee"] else \
                    "、".join(names.get(k, k) for k in task["candidate_groups"])
    return render_template("supervision.html", board=board, groups=groups, chart=_chart(board["departments"]),
                           default_days=config_store.get("supervision.stalled_days"))


def _supervise(action: Callable[[], str]) -> Any:
    """Run one 督办 action; its Chinese result (or the reason it was refused) is flashed."""
    try:
        flash(action(), "success")
    except NotFound:
        raise
    except GovFlowError as exc:  # Invalid, Conflict, Forbidden: said on the page the user came from
        flash(exc.message, "error")
    return redirect(_back(url_for("pages.supervision_page")))


@pages.post("/supervision/urge/<int:instance_id>")
@supervisor_required
def supervision_urge(instance_id: int) -> Any:
    def run() -> str:
        result = supervision.manual_urge(services().db, instance_id, request.form.get("comment", ""), _actor())
        with services().db.read() as session:
            names = _group_names(session)
        return f"已发出催办通知，送达：{'、'.join(names.get(g, g) for g in result['recipients'])}"

    return _supervise(run)


@pages.post("/supervision/listed/<int:instance_id>")
@supervisor_required
def supervision_listed(instance_id: int) -> Any:
    listed = request.form.get("listed", "1") in ("1", "true", "on")

    def run() -> str:
        supervision.set_listed(services().db, instance_id, listed, request.form.get("comment") or None, _actor())
        return "已挂牌督办，案件将在各处显示督办标记" if listed else "已撤销挂牌督办"

    return _supervise(run)


@pages.post("/supervision/reassign/<task_id>")
@supervisor_required
def supervision_reassign(task_id: str) -> Any:
    group = request.form.get("group", "").strip() or None
    user = request.form.get("user", "").strip() or None

    def run() -> str:
        result = supervision.reassign(services().db, task_id, None if user else group, user,
                                      request.form.get("comment", "").strip() or None, _actor())
        with services().db.read() as session:
            names, users = _group_names(session), _user_names(session)
        if result["assignee"] and user:
            return f"已改派给 {users.get(result['assignee'], result['assignee'])}"
        return f"已改派给 {'、'.join(names.get(k, k) for k in result['candidate_groups'])}"

    return _supervise(run)


# ----- 模拟时钟 (virtual clock, rehearsals) -----------------------------------------------------


@pages.route("/admin/clock", methods=["GET", "POST"])
@login_required
def admin_clock() -> Any:
    from service.timers import fire_all_due
    from service.web.api import parse_duration

    if not clock.is_virtual():
        raise NotFound("未启用虚拟时钟（以 GOVFLOW_CLOCK=virtual 启动服务后可用）")
    if not _actor().is_admin:
        raise Forbidden("只有系统管理员可以拨动时钟")
    error = None
    raw = (request.form.get("quick") or request.form.get("advance", "")).strip()
    if request.method == "POST":
        try:
            delta = parse_duration(raw)
        except ValueError:
            error = "时长格式不正确，应为 ISO 8601 时长，如 P1D（1天）、PT2H（2小时）、P61D（61天）"
        else:
            with services().db.write() as session:
                config_store.advance_clock(session, delta.total_seconds())
            fired = fire_all_due(services().runtime)
            flash(f"时钟已拨至 {fmt_dt(clock.now())}，触发 {fired} 个定时器", "success")
            return redirect(url_for("pages.admin_clock"))
    return render_template("clock.html", now=clock.now(), offset=clock.offset(), error=error,
                           advance=raw), (422 if error else 200)
