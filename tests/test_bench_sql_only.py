"""The bench's SQL-only figure (bench/round_floor.py) replays exactly what a round wrote: the
statements recorded while the service drove one screening round, replayed alone on a copy of the
database taken before it, leave the copy with the same rows as the service left the original —
so the time it reports is the time of that round's SQL, not of some other work."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from conftest import pin_clock

# The tables a round writes (the case, its state, tasks, candidates, history chain, notices,
# the board's read rows, the case's handling groups).
WRITTEN = ("instances", "instance_states", "human_tasks", "task_candidates", "history", "notices",
           "read_rows", "instance_groups", "sequences")


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def test_replayed_sql_of_a_round_writes_the_same_rows_as_the_service(tmp_path: Path) -> None:
    from bench.round_floor import _copy, _replay, _traced
    from bench.round_phase import DEPARTMENTS, _actors, _add_departments, _zzb, drive_round, prepare_database
    from service import clock

    pin_clock(clock.parse_datetime("2026-12-01T09:00:00+08:00"))
    path = tmp_path / "round.db"
    svc = prepare_database(f"sqlite:///{path}")
    try:
        keys = _add_departments(svc)
        actors, zzb = _actors(keys), _zzb(svc)[0]
        drive_round(svc.runtime, zzb, actors, 0)  # warm-up, as the bench does
        copy = tmp_path / "copy.db"
        _copy(path, copy)
        with _traced([svc.db.engine, svc.db.read_engine]) as statements:
            drive_round(svc.runtime, zzb, actors, 1)
        recorded = list(statements)
    finally:
        svc.db.dispose()
    # one write transaction per step: the start, each department's report, 研判, 会议
    assert sum(1 for _key, sql in recorded if sql == "BEGIN IMMEDIATE") == DEPARTMENTS + 3
    assert _replay(copy, recorded) > 0
    for table in WRITTEN:
        assert _rows(copy, table) == _rows(path, table), table
