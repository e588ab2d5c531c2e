"""Tasks the engine closed on its own, without anybody completing them: the path of a
non-interrupting boundary event cancelled when the task it is attached to completes (a cycle
timer's tasks, ARCHITECTURE.md "Engine facts"), a branch ended by a terminate end event, an
interrupting timer. Their rows are marked `cancelled` and each gets a history row naming what
closed it (「<step>，<task>任务关闭」), so that nothing disappears from a case silently."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.actors import SYSTEM

ACTION = "cancelled"


def close(sql: Any, session: Any, step: Any, gone: list[str], now: Any) -> None:
    """Mark the open task rows `gone` cancelled and queue one history row for each (before the
    step's `end` row, if the case completed with this step)."""
    if not gone:
        return
    marks, params = sql.in_list("t", gone)
    # the engine has dropped them from its tree: their names are the rows' (a round trip only
    # in the rare step that closes tasks this way)
    found = {r[0]: (r[1], r[2]) for r in sql.rows(
        session, f"SELECT id, bpmn_id, name FROM human_tasks WHERE id IN ({marks}) AND state = 'open'", params)}
    sql.run(session, f"UPDATE human_tasks SET state = 'cancelled', completed_at = :now WHERE id IN ({marks}) "
                     "AND state = 'open'", {**params, "now": now})
    cause = _cause(step.history)
    rows = [_row(step.case.id, step.now, bpmn_id, str(name or "待办"), task_id, f"{cause}，{name or '待办'}任务关闭")
            for task_id, (bpmn_id, name) in found.items()]
    history = step.history
    at = len(history) - 1 if history and history[-1].get("action") == "end" else len(history)
    history[at:at] = rows


def _cause(history: list[dict[str, Any]]) -> str:
    """What closed the tasks: the step done (its task's name) or the timer that fired."""
    for row in history:
        if row.get("task_name") and row.get("action") in ("complete", "timer", "message"):
            return str(row["task_name"])
    return "流程推进"


def _row(case_id: int, now: datetime, bpmn_id: str | None, name: str, task_id: str, comment: str) -> dict[str, Any]:
    # the columns of service/runtime/step.py's history rows (not imported: step imports this)
    return {"instance_id": case_id, "at": now, "username": SYSTEM.username, "action": ACTION,
            "task_bpmn_id": bpmn_id, "task_name": name, "task_id": task_id, "data_before": None,
            "data_after": None, "comment": comment, "on_behalf_of": None}
