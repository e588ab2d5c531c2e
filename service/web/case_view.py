"""What the inbox and the case pages show of a case and its tasks: a task row with its names and
deadline state, the case context (detail, data rows, history, open tasks, links) shared by the
case page and the task page, and the marks a list shows beside a case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import policy, procedure, queries
from service.engine.taskdata import PER_TASK
from service.store.models import Definition, Instance
from service.web.case_labels import STEP_KEYS, data_rows, labels_for
from service.web.context import services
from service.web.dates import due_state
from service.web.guards import current_actor, group_names, process_names, user_names

ACTION_LABELS = {
    "start": "登记", "complete": "办理", "claim": "签收", "unclaim": "退回签收",
    "message": "收到消息", "timer": "定时器触发", "end": "办结",
    "urge": "催办", "listed": "挂牌督办", "unlisted": "撤销挂牌", "reassign": "改派", "recalc": "期限重算",
    "notice": "发出通知", "task_opened": "生成任务",
    "receipt": "签收回执", "transfer": "转办",  # service/receipts.py, service/transfers.py
    "document": "印发",  # service/documents.py: a numbered paper issued
    "attach": "附件",  # service/attachments.py: 上传附件 …
    "cancelled": "任务关闭",  # service/runtime/closed_tasks.py: closed by the engine, not done
    "migrate": "迁移版本",  # service/case_migration.py: moved to another version of its procedure
    "retry": "故障重试", "move": "移至步骤", "terminate": "终止",  # service/incident_repairs.py: the admin's repairs
}


def acted_by(h: dict[str, Any], users: dict[str, str]) -> str:
    """Who did it: 李四, or 李四（代 张三） when a delegate acted in someone's name (委托)."""
    name = users.get(h["user"], h["user"])
    behalf = h.get("on_behalf_of")
    return f"{name}（代 {users.get(behalf, behalf)}）" if behalf else name


def task_view(task: dict[str, Any], session: Session) -> dict[str, Any]:
    groups, users, processes = group_names(session), user_names(session), process_names(session)
    return {
        **task,
        "process_name": processes.get(task["process"], task["process"]),
        "group_names": [groups.get(k, k) for k in task["candidate_groups"]],
        "assignee_name": users.get(task["assignee"], task["assignee"]) if task["assignee"] else "",
        "due": task["due_state"] if "due_state" in task else due_state(task["due_at"]),
    }


def case_context(session: Session, instance_id: int) -> dict[str, Any]:
    """Instance detail plus everything the case panels show (labels, names, history)."""
    svc = services()
    actor = current_actor()
    detail = queries.instance_detail(session, svc.runtime, actor, instance_id)
    definition = session.get(Definition, detail["definition_id"])
    assert definition is not None
    labels = labels_for(definition)
    declared = procedure.get(detail["process"])
    groups, users = group_names(session), user_names(session)
    history = []
    for h in detail["history"]:
        label = ACTION_LABELS.get(h["action"], h["action"])
        task_name = h["task_name"] or ""
        step_labels = labels["steps"].get(h["task"] or "", labels)
        if h["action"] == "message":
            step_labels = labels["messages"].get(task_name, step_labels)
            rule = declared.message(task_name) if declared else None
            task_name = rule.label if rule else task_name
        shown = h["data"] if h["action"] in ("complete", "message") and isinstance(h["data"], dict) else None
        history.append({
            **h,
            "user_name": acted_by(h, users),
            "action_label": label,
            "task_label": task_name,
            "rows": data_rows(shown, step_labels, groups, skip=("comment",)),
        })
    open_tasks = []
    for t in detail["open_tasks"]:
        view = task_view(t, session)
        view["may_act"] = policy.may_act(actor, t["candidate_groups"], t["assignee"])
        view["may_view"] = view["may_act"] or policy.may_view_task(
            actor, ",".join(t["candidate_groups"]), t["assignee"], detail["process"])
        open_tasks.append(view)
    relation_labels = procedure.registry().relation_labels()
    processes = process_names(session)
    links = [{**link, "label": relation_labels.get(link["relation"], link["relation"]),
              "process_name": processes.get(link["process"], link["process"])} for link in detail["links"]]
    return {
        "case": detail,
        "links": links,
        "case_rows": data_rows(detail["data"], labels, groups, skip=(PER_TASK, *STEP_KEYS)),
        "per_task": _per_task(detail["data"].get(PER_TASK), labels, groups),
        "history": history,
        "open_tasks": open_tasks,
        "handling_group_name": groups.get(detail["handling_group"] or "", detail["handling_group"] or ""),
        "case_due": detail["due_state"],
    }


def _per_task(found: Any, labels: dict[str, Any], groups: dict[str, str]) -> list[dict[str, Any]]:
    """What each open task of a one-task-per-department step holds, apart (never merged)."""
    if not isinstance(found, dict):
        return []
    rows = []
    for task_id, item in found.items():
        element = item.get("element")
        step_labels = labels["steps"].get(item.get("bpmn_id") or "", labels)
        rows.append({"task_id": task_id, "who": groups.get(str(element), str(element)),
                     "rows": data_rows(item.get("data"), step_labels, groups)})
    return sorted(rows, key=lambda r: r["who"])


def list_rows(session: Session, cases: list[Instance], as_json: Callable[[Instance], dict[str, Any]]
              ) -> list[dict[str, Any]]:
    """A case list's rows as the pages show them: marks, process and handling unit by name."""
    processes, groups = process_names(session), group_names(session)
    marks = case_marks(session, [inst.id for inst in cases])
    rows = []
    for inst in cases:
        item = as_json(inst)
        item["marks"] = marks.get(inst.id, [])
        item["process_name"] = processes.get(item["process"], item["process"])
        item["handling_group_name"] = groups.get(item["handling_group"] or "", item["handling_group"] or "")
        rows.append(item)
    return rows


# ----- marks beside a case in the lists ---------------------------------------------------------


def case_marks(session: Session, instance_ids: Iterable[int]) -> dict[int, list[str]]:
    """Marks a list shows beside a case: 演练 (drill) and its relations (e.g. 重复信访)."""
    from service.links import links_of

    ids = sorted(set(instance_ids))
    if not ids:
        return {}
    labels = procedure.registry().relation_labels()
    marks: dict[int, list[str]] = {i: [] for i in ids}
    for instance_id in session.scalars(select(Instance.id).where(Instance.id.in_(ids), Instance.drill.is_(True))):
        marks[instance_id].append("演练")
    for instance_id, links in links_of(session, ids).items():
        for link in links:
            label = labels.get(link["relation"], link["relation"])
            if label not in marks[instance_id]:
                marks[instance_id].append(label)
    return marks


def listed_ids(session: Session, instance_ids: Iterable[int]) -> set[int]:
    """Which of these cases are under 挂牌督办 (one query)."""
    ids = sorted(set(instance_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Instance.id).where(Instance.id.in_(ids), Instance.listed.is_(True))))
