"""防篡改 (issue 14 item 3): every history and audit row carries a keyed HMAC-SM3 hash chained to
the row before it; `govflow verify` walks each case's chain and the audit log's and names the
first row that was changed, deleted or inserted behind the application's back (plain SQL here)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import PETITION, ApiClient, done
from sqlalchemy import text

from service import audit, chain_verify, hash_chain
from service.store.models import History


def _db(api: ApiClient) -> Any:
    return api.app.extensions["govflow"].db


def _tamper(api: ApiClient, sql: str, **params: Any) -> None:
    """A change made straight in the database, past the application, by someone who may also
    lift the history's append-only triggers (migration 0001): the chain still tells."""
    with _db(api).engine.begin() as conn:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql:
            conn.execute(text("ALTER TABLE history DISABLE TRIGGER history_no_change"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS history_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS history_no_delete"))
        conn.execute(text(sql), params)
        if postgresql:
            conn.execute(text("ALTER TABLE history ENABLE TRIGGER history_no_change"))


def _case(api: ApiClient) -> tuple[int, str]:
    """A petition registered, classified, claimed (an ORM row) and proposed: several history rows."""
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.status_code == 201, r.get_json()
    iid, key = int(r.get_json()["id"]), r.get_json()["business_key"]
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    task = api.task("xfk1", iid, "propose")
    assert api.post("xfk1", f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    return iid, key


def _rows(api: ApiClient, iid: int) -> list[tuple[int, int, str]]:
    with _db(api).engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, seq, action FROM history WHERE instance_id = :id ORDER BY seq"), {"id": iid})]


def _only_problem(api: ApiClient) -> chain_verify.Problem:
    result = chain_verify.verify(_db(api))
    assert not result.ok and len(result.problems) == 1, result.problems
    return result.problems[0]


def test_the_rows_of_a_case_are_numbered_in_one_chain_and_verify_passes(api: ApiClient) -> None:
    iid, _key = _case(api)
    rows = _rows(api, iid)
    assert [seq for _id, seq, _a in rows] == list(range(1, len(rows) + 1))
    assert [a for _id, _s, a in rows] == ["start", "complete", "claim", "complete"]
    result = chain_verify.verify(_db(api))
    assert result.ok, result.problems
    assert result.rows >= len(rows) and result.chains >= 2  # the case's and the audit log's


def test_a_row_edited_behind_the_applications_back_is_named_changed(api: ApiClient) -> None:
    iid, key = _case(api)
    other, _ = _case(api)
    changed_id = _rows(api, iid)[1][0]
    _tamper(api, "UPDATE history SET username = 'zr' WHERE id = :id", id=changed_id)
    problem = _only_problem(api)
    assert (problem.kind, problem.row_id, problem.seq, problem.business_key) == ("changed", changed_id, 2, key)
    assert problem.message == f"案件 {key}（#{iid}）：历史记录 #{changed_id}（第 2 条）被修改：内容与其哈希不符"
    assert other != iid


def test_a_changed_moment_is_found_too(api: ApiClient) -> None:
    iid, key = _case(api)
    first = _rows(api, iid)[0][0]
    with _db(api).write() as session:
        row = session.get(History, first)
        at = row.at
    from datetime import timedelta

    _tamper(api, "UPDATE history SET at = :at WHERE id = :id", id=first, at=at + timedelta(seconds=1))
    problem = _only_problem(api)
    assert (problem.kind, problem.row_id, problem.seq) == ("changed", first, 1)


def test_a_deleted_middle_row_is_named_deleted(api: ApiClient) -> None:
    iid, key = _case(api)
    rows = _rows(api, iid)
    _tamper(api, "DELETE FROM history WHERE id = :id", id=rows[2][0])
    problem = _only_problem(api)
    assert (problem.kind, problem.seq, problem.row_id) == ("deleted", 3, None)
    assert problem.message == (f"案件 {key}（#{iid}）：第 3 条历史记录被删除（位于#{rows[1][0]} 与 #{rows[3][0]} 之间）")


def test_a_deleted_last_row_is_named_deleted(api: ApiClient) -> None:
    iid, key = _case(api)
    rows = _rows(api, iid)
    _tamper(api, "DELETE FROM history WHERE id = :id", id=rows[-1][0])
    problem = _only_problem(api)
    assert (problem.kind, problem.seq) == ("deleted", 4)
    assert problem.message == (f"案件 {key}（#{iid}）：最后的第 4 条历史记录被删除（#{rows[2][0]} 之后；链头记录共 4 条）")


def test_a_deleted_last_row_with_the_count_rolled_back_is_still_found(api: ApiClient) -> None:
    """The head's link is keyed: setting the count back to the row before does not hide it."""
    iid, key = _case(api)
    rows = _rows(api, iid)
    _tamper(api, "DELETE FROM history WHERE id = :id", id=rows[-1][0])
    _tamper(api, "UPDATE instances SET history_seq = 3, history_head = "
                 "(SELECT row_hash FROM history WHERE id = :prev) WHERE id = :iid", prev=rows[2][0], iid=iid)
    problem = _only_problem(api)
    assert (problem.kind, problem.seq, problem.business_key) == ("head", 3, key)
    assert "其后的记录被删除，或链头被改动" in problem.message


def test_a_row_inserted_behind_the_applications_back_is_named_inserted(api: ApiClient) -> None:
    iid, key = _case(api)
    _tamper(api, "INSERT INTO history (instance_id, at, username, action, comment) "
                 "VALUES (:iid, '2026-12-01 10:00:00', 'bgs', 'complete', '已批准')", iid=iid)
    inserted = max(r[0] for r in _rows(api, iid))
    problem = _only_problem(api)
    assert (problem.kind, problem.row_id, problem.seq) == ("inserted", inserted, None)
    assert problem.message == (f"案件 {key}（#{iid}）：历史记录 #{inserted} 被插入：没有链序号或哈希（不是本系统写入的）")


def test_a_row_inserted_with_a_number_past_the_head_is_named_inserted(api: ApiClient) -> None:
    iid, _key = _case(api)
    rows = _rows(api, iid)
    _tamper(api, "INSERT INTO history (instance_id, at, username, action, seq, row_hash) "
                 "SELECT instance_id, at, username, action, 5, row_hash FROM history WHERE id = :id", id=rows[-1][0])
    problem = _only_problem(api)
    assert (problem.kind, problem.seq) == ("inserted", 5)
    assert "链头只记录到第 4 条" in problem.message


def test_a_row_inserted_in_the_middle_and_the_rest_renumbered_is_named_inserted(api: ApiClient) -> None:
    iid, _key = _case(api)
    rows = _rows(api, iid)
    for row_id, seq, _action in reversed(rows[2:]):
        _tamper(api, "UPDATE history SET seq = :s WHERE id = :id", s=seq + 1, id=row_id)
    _tamper(api, "INSERT INTO history (instance_id, at, username, action, seq, row_hash) "
                 "SELECT instance_id, at, username, action, 3, row_hash FROM history WHERE id = :id", id=rows[1][0])
    _tamper(api, "UPDATE instances SET history_seq = 5 WHERE id = :iid", iid=iid)
    inserted = max(r[0] for r in _rows(api, iid))
    problem = _only_problem(api)
    assert (problem.kind, problem.row_id, problem.seq) == ("inserted", inserted, 3)


def test_the_command_prints_a_chinese_summary_and_exits_1_naming_the_row(api: ApiClient, db_url: str,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    iid, key = _case(api)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert chain_verify.main(None) == 0
    assert "哈希链校验通过" in capsys.readouterr().out
    changed_id = _rows(api, iid)[0][0]
    _tamper(api, "UPDATE history SET data_after = '{}' WHERE id = :id", id=changed_id)
    assert chain_verify.main(None) == 1
    out = capsys.readouterr().out
    assert "哈希链校验未通过" in out and f"案件 {key}（#{iid}）：历史记录 #{changed_id}（第 1 条）被修改" in out


# ----- the audit log ----------------------------------------------------------------------------


def _audit_rows(api: ApiClient, n: int = 4) -> list[tuple[int, int]]:
    for i in range(n):
        with _db(api).write() as session:
            audit.record(session, audit.SETTING, target=f"test.key{i}", detail=f"改为 {i}", username="admin")
    with _db(api).engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT id, seq FROM audit_log ORDER BY seq"))]


def test_audit_rows_are_one_chain(api: ApiClient) -> None:
    rows = _audit_rows(api)
    assert [seq for _id, seq in rows] == list(range(1, len(rows) + 1))
    assert chain_verify.verify(_db(api)).ok


def test_an_edited_audit_row_is_named_changed(api: ApiClient) -> None:
    rows = _audit_rows(api)
    row_id, seq = rows[-2]
    _tamper(api, "UPDATE audit_log SET result = 'failure' WHERE id = :id", id=row_id)
    problem = _only_problem(api)
    assert (problem.chain, problem.kind, problem.row_id, problem.seq) == ("audit", "changed", row_id, seq)
    assert problem.message == f"审计日志：审计记录 #{row_id}（第 {seq} 条）被修改：内容与其哈希不符"


def test_a_deleted_audit_row_is_named_deleted_middle_and_last(api: ApiClient) -> None:
    rows = _audit_rows(api)
    _tamper(api, "DELETE FROM audit_log WHERE id = :id", id=rows[-1][0])
    problem = _only_problem(api)
    assert (problem.chain, problem.kind, problem.seq) == ("audit", "deleted", rows[-1][1])
    _tamper(api, "DELETE FROM audit_log WHERE id = :id", id=rows[1][0])
    problem = _only_problem(api)
    assert (problem.kind, problem.seq) == ("deleted", rows[1][1])
    assert "审计记录被删除" in problem.message


def test_an_inserted_audit_row_is_named_inserted(api: ApiClient) -> None:
    _audit_rows(api)
    _tamper(api, "INSERT INTO audit_log (at, username, kind, detail, result) "
                 "VALUES ('2026-12-01 10:00:00', 'admin', 'login', '', 'success')")
    problem = _only_problem(api)
    assert (problem.chain, problem.kind) == ("audit", "inserted")


def test_pruned_audit_rows_marked_as_pruned_are_no_deletion(api: ApiClient) -> None:
    rows = _audit_rows(api)
    with _db(api).write() as session:
        hash_chain.mark_audit_pruned(session, rows[1][1])
        session.execute(text("DELETE FROM audit_log WHERE seq <= :s"), {"s": rows[1][1]})
    assert chain_verify.verify(_db(api)).ok
    _tamper(api, "DELETE FROM audit_log WHERE id = :id", id=rows[2][0])  # the oldest kept row
    problem = _only_problem(api)
    assert (problem.chain, problem.kind, problem.seq) == ("audit", "deleted", rows[2][1])
