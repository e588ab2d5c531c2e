"""流程定义: the designers' definition list with BPMN upload, the online modeler and its deploy
endpoint, and a deployed version's diagram XML (also read by the case pages' diagram)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import definitions, policy, queries
from service.bootstrap import deploy_bytes
from service.errors import Forbidden, GovFlowError, Invalid, NotFound
from service.store.models import Definition, Instance
from service.web.context import services
from service.web.guards import admin_required, current_actor, user_names

definition_pages = Blueprint("definitions", __name__)


@definition_pages.get("/definitions/<int:definition_id>/xml")
@login_required
def definition_xml(definition_id: int) -> Any:
    """The diagram of one deployed version: for admins and whoever can see a case of it."""
    actor = current_actor()
    with services().db.read() as session:
        definition = session.get(Definition, definition_id)
        if definition is None:
            raise NotFound("流程定义不存在")
        if not actor.is_admin:
            seen = session.scalars(policy.visible(
                select(Instance.id).where(Instance.definition_id == definition_id), actor).limit(1)).first()
            if seen is None:
                raise Forbidden("您无权查看此流程图")
        xml = definition.bpmn_xml
    return Response(xml, mimetype="application/xml")


def _definition_rows(session: Session) -> list[dict[str, Any]]:
    users = user_names(session)
    return [{"id": d.id, "key": d.key, "name": d.name, "version": d.version,
             "deployed_at": queries.iso(d.deployed_at),
             "deployed_by": users.get(d.deployed_by or "", d.deployed_by or "")}
            for d in definitions.latest_all(session)]


def _deploy_message(result: dict[str, Any]) -> str:
    versions = "，".join(f"{k} v{v}" for k, v in result["versions"].items())
    return f"已部署 {versions}" if result["changed"] else f"流程图与当前版本相同，未生成新版本（{versions}）"


@definition_pages.route("/definitions", methods=["GET", "POST"])
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
                result = deploy_bytes(services().runtime, upload.read(), upload.filename, current_actor().username)
                flash(_deploy_message(result), "success")
                return redirect(url_for("definitions.definitions_page"))
            except Invalid as exc:
                error_message, errors, status = exc.message, exc.details, 422
    with services().db.read() as session:
        rows = _definition_rows(session)
    return render_template("definitions.html", definitions=rows, errors=errors,
                           error_message=error_message), status


@definition_pages.get("/definitions/<key>/edit")
@admin_required
def definition_edit(key: str) -> Any:
    with services().db.read() as session:
        definition = definitions.latest(session, key)
        info = {"id": definition.id, "key": definition.key, "name": definition.name,
                "version": definition.version}
    return render_template("modeler.html", definition=info)


@definition_pages.post("/definitions/<key>/deploy")
@admin_required
def definition_deploy(key: str) -> Any:
    """The modeler posts the edited XML here (fetch with the X-CSRFToken header); answers JSON."""
    try:
        result = deploy_bytes(services().runtime, request.get_data(cache=False), f"{key}.bpmn",
                              current_actor().username)
    except GovFlowError as exc:
        return jsonify({"error": exc.code, "message": exc.message, "details": exc.details}), exc.status
    return jsonify({"message": _deploy_message(result), **result}), 201
