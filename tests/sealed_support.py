"""Shared by the tests/test_sealed_*.py: a petition and a dispute case run end to end with
distinctive personal data, and finders of that data in clear in a SQLite file or PostgreSQL rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import PETITION, ApiClient
from sqlalchemy import create_engine, inspect, text

from service import clock

ID_NUMBER = PETITION["petitioner_id_number"]
PHONE = PETITION["petitioner_phone"]
ADDRESS = PETITION["petitioner_address"]
PARTIES = "欧阳明辉、司马秀英"  # a dispute's parties
# What must never be stored in clear (the parties' names are checked where they are sealed too).
SECRETS = {"身份证号": ID_NUMBER, "电话": PHONE, "地址": ADDRESS}


def done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def run_petition(api: ApiClient) -> int:
    """A petition down the dept route to 答复, its ladder fired, a reminder and 复查 window too."""
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    steps = [
        ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
        ("xfk1", "propose", {"proposal": "建议交法制工作委员会办理"}),
        ("bgs", "leader_sign", {"decision": "approve"}),
        ("msz", "sg_approve", {"decision": "approve"}),
    ]
    for user, bpmn_id, form in steps:
        done(api, user, iid, bpmn_id, form)
    fire_after(api, days=70)  # the 督办 ladder: reminders, urges, reports
    return iid


def run_dispute(api: ApiClient) -> int:
    case = {"parties": PARTIES, "type": "土地纠纷", "place": "临翔区忙畔街道某村",
            "summary": "两户村民因承包地边界发生争执", "risk": "重大"}
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": case})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    done(api, "zzb1", iid, "assign", {"handling_group": "dept_fgw", "basis": "归口管理"})
    done(api, "fgw1", iid, "handle", {"result": "已组织双方调解", "resolved": True})
    fire_after(api, days=40)
    return iid


def fire_after(api: ApiClient, days: int) -> None:
    runtime = api.app.extensions["govflow"].runtime
    for _ in range(days):
        clock.advance(timedelta(days=1))
        runtime.fire_due_timers()


def sqlite_files(url: str) -> list[Path]:
    path = Path(url.removeprefix("sqlite:///"))
    return [p for p in (path, Path(f"{path}-wal")) if p.exists()]


def clear_in_files(files: list[Path], values: dict[str, str]) -> dict[str, list[str]]:
    """label → names of the files holding the value in clear (UTF-8)."""
    found: dict[str, list[str]] = {}
    blobs = {p.name: p.read_bytes() for p in files}
    for label, value in values.items():
        hits = [name for name, blob in blobs.items() if value.encode() in blob]
        if hits:
            found[label] = hits
    return found


def clear_in_rows(url: str, values: dict[str, str]) -> dict[str, list[str]]:
    """label → "table.column" of every text column holding the value in clear."""
    engine = create_engine(url)
    found: dict[str, list[str]] = {}
    try:
        insp = inspect(engine)
        with engine.connect() as conn:
            for table in insp.get_table_names():
                for column in insp.get_columns(table):
                    for label, value in values.items():
                        hit = conn.execute(text(f'SELECT 1 FROM "{table}" WHERE CAST("{column["name"]}" AS TEXT) '
                                                "LIKE :v LIMIT 1"), {"v": f"%{value}%"}).first()
                        if hit:
                            found.setdefault(label, []).append(f"{table}.{column['name']}")
    finally:
        engine.dispose()
    return found


def checkpoint(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
