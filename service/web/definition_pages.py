"""流程定义: the definitions list (administrators and 流程设计员: each procedure's versions and
draft; BPMN upload for administrators only), the online modeler's page and the admin's raw deploy
endpoint, and a deployed version's diagram XML (also read by the case pages' diagram)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import definitions, drafts, policy, queries
from service.bootstrap import deploy_bytes
from service.errors import Forbidden, GovFlowError, Invalid, NotFound
from service.store.models import Definition, Instance
from service.web.context import services
from service.web.guards import admin_required, current_actor, designer_required, user_names

definition_pages = Blueprint("definitions", __name__)

VERSIONS_ENDPOINT = "version_pages.versions"


def versions_url(key: str) -> str | None:
    """The procedure's versions page (None in a build without the versions pages)."""
    if VERSIONS_ENDPOINT not in current_app.view_functions:
        return None
    return url_for(VERSIONS_ENDPOINT, key=key)


@definition_pages.get("/definitions/<int:definition_id>/xml")
@login_required
def definition_xml(definition_id: int) -> Any:
    """The diagram of one deployed version: for designers and whoever can see a case of it."""
    actor = current_actor()
    with services().db.read() as session:
        definition = session.get(Definition, definition_id)
        if definition is None:
            raise NotFound("流程定义不存在")
        if not actor.is_designer:
            seen = session.scalars(policy.visible(
                select(Instance.id).where(Instance.definition_id == definition_id), actor).limit(1)).first()
            if seen is None:
                raise Forbidden("您无权查看此流程图")
        xml = definition.bpmn_xml
    return Response(xml, mimetype="application/xml")


def _definition_rows(session: Session) -> list[dict[str, Any]]:
    users = user_names(session)
    found = drafts.overview(session)
    return [{"id": d.id, "key": d.key, "name": d.name, "version": d.version,
             "deployed_at": queries.iso(d.deployed_at),
             "deployed_by": users.get(d.deployed_by or "", d.deployed_by or ""),
             "comment": d.comment or "", "draft": found.get(d.key), "versions_url": versions_url(d.key)}
            for d in definitions.latest_all(session)]


def deploy_message(result: dict[str, Any]) -> str:
    versions = "，".join(f"{k} v{v}" for k, v in result["versions"].items())
    return f"已部署 {versions}" if result["changed"] else f"流程图与当前版本相同，未生成新版本（{versions}）"


@definition_pages.route("/definitions", methods=["GET", "POST"])
@designer_required
def definitions_page() -> Any:
    errors: list[dict[str, Any]] = []
    error_message = None
    status = 200
    actor = current_actor()
    if request.method == "POST":
        if not actor.is_admin:
            raise Forbidden(drafts.NOT_DEPLOYER)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error_message, status = "请选择要上传的 BPMN 文件", 422
        else:
            try:
                result = deploy_bytes(services().runtime, upload.read(), upload.filename, actor.username,
                                      comment=request.form.get("comment") or None)
                flash(deploy_message(result), "success")
                return redirect(url_for("definitions.definitions_page"))
            except Invalid as exc:
                error_message, errors, status = exc.message, exc.details, 422
    with services().db.read() as session:
        rows = _definition_rows(session)
    return render_template("definitions.html", definitions=rows, errors=errors, error_message=error_message,
                           may_deploy=actor.is_admin), status


def modeler_context(session: Session, key: str, is_admin: bool) -> dict[str, Any]:
    """What modeler.html reads (CONTRACT "Designer pages"): the latest version, the draft, and
    the URLs of the modeler's calls (`form_edit` with the placeholder __FORM__)."""
    definition = definitions.latest(session, key)
    draft = drafts.view(session, drafts.get(session, key), definition.version)
    urls = {
        "xml": url_for("designer_pages.draft_xml", key=key) if draft
        else url_for("definitions.definition_xml", definition_id=definition.id),
        "catalog": url_for("designer_pages.catalog", key=key),
        "check": url_for("designer_pages.check", key=key),
        "draft": url_for("designer_pages.save_draft", key=key),
        "submit": url_for("designer_pages.submit_draft", key=key),
        "deploy": url_for("designer_pages.deploy", key=key) if is_admin else None,
        "versions": versions_url(key),
        "form_edit": url_for("designer_pages.form_editor", key=key, form_key="__FORM__"),
    }
    info = {"id": definition.id, "key": definition.key, "name": definition.name, "version": definition.version}
    return {"definition": info, "draft": draft, "can_deploy": is_admin, "urls": urls}


@definition_pages.get("/definitions/<key>/edit")
@designer_required
def definition_edit(key: str) -> Any:
    with services().db.read() as session:
        context = modeler_context(session, key, current_actor().is_admin)
    if context["draft"] and context["draft"]["stale"]:
        flash(f"{context['draft']['stale']}：部署前请核对新版本的修改", "warn")
    return render_template("modeler.html", **context)


@definition_pages.post("/definitions/<key>/deploy")
@admin_required
def definition_deploy(key: str) -> Any:
    """The raw XML of a diagram posted here (fetch with the X-CSRFToken header); answers JSON."""
    try:
        result = deploy_bytes(services().runtime, request.get_data(cache=False), f"{key}.bpmn",
                              current_actor().username)
    except GovFlowError as exc:
        return jsonify({"error": exc.code, "message": exc.message, "details": exc.details}), exc.status
    return jsonify({"message": deploy_message(result), **result}), 201
