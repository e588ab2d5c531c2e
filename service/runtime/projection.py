"""A step's projections: the rows lists, inboxes and timers read instead of the engine state —
open tasks and their candidate groups, waiting timers, the case's handling groups — brought in
line with the workflow after the step, touching only the rows that changed (the rows as they
were are the step's `before`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service import clock, notices
from service.runtime.closed_tasks import close as close_cancelled
from service.store import statements as stmt

# Sort key for tasks without a due date: after every real one.
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=clock.BEIJING)


def project(sql: Any, db: Any, session: Any, step: Any) -> list[dict[str, Any]]:
    """Bring the open-task and waiting-timer rows and the case's handling groups in line with
    `step`'s workflow (the rows as they were are `step.before`); returns the tasks it opened."""
    case, before = step.case, step.before
    now = sql.when(step.now)
    gone = sorted(before.ready - step.ready.keys())
    close_cancelled(sql, session, step, gone, now)  # closed by the engine: cancelled, in history
    dropped = gone + step.closed
    if dropped:
        marks, params = sql.in_list("t", dropped)
        sql.run(session, f"DELETE FROM task_candidates WHERE task_id IN ({marks})", params)
    opened, tasks, candidates = [], [], []
    for task_id in step.ready:
        if task_id in before.ready:
            continue
        meta = step.ready[task_id]
        tasks.append({"id": task_id, "instance_id": case.id, "process_key": case.process_key,
                      "business_key": case.business_key, "bpmn_id": meta["bpmn_id"], "name": meta["name"],
                      "form_key": meta["form_key"], "candidate_groups": ",".join(meta["candidate_groups"]),
                      "assignee": meta["assignee"], "now": now, "due_at": sql.when(meta["due_at"])})
        due_sort = sql.when(meta["due_at"] or NO_DUE_DATE)
        candidates += [{"task_id": task_id, "group_key": g, "due_sort": due_sort, "now": now}
                       for g in dict.fromkeys(meta["candidate_groups"])]
        opened.append({"id": task_id, "bpmn_id": meta["bpmn_id"], "name": meta["name"],
                       "candidate_groups": [g for g in meta["candidate_groups"] if g], "assignee": meta["assignee"]})
    sql.many(session, stmt.NEW_TASK, tasks)
    sql.many(session, stmt.NEW_CANDIDATE, candidates)
    notices.write_opened(db, session, step, opened)  # 新待办, in this batch (service/task_notices.py)

    stale = [task_id for task_id in before.timers if task_id not in step.timers]
    if stale:
        marks, params = sql.in_list("t", stale)
        sql.run(session, f"UPDATE timers SET state = 'cancelled' WHERE instance_id = :id AND task_id IN ({marks}) "
                         "AND state IN ('waiting', 'failed')", {**params, "id": case.id})
    new_timers, moved = [], []
    for task_id, (due_at, name) in step.timers.items():
        if task_id not in before.timers:
            new_timers.append({"instance_id": case.id, "task_id": task_id, "name": name,
                               "due_at": sql.when(due_at)})
        elif before.timers[task_id] != due_at:
            moved.append({"id": case.id, "task_id": task_id, "due_at": sql.when(due_at)})
    sql.many(session, stmt.NEW_TIMER, new_timers)
    for row in moved:
        sql.run(session, stmt.MOVE_TIMER, row)
    groups = step.values["groups"]
    if groups != before.groups:  # only the groups that changed: a round drops one per report, not 50
        kept, wanted = set(before.groups), set(groups)
        if gone_groups := sorted(kept - wanted):
            marks, params = sql.in_list("g", gone_groups)
            sql.run(session, f"{stmt.DROP_CASE_GROUPS} AND group_key IN ({marks})", {**params, "id": case.id})
        sql.many(session, stmt.NEW_CASE_GROUP,
                 [{"instance_id": case.id, "group_key": g} for g in groups if g not in kept])
    return opened
