"""What the situation page of an emergency (应急处置态势) shows, as one dict the page, its htmx
fragment and the JSON twin share: the level, commander and 现场指挥部, the 演练/迟报 marks, who is on
duty, a timeline of every report, decision, call and notice (to the minute, newest last), what is
due next (open tasks' deadlines and waiting timers) and who was notified.

Access and masking are the platform's: `queries.instance_detail` asks service.policy whether the
user may see the case and presents its data and history masked as the policy says."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, notices, policy, procedure, queries
from service.actors import Actor
from service.errors import NotFound
from service.store.models import Definition, History, Instance, Notice
from service.task_notices import KIND as NEW_TASK_KIND
from service.web.case_labels import data_rows, labels_for
from service.web.case_view import ACTION_LABELS, acted_by
from service.web.context import services
from service.web.dates import fmt_dt, to_datetime
from service.web.guards import group_names, user_names

PROCESS = "emergency_response"
LEVELS = {"general": "一般", "major": "重大（启动预案）"}
# History actions the commander does not need on the timeline (each notice is there itself).
QUIET_ACTIONS = frozenset({"claim", "unclaim", "notice"})
# Keys of the report every reader of the page looks for first, in this order.
# Keys the timeline's entries leave out: the number and title are the page's own head.
SUMMARY_SKIP = ("business_key", "subject", "title")
HEAD_KEYS = ("type", "occurred_at", "discovered_at", "reported_at", "place", "people_count", "cause",
             "demands", "measures_taken", "trend")


def _on_duty(session: Session, moment: datetime) -> list[dict[str, Any]] | None:
    """Who is on duty at `moment` (the roster's `on_duty_at`), or None while no roster exists."""
    from workflows import emergency_duty

    finder = getattr(emergency_duty, "on_duty_at", None)
    if finder is None:
        return None
    try:
        found = finder(session, moment)
    except Exception:  # noqa: BLE001 - the page must show the situation even if the roster fails
        return None
    return [dict(p) for p in found or []]


def _reported(data: dict[str, Any], inst: Instance) -> datetime:
    """The moment the report reached the office (the start's `reported_at`; else the case's start)."""
    value = data.get("reported_at")
    try:
        return clock.parse_datetime(value) if isinstance(value, str) and value else clock.parse_datetime(inst.started_at)
    except ValueError:
        return clock.parse_datetime(inst.started_at)


def _labelled(data: dict[str, Any], labels: dict[str, Any], groups: dict[str, str]) -> dict[str, str]:
    """Every labelled key of the data as the case page shows its value (enum titles, names, dates)."""
    return {row["name"]: row["value"] for row in data_rows(data, labels, groups)}


def _latest(detail: dict[str, Any]) -> dict[str, Any]:
    """The case data with what every step submitted laid over it, in order: a step of a parallel
    branch (现场指挥's command post, 联动处置's call) reaches the case data only at the join, but
    the commander needs it at once. History rows are masked as the policy says already."""
    data = dict(detail["data"])
    for h in detail["history"]:
        if h["action"] in ("start", "complete") and isinstance(h["data"], dict):
            data.update({k: v for k, v in h["data"].items() if not k.startswith("_")})
    return data


def _timeline_from_history(session: Session, instance_id: int, history: list[dict[str, Any]],
                           labels: dict[str, Any], groups: dict[str, str],
                           users: dict[str, str]) -> list[dict[str, Any]]:
    # The exact moments (the API's times are whole seconds): a notice follows the step raising it.
    moments = list(session.scalars(select(History.at).where(History.instance_id == instance_id)
                                   .order_by(History.id)))
    rows = []
    for h, moment in zip(history, moments, strict=False):
        if h["action"] in QUIET_ACTIONS:
            continue
        step_labels = labels["steps"].get(h["task"] or "", labels)
        shown = h["data"] if h["action"] in ("start", "complete", "message") and isinstance(h["data"], dict) else None
        summary = [{"label": r["label"], "value": r["value"]}
                   for r in data_rows(shown, step_labels, groups, skip=SUMMARY_SKIP)]
        rows.append({
            "at": h["at"], "minute": fmt_dt(h["at"]), "kind": "history", "action": h["action"],
            "label": ACTION_LABELS.get(h["action"], h["action"]), "task": h["task"],
            "task_name": h["task_name"] or "", "who": acted_by(h, users) if h["user"] else "系统",
            "comment": h["comment"] or "", "summary": summary, "_t": clock.parse_datetime(moment),
        })
    return rows


def _notified(session: Session, inst: Instance, actor: Actor, groups: dict[str, str],
              users: dict[str, str]) -> list[dict[str, Any]]:
    """The case's notices, one entry per notice sent (its recipients together), oldest first.
    The text is shown to those who see the case's personal data in clear (it may quote it)."""
    kinds = notices.kinds()
    clear = policy.may_see_personal(actor, inst)
    sent: dict[tuple[Any, ...], dict[str, Any]] = {}
    for n in session.scalars(select(Notice).where(Notice.instance_id == inst.id)
                             .order_by(Notice.created_at, Notice.id)):
        key = (n.kind, n.created_at, n.text, n.task_id)
        entry = sent.get(key)
        if entry is None:
            entry = sent[key] = {
                "at": clock.iso(n.created_at), "minute": fmt_dt(n.created_at), "kind": n.kind,
                "kind_name": kinds.get(n.kind, n.kind), "text": n.text if clear else "", "recipients": [],
                "routine": n.kind == NEW_TASK_KIND,  # 新待办: the page shows these quieter
                "_t": clock.parse_datetime(n.created_at),
            }
        if n.recipient_group:
            entry["recipients"].append({"key": n.recipient_group,
                                        "name": groups.get(n.recipient_group, n.recipient_group)})
        if n.recipient_user:
            entry["recipients"].append({"key": f"user:{n.recipient_user}",
                                        "name": users.get(n.recipient_user, n.recipient_user)})
    return list(sent.values())


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def _dues(detail: dict[str, Any], groups: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """Open tasks' deadlines and waiting timers (a deadline's 催办, the next hourly 续报), earliest
    first; a task before a timer falling due at the same moment."""
    dues = []
    for t in detail["open_tasks"]:
        if t["due_at"]:
            dues.append({"what": t["name"], "bpmn_id": t["bpmn_id"], "source": "task", "due_at": t["due_at"],
                         "who": "、".join(groups.get(g, g) for g in t["candidate_groups"])})
    for timer in detail["timers"]:
        dues.append({"what": timer["name"], "bpmn_id": None, "source": "timer", "due_at": timer["due_at"],
                     "who": "系统"})
    for d in dues:
        due = to_datetime(d["due_at"])
        d["minute"] = fmt_dt(d["due_at"])
        d["seconds_left"] = int((due - now).total_seconds()) if due else None
        d["overdue"] = due is not None and due <= now
        d["left"] = left_text(d["seconds_left"])
    dues.sort(key=lambda d: (to_datetime(d["due_at"]) or now, d["source"] != "task"))
    return dues


def left_text(seconds: int | None) -> str:
    """剩余 1小时05分 / 已超时 3分 — to the minute, as the page shows it before its script counts."""
    if seconds is None:
        return ""
    minutes = abs(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    span = (f"{days}天" if days else "") + (f"{hours}小时" if days or hours else "") + (f"{minutes:02d}分" if days or hours else f"{minutes}分")
    return f"已超时 {span}" if seconds <= 0 else f"剩余 {span}"


def _next_due(dues: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The countdown's target: the earliest deadline of a step (a timer only when no step has one)."""
    return next((d for d in dues if d["source"] == "task"), dues[0] if dues else None)


def situation(session: Session, actor: Actor, instance_id: int, now: datetime) -> dict[str, Any]:
    """The situation of one emergency as this user may see it (403 if they may not see the case,
    404 for no such case or one that is not an emergency)."""
    detail = queries.instance_detail(session, services().runtime, actor, instance_id)
    if detail["process"] != PROCESS:
        raise NotFound("该案件不是突发事件，没有应急处置态势")
    inst = session.get(Instance, instance_id)
    definition = session.get(Definition, detail["definition_id"])
    assert inst is not None and definition is not None
    labels = labels_for(definition)
    groups, users = group_names(session), user_names(session)
    data = _latest(detail)
    shown = _labelled(data, labels, groups)
    timeline = _timeline_from_history(session, inst.id, detail["history"], labels, groups, users)
    notified = _notified(session, inst, actor, groups, users)
    timeline += [{"at": n["at"], "minute": n["minute"], "kind": "notice", "action": n["kind"],
                  "label": n["kind_name"], "task": None, "task_name": "", "who": "系统",
                  "comment": n["text"], "_t": n["_t"], "summary": [{"label": "通知", "value": "、".join(
                      r["name"] for r in n["recipients"])}]}
                 for n in notified if not n["routine"]]
    timeline.sort(key=lambda row: row["_t"])  # stable: a step's history row before its notices
    dues = _dues(detail, groups, now)
    relation_labels = procedure.registry().relation_labels()
    level = data.get("level")
    return {
        "id": detail["id"], "business_key": detail["business_key"], "title": detail["title"],
        "status": detail["status"], "drill": bool(detail.get("drill")), "report_late": bool(data.get("report_late")),
        "report": [{"name": k, "label": labels["titles"].get(k, k), "value": shown[k]}
                   for k in HEAD_KEYS if k in shown],
        "level": level, "level_label": LEVELS.get(str(level), shown.get("level", "")) if level else "",
        "proposed_level": data.get("proposed_level"),
        "commander": data.get("commander") or "",
        "command": {"members": data.get("members") or "", "location": data.get("location") or ""},
        "handling_group": data.get("handling_group"),
        "handling_group_name": groups.get(str(data.get("handling_group") or ""), data.get("handling_group") or ""),
        "called": shown.get("called", ""), "ended_at": data.get("ended_at"),
        "on_duty": _on_duty(session, now),
        # who held the shift at the report's minute: the people its first notice went to
        "on_duty_at_report": _on_duty(session, _reported(data, inst)),
        "timeline": [_public(r) for r in timeline], "due": dues, "next_due": _next_due(dues),
        "notified": [_public(n) for n in notified],
        "links": [{**link, "label": relation_labels.get(link["relation"], link["relation"])}
                  for link in detail["links"]],
        "now": clock.iso(now),
    }
