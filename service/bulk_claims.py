"""批量签收: several tasks claimed at once from the inbox (or the API), each one through the same
claim command — its own transaction, its policy check, its 签收回执 — so every task is either
claimed entirely or left as it was, and the answer says which: 「已签收 3 件；1 件已被他人签收」."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.actors import Actor
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.store.models import HumanTask

MAX_TASKS = 200
# outcome → how the summary counts it
OUTCOMES = {
    "claimed": "已签收",
    "mine": "原已由您签收",
    "taken": "已被他人签收",
    "done": "已办理或已取消",
    "forbidden": "无权签收",
    "missing": "不存在",
}


def task_ids(raw: Any) -> list[str]:
    """The requested ids, each once, in the order given; a Chinese 422 for anything else."""
    if not isinstance(raw, list) or not raw:
        raise Invalid("请选择要签收的任务", [{"field": "task_ids", "message": "应为非空的任务编号列表"}])
    if len(raw) > MAX_TASKS:
        raise Invalid(f"一次最多签收{MAX_TASKS}件", [{"field": "task_ids", "message": f"共{len(raw)}件"}])
    if not all(isinstance(t, str) and t.strip() and len(t.strip()) <= 36 for t in raw):
        raise Invalid("任务编号格式不正确", [{"field": "task_ids", "message": "每项应为任务编号字符串"}])
    return list(dict.fromkeys(t.strip() for t in raw))


def summary(results: list[dict[str, Any]]) -> str:
    counts = {key: sum(1 for r in results if r["status"] == key) for key in OUTCOMES}
    parts = [f"已签收 {counts['claimed']} 件"]
    parts += [f"{n} 件{OUTCOMES[key]}" for key, n in counts.items() if key != "claimed" and n]
    return "；".join(parts)


def claim_many(runtime: Any, ids: list[str], actor: Actor) -> dict[str, Any]:
    """Claim each task as `actor` ({"results": [{id, status, message}], "claimed": n, "summary"})."""
    with runtime.db.read() as session:
        before = {t.id: (t.state, t.assignee) for t in session.scalars(
            select(HumanTask).where(HumanTask.id.in_(ids)))}
    results = []
    for task_id in ids:
        state, assignee = before.get(task_id, (None, None))
        if state == "open" and assignee == actor.username:
            results.append({"id": task_id, "status": "mine", "message": OUTCOMES["mine"]})
            continue
        try:
            runtime.claim(task_id, actor)
            results.append({"id": task_id, "status": "claimed", "message": OUTCOMES["claimed"]})
        except NotFound as exc:
            results.append({"id": task_id, "status": "missing", "message": exc.message})
        except Forbidden as exc:
            results.append({"id": task_id, "status": "forbidden", "message": exc.message})
        except Conflict as exc:
            results.append({"id": task_id, "status": _why(runtime, task_id), "message": exc.message})
    claimed = sum(1 for r in results if r["status"] == "claimed")
    return {"results": results, "claimed": claimed, "summary": summary(results)}


def _why(runtime: Any, task_id: str) -> str:
    """A refused claim: the task was done meanwhile, or someone else holds it."""
    with runtime.db.read() as session:
        row = session.get(HumanTask, task_id)
    return "done" if row is None or row.state != "open" else "taken"
