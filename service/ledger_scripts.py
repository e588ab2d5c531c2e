"""The script helper `ledger_rows(key, period)`: a declared ledger's JSON rows for a period
(`ledger_rows("<ledger key>", "2026-11")`), e.g. for a monthly round that puts last month's table
in front of whoever confirms it.

It reads committed data in a read session of its own on the database of the step that runs the
script (service/script_context.py: SQLite in WAL mode lets it read while the step's write
transaction is open; it does not see that step's own, uncommitted rows). The composition root
(service/bootstrap.py) registers it with the script engine; nothing here names a ledger."""

from __future__ import annotations

from typing import Any

from service import ledgers, script_context
from service.errors import Invalid


def period_of(ledger: ledgers.Ledger, text: Any) -> ledgers.Period:
    """The period `text` names in one of the ledger's period kinds (2026-11, 2026-Q4, 2026)."""
    value = str(text or "").strip()
    for kind in ledger.periods:
        try:
            return ledgers.parse_period({kind: value}, (kind,))
        except Invalid:
            continue
    formats = "、".join(ledgers.PERIOD_NAMES[k] for k in ledger.periods)
    raise ValueError(f"台账 {ledger.key} 的统计期间“{value}”不正确（可按{formats}统计）")


def ledger_rows(key: str, period: str) -> list[dict[str, Any]]:
    """Script helper: the rows of the ledger `key` for `period`, as the JSON API serves them."""
    database = script_context.database()
    if database is None:
        raise RuntimeError("ledger_rows() 只能在流程执行中调用")
    declared, ledger = ledgers.find(str(key))
    wanted = period_of(ledger, period)
    with database.read() as session:
        return ledgers.json_rows(ledger, ledgers.build_rows(session, declared, ledger, wanted))
