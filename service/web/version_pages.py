"""版本: the versions of a procedure (who deployed, when, the comment, how many cases run on it),
a version read-only, and the diff of two versions (coloured diagram and a table); pages and
their JSON under /api/v1. For administrators and 流程设计员 (service.definition_versions)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask_login import login_required
from sqlalchemy.orm import Session

from service import definition_versions as versions_query
from service.errors import Invalid
from service.web.api_support import api_actor, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor, group_names

version_api = Blueprint("version_api", __name__, url_prefix="/api/v1")
version_pages = Blueprint("version_pages", __name__)
version_pages.register_blueprint(version_api)
csrf.exempt(version_api)

BAD_VERSION = "版本号必须是正整数"
# the diff table's Chinese names of what service.definition_diff compares
ATTRIBUTE_LABELS = {
    "type": "元素类型", "name": "名称", "candidateGroups": "办理组", "assignee": "办理人", "formKey": "表单",
    "dueDate": "办理期限", "condition": "条件", "script": "脚本", "timeDate": "定时（日期）",
    "timeDuration": "定时（时长）", "timeCycle": "定时（周期）", "eventDefinition": "事件类型",
    "default": "默认流向", "sourceRef": "起点", "targetRef": "终点", "attachedToRef": "附着于",
    "cancelActivity": "中断任务", "calledElement": "调用流程", "collection": "多实例集合",
    "elementVariable": "多实例变量", "isSequential": "依次执行", "flowNodeRef": "泳道内的元素（移出 → 移入）",
    # form fields (JSON Schema keywords)
    "title": "标题", "format": "格式", "required": "必填", "enum": "可选值", "minimum": "最小值",
    "maximum": "最大值", "minLength": "最短长度", "maxLength": "最长长度", "pattern": "格式规则",
    "description": "说明",
}
TYPE_LABELS = {
    "userTask": "用户任务", "scriptTask": "脚本任务", "serviceTask": "服务任务", "sendTask": "发送任务",
    "receiveTask": "接收任务", "manualTask": "人工任务", "businessRuleTask": "规则任务", "task": "任务",
    "callActivity": "调用活动", "subProcess": "子流程", "transaction": "事务子流程", "adHocSubProcess": "自由子流程",
    "startEvent": "开始事件", "endEvent": "结束事件", "intermediateCatchEvent": "中间捕获事件",
    "intermediateThrowEvent": "中间抛出事件", "boundaryEvent": "边界事件", "exclusiveGateway": "排他网关",
    "parallelGateway": "并行网关", "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关",
    "complexGateway": "复杂网关", "sequenceFlow": "顺序流", "lane": "泳道",
}
CHANGE_LABELS = {"added": "新增", "removed": "删除", "changed": "修改"}


def _version_arg(name: str) -> int | None:
    """A version number from the query string (absent: None; anything but a positive integer: 422)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(BAD_VERSION, [{"field": name, "message": BAD_VERSION}])
    return int(raw)


def _migration_url(key: str, version: int) -> str | None:
    """The migration page of a version (helper pages that may not be registered in every build)."""
    if "migration_pages.index" not in current_app.view_functions:
        return None
    return url_for("migration_pages.index", key=key, version=version)


def _edit_url(key: str) -> str | None:
    return url_for("definitions.definition_edit", key=key) \
        if "definitions.definition_edit" in current_app.view_functions else None


def _diff(session: Session, key: str) -> dict[str, Any]:
    a, b = versions_query.pair(session, key, _version_arg("a"), _version_arg("b"))
    return versions_query.diff_versions(session, services().runtime.forms, key, a, b)


def _labels() -> dict[str, Any]:
    return {"attribute_labels": ATTRIBUTE_LABELS, "type_labels": TYPE_LABELS, "change_labels": CHANGE_LABELS}


# ----- pages --------------------------------------------------------------------------------------


@version_pages.get("/definitions/<key>/versions")
@login_required
def versions(key: str) -> Any:
    actor = current_actor()
    versions_query.require_viewer(actor)
    with services().db.read() as session:
        rows = versions_query.version_rows(session, key)
    for row in rows:
        row["migration_url"] = _migration_url(key, row["version"]) if actor.is_admin else None
    return render_template("versions.html", key=key, name=rows[0]["name"], rows=rows, edit_url=_edit_url(key))


@version_pages.get("/definitions/<key>/v<int:n>")
@login_required
def version_view(key: str, n: int) -> Any:
    versions_query.require_viewer(current_actor())
    with services().db.read() as session:
        detail = versions_query.version_detail(session, services().runtime.forms, key, n)
        groups = group_names(session)
    return render_template("version_view.html", key=key, v=detail, groups=groups,
                           migration_url=_migration_url(key, n) if current_actor().is_admin else None,
                           xml_url=url_for("version_pages.version_xml", key=key, n=n))


@version_pages.get("/definitions/<key>/v<int:n>/xml")
@login_required
def version_xml(key: str, n: int) -> Any:
    """A version's diagram for designers (the viewers, and 下载 XML with ?download=1)."""
    versions_query.require_viewer(current_actor())
    with services().db.read() as session:
        xml = versions_query.definition_of(session, key, n).bpmn_xml
    response = Response(xml, mimetype="application/xml")
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{key}_v{n}.bpmn"'
    return response


@version_pages.get("/definitions/<key>/diff")
@login_required
def diff_page(key: str) -> Any:
    versions_query.require_viewer(current_actor())
    with services().db.read() as session:
        rows = versions_query.version_rows(session, key)
        result = _diff(session, key)
    return render_template(
        "version_diff.html", key=key, name=rows[0]["name"], rows=rows, diff=result,
        xml_a=url_for("version_pages.version_xml", key=key, n=result["a"]),
        xml_b=url_for("version_pages.version_xml", key=key, n=result["b"]), **_labels())


# ----- JSON API -------------------------------------------------------------------------------


@version_api.get("/definitions/<key>/versions")
@token_required
def api_versions(key: str) -> Any:
    versions_query.require_viewer(api_actor())
    with services().db.read() as session:
        rows = versions_query.version_rows(session, key)
    return jsonify([{k: r[k] for k in ("version", "deployed_at", "deployed_by", "comment", "running", "total",
                                       "deployed_by_username", "id")} for r in rows])


@version_api.get("/definitions/<key>/versions/<int:n>")
@token_required
def api_version(key: str, n: int) -> Any:
    versions_query.require_viewer(api_actor())
    with services().db.read() as session:
        detail = versions_query.version_detail(session, services().runtime.forms, key, n)
    return jsonify(detail)


@version_api.get("/definitions/<key>/diff")
@token_required
def api_diff(key: str) -> Any:
    versions_query.require_viewer(api_actor())
    with services().db.read() as session:
        return jsonify(_diff(session, key))
