"""防篡改: every writer of history keeps one chain per case — steps, timer firings, ORM rows (claims,
urges) and hand-written rows — also when they write the same case at the same time (PostgreSQL:
the instance row's lock; SQLite: BEGIN IMMEDIATE), and a database of the previous version is
chained by migration 0022 so `govflow verify` passes right after the upgrade."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import PETITION, ApiClient, done
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from test_petition_ladder import advance_past, plus, to_handle

from service import chain_verify, clock, hash_chain
from service.store.models import History

WRITES_PER_THREAD = 12


def _db(api: ApiClient) -> Any:
    return api.app.extensions["govflow"].db


def _seqs(api: ApiClient, iid: int) -> list[int]:
    with _db(api).engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT seq FROM history WHERE instance_id = :id ORDER BY seq"),
                                           {"id": iid})]


def test_writers_of_one_case_at_the_same_time_keep_one_chain(api: ApiClient) -> None:
    db = _db(api)
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = int(r.get_json()["id"])
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def orm_rows() -> None:  # like 催办: a History object added to a session
        barrier.wait()
        for n in range(WRITES_PER_THREAD):
            with db.write() as session:
                session.add(History(instance_id=iid, at=clock.now(), username="msz", action="urge", comment=f"催办 {n}"))

    def raw_rows() -> None:  # like an upload's row: through the funnel, the head locked and read
        barrier.wait()
        for n in range(WRITES_PER_THREAD):
            with db.raw() as tx:
                hash_chain.write_history(db.sql, tx, [{"instance_id": iid, "at": clock.now(), "username": "xfk1",
                                                       "action": "attach", "comment": f"附件 {n}"}])

    def guarded(work: Any) -> Any:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(w)) for w in (orm_rows, orm_rows, raw_rows, raw_rows)]
    for t in threads:
        t.start()
    barrier.wait()
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    for t in threads:
        t.join()
    assert not errors, errors
    seqs = _seqs(api, iid)
    assert seqs == list(range(1, 4 * WRITES_PER_THREAD + 4))  # start, two steps, the threads' rows
    result = chain_verify.verify(db)
    assert result.ok, result.problems


def test_timer_firings_and_their_notices_are_chained(api: ApiClient) -> None:
    iid, _key, due = to_handle(api)
    assert advance_past(api, plus(due, 7)) >= 1  # the ladder's rungs in one step, their notices, 书面汇报
    seqs = _seqs(api, iid)
    assert len(seqs) > 8 and seqs == list(range(1, len(seqs) + 1))
    result = chain_verify.verify(_db(api))
    assert result.ok, result.problems


def test_migration_0022_chains_the_rows_of_an_existing_database(api: ApiClient, db_url: str) -> None:
    from migration_steps import move_to

    db = _db(api)
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = int(r.get_json()["id"])
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    count = len(_seqs(api, iid))
    move_to(db, db_url, "0021", down=True)  # the previous version: no chain columns
    move_to(db, db_url, "head")
    assert _seqs(api, iid) == list(range(1, count + 1))
    result = chain_verify.verify(db)
    assert result.ok, result.problems
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:  # 0001's triggers are back
        conn.execute(text("DELETE FROM history WHERE instance_id = :id"), {"id": iid})
