"""The searchable personal fields of a case (`Procedure.search_keys`, e.g. the petitioner's name
and ID number), kept as keyed hashes in `case_search_keys`.

A value is normalised (Unicode NFKC, so full-width digits match; whitespace collapsed; upper
case, so an ID number's final x matches X) and stored only as HMAC-SHA256 under the
installation's secret (SECRET_KEY): the table alone cannot be matched against a list of guessed
ID numbers, which a plain hash of so small a space could. The runtime writes the rows in the
step's own transaction (service/readmodels.py calls `write_step` for every step's history
rows); `rebuild` restores them from the history (`govflow rebuild-read-models`, also after the
secret changed)."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select

from service import procedure
from service.store.models import History, Instance
from service.store.search_models import CaseSearchKey

# The history actions whose data is the case's own (a message's payload lands under
# `<name>_data`, so its keys are not the case's keys).
DATA_ACTIONS = ("start", "complete")
MODEL_NAME = "search_keys"  # its name for `govflow rebuild-read-models --model`

_secret: bytes | None = None

_UPSERT = ("INSERT INTO case_search_keys (instance_id, key, value_hash) VALUES (:id, :key, :hash) "
           "ON CONFLICT (instance_id, key) DO UPDATE SET value_hash = excluded.value_hash")
_REMOVE = "DELETE FROM case_search_keys WHERE instance_id = :id AND key = :key"


def configure(secret: str) -> None:
    """Set the key of the hashes (the composition root passes the installation's SECRET_KEY)."""
    global _secret
    _secret = secret.encode()


def _key() -> bytes:
    if _secret is None:  # a runtime built without the bootstrap: the installation's own secret
        from service.config import Settings

        configure(Settings().secret_key)
    assert _secret is not None
    return _secret


def normalise(value: Any) -> str:
    """What two spellings of one value have in common: NFKC, whitespace collapsed, upper case."""
    if not isinstance(value, str):
        return ""
    return " ".join(unicodedata.normalize("NFKC", value).split()).upper()


def digest(process_key: str, key: str, value: Any) -> str | None:
    """The stored hash of a value of `key` in a case of `process_key` (None for no value)."""
    text = normalise(value)
    if not text:
        return None
    message = f"{process_key}\0{key}\0{text}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def match_digest(process_key: str, value: Any) -> str | None:
    """The stored hash of a case's duplicate key (`Procedure.duplicate_key`, instances.match_hash):
    keyed like the search hashes, so the column cannot be matched against guessed ID numbers."""
    return digest(process_key, "\0duplicate", value)


def searchable(process_key: str) -> Mapping[str, str]:
    declared = procedure.get(process_key)
    return declared.search_keys if declared is not None else {}


def latest_values(keys: Iterable[str], rows: Iterable[tuple[str | None, str | None]]) -> dict[str, Any]:
    """Each key's last value in (action, data_after) rows, oldest first."""
    wanted = tuple(keys)
    found: dict[str, Any] = {}
    for action, raw in rows:
        if action not in DATA_ACTIONS or not raw or not any(f'"{k}"' in raw for k in wanted):
            continue
        data = json.loads(raw)
        if isinstance(data, dict):
            found.update({k: data[k] for k in wanted if k in data})
    return found


def write_step(sql: Any, tx: Any, case: Any, new_rows: list[dict[str, Any]]) -> None:
    """Bring the case's rows in line with what its step just recorded (a start, or a step whose
    form changes one of the keys); nothing at all for a procedure that declares none."""
    keys = searchable(case.process_key)
    if not keys or not new_rows:
        return
    for key, value in latest_values(keys, ((r.get("action"), r.get("data_after")) for r in new_rows)).items():
        hashed = digest(case.process_key, key, value)
        if hashed is None:
            sql.run(tx, _REMOVE, {"id": case.id, "key": key})
        else:
            sql.run(tx, _UPSERT, {"id": case.id, "key": key, "hash": hashed})


def rebuild(db: Any) -> int:
    """Drop and recompute every case's rows from the history (one transaction); returns how
    many rows there are afterwards."""
    processes = [p.key for p in procedure.registry() if p.search_keys]
    count = 0
    with db.write() as session:
        session.execute(delete(CaseSearchKey))
        for process_key in processes:
            keys = searchable(process_key)
            for instance_id in session.scalars(select(Instance.id).where(Instance.process_key == process_key)
                                               .order_by(Instance.id)):
                history = session.execute(select(History.action, History.data_after)
                                          .where(History.instance_id == instance_id).order_by(History.id))
                for key, value in latest_values(keys, history.all()).items():
                    hashed = digest(process_key, key, value)
                    if hashed is not None:
                        session.add(CaseSearchKey(instance_id=instance_id, key=key, value_hash=hashed))
                        count += 1
    return count
