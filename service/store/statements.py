"""The fixed SQL of the hot path (run on the driver cursor, service/store/fastsql.py), in one place.

Every INSERT is built from its model's table: each column is either given a value or named as
left to its default, and anything else fails at import. So a column added to a model cannot be
silently left out of the statements that create its rows (ARCHITECTURE.md: one step is a
handful of fixed statements, so they are written by hand, but checked against the models)."""

from __future__ import annotations

import re
from typing import Any

from service import sealed
from service.store.models import (
    Delivery,
    History,
    HumanTask,
    Instance,
    InstanceGroup,
    InstanceLink,
    InstanceState,
    Notice,
    Supervision,
    TaskCandidate,
    Timer,
)

_PARAM_ONLY = re.compile(r":[A-Za-z_]\w*")


def insert(model: Any, values: dict[str, str], defaulted: tuple[str, ...] = (), returning: str | None = None) -> str:
    """`INSERT INTO <table> (…) VALUES (…)` with `values` (column → SQL expression, usually a
    `:param`); every other column of the model must be listed in `defaulted`."""
    table = model.__table__
    columns = [c.name for c in table.columns]
    unknown = sorted(set(values) - set(columns))
    missing = [c for c in columns if c not in values and c not in defaulted]
    if unknown or missing:
        raise RuntimeError(f"INSERT INTO {table.name}: unknown columns {unknown}, columns neither given nor "
                           f"declared defaulted {missing}")
    names = [c for c in columns if c in values]
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(values[c] for c in names)})"
    return _sealing(model, values, f"{sql} RETURNING {returning}" if returning else sql)


def update(model: Any, values: dict[str, str], where: str) -> str:
    """`UPDATE <table> SET col = expr, … WHERE <where>`, its sealed columns' parameters registered."""
    table = model.__table__
    unknown = sorted(set(values) - {c.name for c in table.columns})
    if unknown:
        raise RuntimeError(f"UPDATE {table.name}: unknown columns {unknown}")
    sets = ", ".join(f"{c} = {e}" for c, e in values.items())
    return _sealing(model, values, f"UPDATE {table.name} SET {sets} WHERE {where}")


def _sealing(model: Any, values: dict[str, str], sql: str) -> str:
    """Register the `:param`s that fill the model's sealed columns (service/sealed.py), so
    fastsql seals them when the statement runs, whoever builds the parameters."""
    sealed_params = [values[c][1:] for c in sealed.sealed_columns(model)
                     if c in values and _PARAM_ONLY.fullmatch(values[c])]
    return sealed.register(sql, sealed_params)


def params(names: str) -> dict[str, str]:
    """`"a b c"` → {"a": ":a", "b": ":b", "c": ":c"}: columns whose parameter has their name."""
    return {name: f":{name}" for name in names.split()}


# ----- reading a case ------------------------------------------------------------------------

TASK_AND_CASE = (
    "SELECT t.instance_id, t.state, t.candidate_groups, t.assignee, t.form_key, t.bpmn_id, t.name, "
    "i.version, i.definition_id, i.process_key, i.business_key, i.status "
    "FROM human_tasks t JOIN instances i ON i.id = t.instance_id WHERE t.id = :id"
)
CASE = "SELECT id, version, definition_id, process_key, business_key, status FROM instances WHERE id = :id"
CASE_AND_STATE = (
    "SELECT i.id, i.version, i.definition_id, i.process_key, i.business_key, i.status, s.state "
    "FROM instances i JOIN instance_states s ON s.instance_id = i.id WHERE i.id = :id"
)
OPEN_BY_ID = "SELECT id, bpmn_id, name, candidate_groups, assignee FROM human_tasks WHERE id IN"
LATEST_DEFINITION = "SELECT id FROM definitions WHERE key = :key ORDER BY version DESC LIMIT 1"
CASE_BY_IDEMPOTENCY_KEY = "SELECT id, business_key, status FROM instances WHERE idempotency_key = :key"
RUNNING_MATCH = (
    "SELECT id, business_key FROM instances WHERE process_key = :process AND match_hash IN (:hash, :legacy) "
    "AND status = 'running' ORDER BY id LIMIT 1"
)

# ----- writing a step ------------------------------------------------------------------------

CLOSE_TASK = (
    "UPDATE human_tasks SET state = 'completed', completed_at = :now, completed_by = :user "
    "WHERE id = :id AND state = 'open' AND (assignee IS NULL OR assignee = :holder)"
)
_SAVE_CASE_COLUMNS = (
    "serializer_version = :serializer, status = :status, completed_at = :completed_at, "
    "handling_group = :handling_group, due_at = :due_at, title = :title "
    "WHERE id = :id AND version = :version"
)
# A person's step (start, complete, message) is activity: it moves last_step_at, which the
# supervision board counts stalled days from. It also clears the engine failure a person's step
# left on the case (service/runtime/incident_log.py): the case moved on.
SAVE_CASE = ("UPDATE instances SET version = :new_version, updated_at = :now, last_step_at = :now, "
             "error = NULL, error_at = NULL, " + _SAVE_CASE_COLUMNS)
# The system's steps (timer firings, deadline recomputes) are not activity: updated_at only.
SAVE_CASE_BY_SYSTEM = "UPDATE instances SET version = :new_version, updated_at = :now, " + _SAVE_CASE_COLUMNS
# The same when the projected columns hold what the step computed (a workflow this process saved:
# service/runtime/step.py): SQLite rewrites every index on a column an UPDATE sets, changed or not —
# six on status alone — so a step that moved nothing listed sets only what moved.
_SAVE_CASE_VERSION = "WHERE id = :id AND version = :version"
SAVE_CASE_STEP = ("UPDATE instances SET version = :new_version, updated_at = :now, last_step_at = :now, "
                  "error = NULL, error_at = NULL " + _SAVE_CASE_VERSION)
SAVE_CASE_STEP_BY_SYSTEM = "UPDATE instances SET version = :new_version, updated_at = :now " + _SAVE_CASE_VERSION
# (a person's step, the projected columns already held) -> the statement
SAVE_CASE_AS = {(True, False): SAVE_CASE, (False, False): SAVE_CASE_BY_SYSTEM,
                (True, True): SAVE_CASE_STEP, (False, True): SAVE_CASE_STEP_BY_SYSTEM}
SAVE_STATE = update(InstanceState, {"state": ":state"}, "instance_id = :id")
NEXT_NUMBER = (
    "INSERT INTO sequences (name, value) VALUES (:name, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1 RETURNING value"
)
NEW_CASE = insert(Instance, {
    **params("definition_id process_key business_key title status completed_at due_at handling_group listed "
             "idempotency_key match_hash drill"),
    "version": "1", "started_at": ":now", "started_by": ":user", "updated_at": ":now", "last_step_at": ":now",
    "serializer_version": ":serializer",
}, defaulted=("id", "error", "error_at", "listed_at", "history_seq", "history_head"), returning="id")
NEW_STATE = insert(InstanceState, {"instance_id": ":id", "state": ":state"})
NEW_TASK = insert(HumanTask, {
    **params("id instance_id process_key business_key bpmn_id name form_key candidate_groups assignee due_at"),
    "state": "'open'", "created_at": ":now",
}, defaulted=("completed_at", "completed_by"))
NEW_CANDIDATE = insert(TaskCandidate, {**params("task_id group_key due_sort"), "created_at": ":now"})
NEW_TIMER = insert(Timer, {**params("instance_id task_id name due_at"), "state": "'waiting'"},
                   defaulted=("id", "lease_until", "fired_at", "failures", "last_error"))
MOVE_TIMER = (
    "UPDATE timers SET due_at = :due_at WHERE instance_id = :id AND task_id = :task_id AND state = 'waiting'"
)
NEW_HISTORY = insert(History, params(
    "instance_id at username action task_bpmn_id task_name task_id data_before data_after comment on_behalf_of "
    "seq row_hash"), defaulted=("id",))  # written by service/hash_chain.py write_history, chained

# ----- timers --------------------------------------------------------------------------------

DUE_TIMERS = (
    "SELECT id, instance_id, task_id, name FROM timers WHERE state = 'waiting' AND due_at <= :now "
    "ORDER BY due_at, id LIMIT :limit"
)
CLAIM_TIMERS = (
    "SELECT t.id, t.instance_id, t.task_id, t.name, i.version, i.definition_id, i.process_key, i.business_key, "
    "i.status, s.state FROM timers t JOIN instances i ON i.id = t.instance_id "
    "JOIN instance_states s ON s.instance_id = t.instance_id WHERE t.state = 'waiting' AND t.due_at <= :now"
)
CLAIM_ORDER = " ORDER BY t.due_at, t.id LIMIT :limit"
# PostgreSQL: the claim locks the case rows with the timer rows, without waiting (a case a step
# holds is skipped, fired by the next poll). Every step updates its instance row first, so no
# transaction holds a case's timer or task rows while waiting for its instance row: one lock
# order (instance, then the rest), no deadlock between a batch and a completion.
CLAIM_LOCK = " FOR NO KEY UPDATE OF t, i SKIP LOCKED"
FIRE_ALSO = (
    "UPDATE timers SET state = 'fired', fired_at = :now, lease_until = :lease "
    "WHERE instance_id = :id AND task_id IN"
)
NEXT_DUE = "SELECT MIN(due_at) FROM timers WHERE state = 'waiting'"

DROP_CASE_GROUPS = "DELETE FROM instance_groups WHERE instance_id = :id"
NEW_CASE_GROUP = insert(InstanceGroup, params("instance_id group_key"))

# ----- links between cases -------------------------------------------------------------------

NEW_LINK = insert(InstanceLink, {**params("from_id to_id relation"), "created_at": ":now"}, defaulted=("id",))

# ----- notices (written in the step's transaction) ------------------------------------------

NEW_NOTICE = insert(Notice, {
    **params("kind instance_id task_id text dedup_key"), "recipient_user": ":user", "recipient_group": ":group",
    "created_at": ":now", "created_by": ":by", "dedup_key": ":dedup",
}, defaulted=("id",), returning="id")
NEW_LOG = insert(Supervision, {**params("instance_id kind text"), "at": ":now", "username": ":by",
                               "group_key": ":groups"}, defaulted=("id",))
USER_ADDRESSES = "SELECT active, email, phone FROM users WHERE username = :name"
GROUP_ADDRESSES = (
    "SELECT u.active, u.email, u.phone FROM users u JOIN user_groups g ON g.user_id = u.id WHERE g.group_key = :name"
)
NEW_DELIVERY = insert(Delivery, {**params("notice_id channel address"), "state": "'pending'", "attempts": "0"},
                      defaulted=("id", "last_error", "sent_at"))
