"""`govflow verify`: walk every hash chain (each case's history, the audit log) and name the first
row of a broken chain that was changed, deleted or inserted behind the application's back.

Each chain is walked in `seq` order from its start (a case's: nothing; the audit log's: its tail,
after the rows pruned past their keeping period) to its head (service/hash_chain.py): a row whose
hash does not match its values was changed; a gap in the numbers, or fewer rows than the head
counts, is a deletion; a row without a number, a duplicate number, a number past the head, or a
row numbered before rows written earlier (its id says it came later), an insertion."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text

from service import hash_chain
from service.store.models import History

CHANGED, DELETED, INSERTED, HEAD = "changed", "deleted", "inserted", "head"
KIND_LABELS = {CHANGED: "被修改", DELETED: "被删除", INSERTED: "被插入", HEAD: "链头被改动"}
CASES_PER_READ = 500


@dataclass(frozen=True)
class Problem:
    """The first broken place of one chain."""

    chain: str  # "history" or "audit"
    label: str  # 案件 XF-2026-000001 / 审计日志
    kind: str  # changed, deleted, inserted, head
    message: str  # in Chinese, naming the row
    row_id: int | None = None  # the history (audit) row's id, when a row is named
    seq: int | None = None  # its place in the chain (for a deletion: the first missing place)
    business_key: str | None = None
    instance_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"chain": self.chain, "label": self.label, "kind": self.kind, "message": self.message,
                "row_id": self.row_id, "seq": self.seq, "business_key": self.business_key,
                "instance_id": self.instance_id}


@dataclass
class Result:
    chains: int = 0
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"哈希链校验通过：共 {self.chains} 条链、{self.rows} 行记录，均未发现修改、删除或插入。"
        return (f"哈希链校验未通过：共 {self.chains} 条链、{self.rows} 行记录，"
                f"{len(self.problems)} 条链有问题（每条链列出第一处）：")

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "chains": self.chains, "rows": self.rows,
                "problems": [p.to_json() for p in self.problems]}


# ----- one chain --------------------------------------------------------------------------------


def walk(rows: Sequence[dict[str, Any]], start: hash_chain.Head, end: hash_chain.Head, wall: bool,
         name: str) -> tuple[str, str, int | None, int | None] | None:
    """The first problem of one chain's rows (kind, message, row id, seq), or None. `name` is what
    a row is called in the message (历史记录, 审计记录)."""
    ordered = sorted(rows, key=lambda r: (r["seq"] is None, r["seq"] or 0, r["id"]))
    expected, link = start[0] + 1, start[1]
    previous: dict[str, Any] | None = None
    for i, row in enumerate(ordered):
        seq, stored, rid = row["seq"], row["row_hash"], row["id"]
        if seq is None or stored is None:
            return INSERTED, f"{name} #{rid} 被插入：没有链序号或哈希（不是本系统写入的）", rid, seq
        if seq < expected:
            return INSERTED, f"{name} #{rid}（第 {seq} 条）被插入：与 #{previous and previous['id']} 序号重复", rid, seq
        if seq > end[0]:
            return INSERTED, f"{name} #{rid}（第 {seq} 条）被插入：链头只记录到第 {end[0]} 条", rid, seq
        if seq > expected:
            span = f"第 {expected} 条" if seq == expected + 1 else f"第 {expected}–{seq - 1} 条"
            where = f"#{previous['id']} 与 #{rid} 之间" if previous else f"#{rid} 之前"
            return DELETED, f"{span}{name}被删除（位于{where}）", None, expected
        if hash_chain.row_hash(link, row, wall) != stored:
            following = ordered[i + 1] if i + 1 < len(ordered) else None
            if following is not None and following["id"] < rid:
                return INSERTED, f"{name} #{rid}（第 {seq} 条）被插入：排在先写入的 #{following['id']} 之前", rid, seq
            return CHANGED, f"{name} #{rid}（第 {seq} 条）被修改：内容与其哈希不符", rid, seq
        link, expected, previous = hash_chain.link_after(stored), expected + 1, row
    if expected <= end[0]:
        span = f"第 {expected} 条" if expected == end[0] else f"第 {expected}–{end[0]} 条"
        last = f"#{previous['id']} 之后" if previous else "全部"
        return DELETED, f"最后的{span}{name}被删除（{last}；链头记录共 {end[0]} 条）", None, expected
    if link != end[1]:
        return HEAD, f"链头与最后一条{name}不符：其后的记录被删除，或链头被改动", None, end[0]
    return None


# ----- every chain ------------------------------------------------------------------------------


def _history_rows(session: Any, case_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The cases' history rows with their clear values (sealed columns opened by their type)."""
    table = History.__table__
    found: dict[int, list[dict[str, Any]]] = {cid: [] for cid in case_ids}
    for row in session.execute(select(table).where(table.c.instance_id.in_(case_ids))).mappings():
        found[int(row["instance_id"])].append(dict(row))
    return found


def _cases(session: Any) -> Iterator[list[tuple[Any, ...]]]:
    last = 0
    while True:
        batch = [tuple(r) for r in session.execute(text(
            "SELECT id, business_key, history_seq, history_head FROM instances WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": CASES_PER_READ})]
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def verify_history(session: Any, result: Result, wall: bool) -> None:
    for batch in _cases(session):
        rows = _history_rows(session, [c[0] for c in batch])
        for case_id, business_key, seq, head in batch:
            case_rows = rows[case_id]
            result.chains += 1
            result.rows += len(case_rows)
            found = walk(case_rows, hash_chain.EMPTY, (int(seq or 0), head), wall, "历史记录")
            if found is not None:
                kind, message, row_id, at = found
                label = f"案件 {business_key}（#{case_id}）"
                result.problems.append(Problem("history", label, kind, f"{label}：{message}", row_id, at,
                                               business_key, case_id))


def verify_audit(session: Any, result: Result, wall: bool) -> None:
    from sqlalchemy import inspect as inspect_db

    if not inspect_db(session.connection()).has_table("audit_log"):
        return
    from service.store.audit_models import AuditRow

    table = AuditRow.__table__
    rows = [dict(r) for r in session.execute(select(table)).mappings()]
    heads = session.execute(text("SELECT seq, head, tail_seq, tail_head FROM chain_heads WHERE name = :name"),
                            {"name": hash_chain.AUDIT}).all()
    seq, head, tail_seq, tail_head = heads[0] if heads else (0, None, 0, None)
    result.chains += 1
    result.rows += len(rows)
    found = walk(rows, (int(tail_seq or 0), tail_head), (int(seq or 0), head), wall, "审计记录")
    if found is not None:
        kind, message, row_id, at = found
        result.problems.append(Problem("audit", "审计日志", kind, f"审计日志：{message}", row_id, at))


def verify(db: Any) -> Result:
    """Walk every chain of the database (`db` a service.store.db.Database)."""
    result = Result()
    with db.read() as session:
        wall = session.connection().dialect.name != "postgresql"
        verify_history(session, result, wall)
        verify_audit(session, result, wall)
    return result


def main(args: argparse.Namespace | None = None) -> int:
    """`govflow verify`: 0 when every chain is whole, 1 naming the first broken row of each chain."""
    from service.config import Settings
    from service.store.db import Database

    db = Database(Settings().database_url)
    try:
        result = verify(db)
    finally:
        db.dispose()
    print(result.summary())
    for problem in result.problems:
        print(f"  - {problem.message}")
    if not result.ok:
        print("请核对备份或数据库日志，查明改动记录的来源。", file=sys.stderr)
    return 0 if result.ok else 1
