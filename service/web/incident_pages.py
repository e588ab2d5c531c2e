"""故障案件 (incidents): cases in error or stuck, with the reason; `admin` retries, moves a case
to a chosen step, or ends it with a reason. A page (/admin/incidents: one card per case, its
reasons and the three repairs as CSRF forms) and the JSON API (/api/v1/incidents). The rules are
service/incidents.py's (finding) and service/incident_repairs.py's (repairs)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for
from flask_login import login_required

from service import incident_repairs, incidents
from service.errors import GovFlowError, Invalid
from service.web.api_support import api_actor, json_body, once, token_required
from service.web.context import csrf, services
from service.web.form_tokens import submit_once
from service.web.guards import current_actor

incident_api = Blueprint("incident_api", __name__, url_prefix="/api/v1")
incident_pages = Blueprint("incident_pages", __name__)
incident_pages.register_blueprint(incident_api)
csrf.exempt(incident_api)


def _by_case(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incidents grouped by case, the case with the oldest incident first."""
    cases: dict[int, dict[str, Any]] = {}
    for incident in found:
        case = cases.setdefault(incident["instance_id"], {
            **{k: incident[k] for k in ("instance_id", "business_key", "title", "process", "procedure", "version",
                                        "status", "retryable", "move_targets")},
            "incidents": []})
        case["incidents"].append(incident)
    return list(cases.values())


def _render(error: GovFlowError | None = None, case_id: int | None = None) -> Any:
    actor = current_actor()
    with services().db.read() as session:
        found = incidents.find(services().runtime, session, actor)
    return render_template("incidents.html", cases=_by_case(found), count=len(found),
                           error=error.message if error else None, error_case=case_id,
                           values=request.form if error else {}, max_reason=incident_repairs.MAX_REASON), \
        error.status if error else 200


@incident_pages.get("/admin/incidents")
@login_required
def index() -> Any:
    incidents.require_admin(current_actor())
    return _render()


def _corrections(raw: str) -> dict[str, Any]:
    """The retry form's optional 更正数据: a JSON object typed by the administrator."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Invalid("更正数据不是有效的 JSON，例如 {\"字段\": 值}", [{"field": "data", "message": "JSON 格式有误"}]) from exc
    return {"data": data}


def _post(instance_id: int, action: Any, body: Any, done: Any) -> Any:
    actor = current_actor()
    incidents.require_admin(actor)

    def run() -> tuple[str, str]:
        result = action(services().runtime, actor, instance_id, body())
        return url_for("incident_pages.index"), done(result)

    try:
        return submit_once(run)
    except GovFlowError as exc:
        if exc.status not in (404, 409, 422):
            raise
        return _render(exc, instance_id)


def _retried(result: dict[str, Any]) -> str:
    again = [t for t in result["timers"] if t["state"] != "fired"]
    if again:
        return "已重试，但定时器仍然出错：" + "；".join(f"{t['name']}：{t['last_error'] or '未触发'}" for t in again)
    fired = "，定时器已触发" if result["timers"] else ""
    return f"已重试{fired}，案件{'已办结' if result['status'] == 'completed' else '继续办理'}"


@incident_pages.post("/admin/incidents/<int:instance_id>/retry")
@login_required
def retry(instance_id: int) -> Any:
    return _post(instance_id, incident_repairs.retry, lambda: _corrections(request.form.get("data", "")), _retried)


@incident_pages.post("/admin/incidents/<int:instance_id>/move")
@login_required
def move(instance_id: int) -> Any:
    return _post(instance_id, incident_repairs.move,
                 lambda: {"step": request.form.get("step", ""), "reason": request.form.get("reason", "")},
                 lambda r: f"案件已移至“{r['step_name']}”，该步骤已重新派给办理组")


@incident_pages.post("/admin/incidents/<int:instance_id>/end")
@login_required
def end(instance_id: int) -> Any:
    return _post(instance_id, incident_repairs.end, lambda: {"reason": request.form.get("reason", "")},
                 lambda r: "案件已终止")


# ----- JSON API -------------------------------------------------------------------------------


@incident_api.get("/incidents")
@token_required
def list_incidents() -> Any:
    with services().db.read() as session:
        return jsonify(incidents.find(services().runtime, session, api_actor()))


def _api(action: Any, instance_id: int) -> Any:
    incidents.require_admin(api_actor())  # 403 before the body is even read
    body = json_body(optional=True)
    return once(lambda: (action(services().runtime, api_actor(), instance_id, body), 200))


@incident_api.post("/incidents/<int:instance_id>/retry")
@token_required
def post_retry(instance_id: int) -> Any:
    return _api(incident_repairs.retry, instance_id)


@incident_api.post("/incidents/<int:instance_id>/move")
@token_required
def post_move(instance_id: int) -> Any:
    return _api(incident_repairs.move, instance_id)


@incident_api.post("/incidents/<int:instance_id>/end")
@token_required
def post_end(instance_id: int) -> Any:
    return _api(incident_repairs.end, instance_id)
