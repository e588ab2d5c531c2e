"""What a running engine step lends its diagram's scripts beyond the case data: the keys of the
groups that exist now (`group_keys(prefix)`, e.g. a screening round's reporting departments) and
the database the step runs on, for helpers that read committed tables (`ledger_rows`).

The runtime provides the source around each engine run (service/runtime/step.py `_run`), as it
provides the outbox of `notify`; this module imports nothing of the runtime, so the script
helper can be registered by the composition root (service/bootstrap.py) without a cycle."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

GroupSource = Callable[[], Iterable[str]]

_groups: contextvars.ContextVar[GroupSource | None] = contextvars.ContextVar("govflow_group_keys", default=None)
_database: contextvars.ContextVar[Any] = contextvars.ContextVar("govflow_script_database", default=None)


@contextmanager
def providing(source: GroupSource, database: Any = None) -> Iterator[None]:
    """Let the scripts run inside this block read the group keys from `source` (and, through
    helpers, the committed tables of `database`)."""
    token, db_token = _groups.set(source), _database.set(database)
    try:
        yield
    finally:
        _groups.reset(token)
        _database.reset(db_token)


def database() -> Any:
    """The database of the step running now (None outside a step)."""
    return _database.get()


def group_keys(prefix: str = "") -> list[str]:
    """Script helper: the sorted keys of the current groups, those starting with `prefix` only
    if one is given (read when called, so a group added since the last step is included)."""
    source = _groups.get()
    if source is None:
        raise RuntimeError("group_keys() 只能在流程执行中调用")
    if not isinstance(prefix, str):
        raise ValueError("group_keys() 的前缀必须是文本")
    return sorted(k for k in source() if isinstance(k, str) and k.startswith(prefix))
