"""案件迁移: move a running case (or every case of a version) to another version of its
procedure, with a dry run first; the page and POST /api/v1/instances/{id}/migrate. The rules are
service/case_migration.py's; the administrator's alone."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import case_migration
from service.actors import Actor
from service.errors import Conflict, EngineFailure, GovFlowError, Invalid, NotFound
from service.store.models import Definition, Instance
from service.web.api_support import api_actor, json_body, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor, group_names

migration_api = Blueprint("migration_api", __name__, url_prefix="/api/v1")
migration_pages = Blueprint("migration_pages", __name__)
migration_pages.register_blueprint(migration_api)
csrf.exempt(migration_api)

# The page shows the dry run of at most this many cases of a version at once (each one restores
# the case's workflow); 全部迁移 moves every running case of the version all the same.
PAGE_CASES = 100


# ----- JSON API -------------------------------------------------------------------------------


def _body() -> tuple[int, bool]:
    """The request's {"version": N, "dry_run"?: bool}, or 422 naming each bad field."""
    body = json_body()
    version, dry = body.get("version"), body.get("dry_run", False)
    errors = []
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        errors.append({"field": "version", "message": "请填写目标版本号（正整数）"})
    if not isinstance(dry, bool):
        errors.append({"field": "dry_run", "message": "dry_run 须为 true 或 false"})
    if errors:
        raise Invalid("迁移请求不正确", errors)
    return version, dry


@migration_api.post("/instances/<int:instance_id>/migrate")
@token_required
def migrate_instance(instance_id: int) -> Any:
    actor = api_actor()
    case_migration.require_admin(actor)  # 403 before the body is even read
    version, dry = _body()
    runtime = services().runtime
    if dry:
        return jsonify(case_migration.dry_run(runtime, instance_id, version, actor))
    return jsonify(case_migration.migrate(runtime, instance_id, version, actor))


# ----- the page -------------------------------------------------------------------------------


def _int(name: str) -> int | None:
    raw = (request.values.get(name) or "").strip()
    return int(raw) if raw.isdigit() else None


def _procedures(session: Session) -> list[dict[str, Any]]:
    """Every deployed procedure with its versions (newest first) and their running cases."""
    counted = select(Instance.definition_id, func.count()).where(Instance.status == "running")
    running = {int(d): int(n) for d, n in session.execute(counted.group_by(Instance.definition_id))}
    found: dict[str, dict[str, Any]] = {}
    for d in session.scalars(select(Definition).order_by(Definition.key, Definition.version.desc())):
        entry = found.setdefault(d.key, {"key": d.key, "name": d.name, "versions": []})
        entry["versions"].append({"version": d.version, "id": d.id, "running": running.get(d.id, 0),
                                  "deployed_at": d.deployed_at, "comment": d.comment})
    return list(found.values())


def _selection(session: Session, procedures: list[dict[str, Any]]) -> dict[str, Any]:
    """The procedure, source and target versions asked for (?key=&version=&target=, or the case of
    ?instance=), defaulting to the newest version as the target and the oldest other version with
    running cases as the source."""
    instance_id, key, source, target = _int("instance"), request.values.get("key") or None, _int("version"), \
        _int("target")
    inst = session.get(Instance, instance_id) if instance_id else None
    if inst is not None:
        definition = session.get(Definition, inst.definition_id)
        key, source = inst.process_key, definition.version if definition else source
    procedure = next((p for p in procedures if p["key"] == key), None)
    if procedure is None:
        procedure = next((p for p in procedures if any(v["running"] for v in p["versions"][1:])),
                         procedures[0] if procedures else None)
    if procedure is None:
        return {"procedure": None, "source": None, "target": None, "instance": None}
    versions = {v["version"]: v for v in procedure["versions"]}
    newest = procedure["versions"][0]["version"]
    if target not in versions:
        target = newest
    if source not in versions:
        older = [v["version"] for v in reversed(procedure["versions"]) if v["running"] and v["version"] != target]
        source = older[0] if older else None
    return {"procedure": procedure, "source": versions.get(source), "target": versions.get(target),
            "instance": inst.id if inst is not None else None}


def _cases(session: Session, selected: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The running cases of the source version (or the one asked for), each with its dry run."""
    source, target = selected["source"], selected["target"]
    if source is None or target is None or source["id"] == target["id"]:
        return [], 0
    query = select(Instance).where(Instance.definition_id == source["id"], Instance.status == "running")
    if selected["instance"] is not None:
        query = query.where(Instance.id == selected["instance"])
    rows = list(session.scalars(query.order_by(Instance.id).limit(PAGE_CASES + 1)))
    runtime, actor = services().runtime, current_actor()
    cases = []
    for inst in rows[:PAGE_CASES]:
        try:
            run = case_migration.dry_run(runtime, inst.id, target["version"], actor)
        except GovFlowError as exc:
            run = {"kept": [], "changes": [], "added": [], "blocked": [
                {"task_id": None, "bpmn_id": None, "name": None, "message": exc.message}]}
        cases.append({"id": inst.id, "business_key": inst.business_key, "title": inst.title,
                      "started_at": inst.started_at, **run})
    return cases, len(rows)


def _render(error: GovFlowError | None = None) -> Any:
    actor = current_actor()
    case_migration.require_admin(actor)
    with services().db.read() as session:
        procedures = _procedures(session)
        selected = _selection(session, procedures)
        cases, total = _cases(session, selected)
        groups = group_names(session)
    source, target = selected["source"], selected["target"]
    diff_url = url_for("version_pages.diff_page", key=selected["procedure"]["key"], a=source["version"],
                       b=target["version"]) if source and target and source["id"] != target["id"] \
        and "version_pages.diff_page" in current_app.view_functions else None
    return render_template("migrations.html", procedures=procedures, selected=selected, cases=cases, diff_url=diff_url,
                           more=total > PAGE_CASES, page_cases=PAGE_CASES, groups=groups,
                           movable=[c for c in cases if not c["blocked"]],
                           error=error), error.status if error else 200


@migration_pages.get("/admin/migrations")
@login_required
def index() -> Any:
    return _render()


def _back() -> str:
    """Back to the version's list (a case just moved is no longer on the source version)."""
    args = {k: request.form.get(k) for k in ("key", "version", "target") if request.form.get(k)}
    return url_for("migration_pages.index", **args)


@migration_pages.post("/admin/migrations/case")
@login_required
def migrate_case() -> Any:
    actor = current_actor()
    case_migration.require_admin(actor)
    instance_id, target = _int("id"), _int("target")

    def run() -> tuple[str, str]:
        moved = case_migration.migrate(services().runtime, instance_id or 0, target, actor)
        with services().db.read() as session:
            inst = session.get(Instance, moved["id"])
        return _back(), f"已将 {inst.business_key if inst else moved['id']} 迁移到 v{moved['version']}"

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if exc.status not in (404, 409, 422):
            raise
        return _render(exc)


def _migrate_version(runtime: Any, key: str, source: int | None, version: int | None, actor: Actor) -> dict[str, Any]:
    """全部迁移: every running case of `key` v`source`, one step (one transaction) each; the ones
    something blocks stay where they are and are named with the reason."""
    case_migration.require_admin(actor)
    with runtime.db.read() as session:
        versions = dict(session.execute(select(Definition.version, Definition.id).where(Definition.key == key)).all())
        if source not in versions or version not in versions:
            raise NotFound("流程版本不存在")
        if source == version:
            raise Invalid(f"案件已在 v{version} 上", [{"field": "version", "message": "目标版本与当前版本相同"}])
        cases = session.execute(select(Instance.id, Instance.business_key).where(
            Instance.definition_id == versions[source], Instance.status == "running").order_by(Instance.id)).all()
    moved, blocked = [], []
    for case_id, business_key in cases:
        try:
            case_migration.migrate(runtime, case_id, version, actor)
            moved.append(business_key)
        except (Conflict, EngineFailure) as exc:
            blocked.append({"id": case_id, "business_key": business_key, "message": exc.message,
                            "details": exc.details})
    return {"moved": moved, "blocked": blocked}


@migration_pages.post("/admin/migrations/all")
@login_required
def migrate_all() -> Any:
    actor = current_actor()
    case_migration.require_admin(actor)
    key, source, target = request.form.get("key") or "", _int("version"), _int("target")

    def run() -> tuple[str, str]:
        summary = _migrate_version(services().runtime, key, source, target, actor)
        text = f"已迁移 {len(summary['moved'])} 件到 v{target}"
        if summary["blocked"]:
            text += f"；{len(summary['blocked'])} 件未迁移：" + "；".join(
                f"{b['business_key']}（{b['message']}）" for b in summary["blocked"][:10])
        return _back(), text

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if exc.status not in (404, 409, 422):
            raise
        return _render(exc)
