"""督办 (supervision board): departments' overdue, stalled and listed cases with a chart, and the
督办 actions (催办, 挂牌督办 / 撤销, 改派), each flashed and sent back to the page it came from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from service import config_store, policy, queries, supervision
from service.errors import GovFlowError, NotFound
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.guards import (
    back,
    current_actor,
    group_names,
    int_arg,
    process_names,
    supervisor_required,
    user_names,
)

supervision_pages = Blueprint("supervision", __name__)

# Chart series: each case counted once, so a bar's height is the department's number of cases.
CHART_SERIES = (("overdue", "超期"), ("stalled_only", "停滞（未超期）"), ("listed_only", "挂牌督办（其他）"))


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


@supervision_pages.get("/supervision")
@supervisor_required
def supervision_page() -> Any:
    days = int_arg("stalled_days")
    with services().db.read() as session:
        board = supervision.board(session, current_actor(), days)
        groups = queries.groups(session)
        users = user_names(session)
        processes = process_names(session)
    names = {g["key"]: g["name"] for g in groups}
    for dept in board["departments"]:
        for case in dept["cases"]:
            case["process_name"] = processes.get(case["process"], case["process"])
            for task in case["tasks"]:
                task["groups"] = policy.reassign_targets(case["process"], task["bpmn_id"],
                                                         task["candidate_groups"], groups)
                task["holder"] = users.get(task["assignee"], task["assignee"]) if task["assignee"] else \
                    "、".join(names.get(k, k) for k in task["candidate_groups"])
    return render_template("supervision.html", board=board, groups=groups, chart=_chart(board["departments"]),
                           default_days=config_store.get("supervision.stalled_days"))


def _supervise(action: Callable[[], str]) -> Any:
    """Run one 督办 action; its Chinese result (or the reason it was refused) is flashed."""
    target = back(url_for("supervision.supervision_page"))
    try:
        return submit_once(lambda: (target, action()))  # a double click sends one 催办
    except NotFound:
        raise
    except GovFlowError as exc:  # Invalid, Conflict, Forbidden: said on the page the user came from
        flash(exc.message, "error")
    return redirect(target)


@supervision_pages.post("/supervision/urge/<int:instance_id>")
@supervisor_required
def supervision_urge(instance_id: int) -> Any:
    def run() -> str:
        result = supervision.manual_urge(services().db, instance_id, request.form.get("comment", ""),
                                         current_actor())
        with services().db.read() as session:
            names = group_names(session)
        return f"已发出催办通知，送达：{'、'.join(names.get(g, g) for g in result['recipients'])}"

    return _supervise(run)


@supervision_pages.post("/supervision/listed/<int:instance_id>")
@supervisor_required
def supervision_listed(instance_id: int) -> Any:
    listed = request.form.get("listed", "1") in ("1", "true", "on")

    def run() -> str:
        supervision.set_listed(services().db, instance_id, listed, request.form.get("comment") or None,
                               current_actor())
        return "已挂牌督办，案件将在各处显示督办标记" if listed else "已撤销挂牌督办"

    return _supervise(run)


@supervision_pages.post("/supervision/reassign/<task_id>")
@supervisor_required
def supervision_reassign(task_id: str) -> Any:
    group = request.form.get("group", "").strip() or None
    user = request.form.get("user", "").strip() or None

    def run() -> str:
        result = supervision.reassign(services().db, task_id, None if user else group, user,
                                      request.form.get("comment", "").strip() or None, current_actor())
        with services().db.read() as session:
            names, users = group_names(session), user_names(session)
        if result["assignee"] and user:
            return f"已改派给 {users.get(result['assignee'], result['assignee'])}"
        return f"已改派给 {'、'.join(names.get(k, k) for k in result['candidate_groups'])}"

    return _supervise(run)
