"""inbox_p95_ms_at_100k: `queries.inbox` (and the instance lists) on a database bulk-filled with
--inbox-rows running petitions (`fill_inbox`), timed by `bench_inbox`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from bench.databases import demo_actors, prepare_database
from bench.measure import _percentile, _progress, _round
from bench.service_phase import drive_service
from bench.workload import petition_start, petition_steps
from service import clock

# Where the open task of a filled instance stands: (bpmn_id, weight). Most cases wait at `handle`.
INBOX_STEPS: list[tuple[str, int]] = [
    ("classify", 5), ("propose", 5), ("leader_sign", 5), ("sg_approve", 5),
    ("handle", 60), ("review_result", 10), ("reply", 10),
]
HANDLING_GROUPS = ["dept_fgw", "dept_cjw", "dept_jsw", "county_linxiang", "county_fengqing", "xfk"]
INBOX_USERS = ("xfk1", "bgs", "msz", "fgw1", "cjw1", "linxiang1", "zr")
LIST_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("msz", {"overdue": True}),
    ("xfk1", {"process": "petition", "status": "running"}),
    ("fgw1", {"status": "running"}),
    ("fgw1", {"overdue": True}),
    ("bgs", {"process": "petition"}),
]


def _template_tasks(svc: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]], str]:
    """Drive one real petition; keep its human task rows per step and its state at `handle`."""
    from sqlalchemy import select

    from service.store.models import HumanTask, Instance

    actors = demo_actors(svc)
    captured: dict[str, Any] = {}

    def at_handle(instance_id: int) -> None:
        with svc.db.read() as session:
            inst = session.get(Instance, instance_id)
            captured["state"] = inst.state
            captured["instance"] = inst

    iid = drive_service(svc.runtime, actors, petition_start(), petition_steps(), at_handle)
    with svc.db.read() as session:
        tasks = {t.bpmn_id: t for t in session.scalars(select(HumanTask).where(HumanTask.instance_id == iid))}
    inst = captured["instance"]
    columns = {c.key: getattr(inst, c.key) for c in Instance.__table__.columns}
    task_columns = {k: {c.key: getattr(t, c.key) for c in HumanTask.__table__.columns} for k, t in tasks.items()}
    return columns, task_columns, captured["state"]


def _bulk_insert(svc: Any, table: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Fast bulk load: COPY on PostgreSQL, one executemany on SQLite (values already in the form
    the dialect's bind processors give them, see `_storage_form`)."""
    if not rows:
        return
    raw = svc.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if svc.db.dialect == "postgresql":
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute("PRAGMA cache_size=-262144")  # 256 MB: random-key index inserts stay in memory
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                               f"VALUES ({', '.join('?' for _ in columns)})", rows)
        raw.commit()
    finally:
        raw.close()


@contextmanager
def _indexes_dropped(svc: Any, tables: list[str]) -> Iterator[None]:
    """Drop the secondary indexes of `tables` for the bulk load and create them again afterwards
    from their own DDL (building an index once is far cheaper than 450,000 random inserts)."""
    from sqlalchemy import text

    with svc.db.engine.begin() as conn:
        if svc.db.dialect == "postgresql":
            found = conn.execute(text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
                "AND i.tablename = ANY(:t) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
                "WHERE c.conname = i.indexname)"), {"t": tables}).all()
        else:
            found = conn.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({', '.join(repr(t) for t in tables)})")).all()
        for name, _ddl in found:
            conn.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        with svc.db.engine.begin() as conn:
            for _name, ddl in found:
                conn.execute(text(ddl))


def _storage_form(svc: Any, table: Any) -> Callable[[Any], Any]:
    """How a datetime is stored: SQLite keeps the ORM's text form, psycopg takes the object."""
    if svc.db.dialect == "postgresql":
        return lambda value: value
    dialect = svc.db.engine.dialect
    column = table.c["created_at"] if "created_at" in table.c else table.c["started_at"]
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor or (lambda value: value)


def _uuid_text(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def fill_inbox(svc: Any, rows: int, full_state: bool = True, seed: int = 20260301) -> dict[str, Any]:
    """Bulk-insert `rows` running petitions, each with one open task (and the completed tasks
    of the steps before it), spread over the demo groups; a tenth of the open tasks claimed.

    Every row carries a copy of a real petition's state at `handle` (`full_state`), or a short
    stub (--quick: writing 100,000 × ~20 KB takes longer than the whole quick run may)."""
    from sqlalchemy import text

    inst_tpl, task_tpl, state = _template_tasks(svc)
    if not full_state:
        state = '{"bench":"state omitted (--inbox-state stub)"}'
    rng = random.Random(seed)
    first_id = int(inst_tpl["id"]) + 1
    counts: dict[str, int] = {}
    began = time.perf_counter()
    with _indexes_dropped(svc, ["instances", "human_tasks", "task_candidates"]):
        _fill_rows(svc, rows, rng, state, first_id, inst_tpl, task_tpl, counts)
    if svc.db.dialect == "postgresql":
        with svc.db.write() as session:
            session.execute(text("SELECT setval(pg_get_serial_sequence('instances', 'id'), "
                                 "(SELECT max(id) FROM instances))"))
        # Autovacuum would analyze the new rows within a minute; do it now, as it would be.
        with svc.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    # SQLite: no ANALYZE, as in production (GovFlow never runs it).
    return {"fill_seconds": time.perf_counter() - began, "open_tasks_by_group": counts,
            "state_bytes_per_row": len(state.encode())}


def _fill_rows(svc: Any, rows: int, rng: random.Random, state: str, first_id: int, inst_tpl: dict[str, Any],
               task_tpl: dict[str, dict[str, Any]], counts: dict[str, int]) -> None:
    from service.runtime import NO_DUE_DATE
    from service.store.models import HumanTask, Instance, InstanceState, TaskCandidate

    order = [s for s, _w in INBOX_STEPS]
    weights = [w for _s, w in INBOX_STEPS]
    route_steps = {"classify", "propose", "leader_sign", "sg_approve"}
    handle_at = order.index("handle")
    now = clock.now()
    dt = _storage_form(svc, HumanTask.__table__)
    inst_cols = [c.key for c in Instance.__table__.columns]
    task_cols = [c.key for c in HumanTask.__table__.columns]
    inst_base = [dt(inst_tpl[c]) if isinstance(inst_tpl[c], datetime) else inst_tpl[c] for c in inst_cols]
    task_base = {k: [dt(t[c]) if isinstance(t[c], datetime) else t[c] for c in task_cols]
                 for k, t in task_tpl.items()}
    ii = {c: n for n, c in enumerate(inst_cols)}
    ti = {c: n for n, c in enumerate(task_cols)}
    chunk = 10_000
    for base in range(0, rows, chunk):
        inst_rows: list[tuple[Any, ...]] = []
        task_rows: list[tuple[Any, ...]] = []
        cand_rows: list[tuple[Any, ...]] = []
        state_rows: list[tuple[Any, ...]] = []
        for i in range(base, min(base + chunk, rows)):
            iid = first_id + i
            started_dt = now - timedelta(days=rng.uniform(0, 120))
            started, due = dt(started_dt), dt(started_dt + timedelta(days=60))
            route_due, next_day = dt(started_dt + timedelta(days=15)), dt(started_dt + timedelta(days=1))
            done_at = dt(started_dt + timedelta(hours=1))
            position = order.index(rng.choices(order, weights)[0])
            step = order[position]
            group = rng.choice(HANDLING_GROUPS) if position >= handle_at else None
            business_key = f"XF-{now.year - 1 if i % 3 == 0 else now.year}-B{i:07d}"
            row = inst_base[:]
            state_rows.append((iid, state))
            for key, value in (("id", iid), ("business_key", business_key),
                               ("status", "running"), ("started_at", started), ("updated_at", started),
                               ("last_step_at", next_day), ("completed_at", None), ("due_at", due),
                               ("handling_group", group), ("version", 1 + position)):
                row[ii[key]] = value
            inst_rows.append(tuple(row))
            for done in order[:position]:
                row = task_base[done][:]
                row[ti["id"]] = _uuid_text(rng)
                row[ti["instance_id"]] = iid
                row[ti["business_key"]] = business_key
                row[ti["state"]] = "completed"
                row[ti["created_at"]] = started
                row[ti["completed_at"]] = done_at
                row[ti["assignee"]] = None
                if done == "handle" and group:
                    row[ti["candidate_groups"]] = group
                row[ti["due_at"]] = route_due if done in route_steps else due
                task_rows.append(tuple(row))
            groups = [group] if step == "handle" and group else task_tpl[step]["candidate_groups"].split(",")
            task_id = _uuid_text(rng)
            assignee = None
            if rng.random() < 0.1:
                assignee = {"xfk": "xfk2" if rng.random() < 0.5 else "xfk1", "dept_fgw": "fgw1"}.get(groups[0])
            row = task_base[step][:]
            for key, value in (("id", task_id), ("instance_id", iid), ("business_key", business_key),
                               ("state", "open"), ("created_at", next_day), ("completed_at", None),
                               ("completed_by", None), ("candidate_groups", ",".join(groups)),
                               ("assignee", assignee), ("due_at", route_due if step in route_steps else due)):
                row[ti[key]] = value
            task_rows.append(tuple(row))
            task_due = route_due if step in route_steps else due
            for g in groups:
                cand_rows.append((task_id, g, task_due or NO_DUE_DATE, next_day))
                counts[g] = counts.get(g, 0) + 1
        _bulk_insert(svc, Instance.__table__, inst_cols, inst_rows)
        _bulk_insert(svc, InstanceState.__table__, ["instance_id", "state"], state_rows)
        _bulk_insert(svc, HumanTask.__table__, task_cols, task_rows)
        _bulk_insert(svc, TaskCandidate.__table__, ["task_id", "group_key", "due_sort", "created_at"], cand_rows)


def _timed(budget_s: float, minimum: int, wanted: int, calls: list[tuple[str, Callable[[], Any]]]
           ) -> dict[str, list[float]]:
    """Round-robin over `calls` until `wanted` timed calls, or until the time budget is spent once
    every call ran `minimum` times. Milliseconds by name. No warm-up round: the bulk load has just
    filled the page cache, and a slow first call is part of what users see."""
    times: dict[str, list[float]] = {name: [] for name, _fn in calls}
    deadline = time.monotonic() + budget_s
    done = 0
    while done < wanted:
        for name, fn in calls:
            began = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - began) * 1000)
            done += 1
        if time.monotonic() > deadline and min(len(v) for v in times.values()) >= minimum:
            break
    return times


def bench_inbox(url: str, rows: int, calls: int, label: str, full_state: bool = True,
                budget_s: float = 60.0) -> dict[str, Any]:
    from service import queries

    svc = prepare_database(url)
    try:
        _progress(f"inbox ({label}): inserting {rows} instances"
                  + ("" if full_state else " (stub state)"))
        filled = fill_inbox(svc, rows, full_state)
        svc.db.optimize()  # what the running service does hourly (service.timers)
        _progress(f"inbox ({label}): filled in {filled['fill_seconds']:.1f}s; timing queries")
        actors = demo_actors(svc, INBOX_USERS)
        sizes: dict[str, int] = {}

        def inbox_call(user: str) -> Callable[[], Any]:
            def call() -> None:
                with svc.db.read() as session:
                    sizes[user] = len(queries.inbox(session, actors[user]))
            return call

        def list_call(user: str, filters: dict[str, Any]) -> Callable[[], Any]:
            def call() -> None:
                with svc.db.read() as session:
                    queries.instances(session, actors[user], **filters)
            return call

        per_user = _timed(budget_s, 3, calls, [(u, inbox_call(u)) for u in INBOX_USERS])
        inbox_all = [v for values in per_user.values() for v in values]
        _progress(f"inbox ({label}): {len(inbox_all)} inbox calls timed; instance lists next")
        list_times = _timed(budget_s / 2, 2, max(calls // 2, 10 * len(LIST_QUERIES)), [
            (f"{user}:" + ",".join(f"{k}={v}" for k, v in filters.items()), list_call(user, filters))
            for user, filters in LIST_QUERIES])
        list_all = [v for values in list_times.values() for v in values]
        return {
            "inbox_p95_ms": _percentile(inbox_all, 95),
            "inbox_p50_ms": _percentile(inbox_all, 50),
            "inbox_calls": len(inbox_all),
            "inbox_p95_ms_by_user": {u: _round(_percentile(v, 95), 2) for u, v in per_user.items()},
            "inbox_sizes": sizes,
            "instance_list_p95_ms": _percentile(list_all, 95),
            "instance_list_calls": len(list_all),
            "instance_list_p95_ms_by_query": {k: _round(_percentile(v, 95), 2) for k, v in list_times.items()},
            "fill_seconds": filled["fill_seconds"],
            "state_bytes_per_row": filled["state_bytes_per_row"],
            "open_tasks_by_group": filled["open_tasks_by_group"],
        }
    finally:
        svc.db.dispose()
