"""`govflow rotate-key [--drop-old]`: every sealed value sealed again with a new key (values still
in clear from before sealing too), the old key dropped once no value uses it, the cases still
running and opening; an environment-held ring is printed for the operator; a backup restores only
with the keys it was sealed with."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient, make_app
from sealed_support import SECRETS, checkpoint, clear_in_files, done, run_petition, sqlite_files
from sqlalchemy import create_engine, text

from service import backup, chain_verify, key_rotation, keyring, sealed, search_keys
from service.errors import Invalid
from service.store.db import Database


def rotate(drop_old: bool = False) -> int:
    return key_rotation.main(argparse.Namespace(drop_old=drop_old))


@pytest.fixture
def quick_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "RECHECK_SECONDS", 0.0)  # servers notice a new key file at once


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_reload: None) -> Iterator[Path]:
    path = tmp_path / "govflow.key"
    monkeypatch.delenv("GOVFLOW_KEYS", raising=False)
    monkeypatch.setenv("GOVFLOW_KEY_FILE", str(path))
    keyring.reset()
    yield path
    keyring.reset()


@pytest.fixture
def file_api(key_file: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    """The app on a key file's ring (SQLite and PostgreSQL); `govflow` commands on its database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    app = make_app(db_url)
    yield ApiClient(app)
    app.extensions["govflow"].db.dispose()


def used_keys(url: str) -> dict[str, int]:
    db = Database(url)
    try:
        return dict(key_rotation.usage(db))
    finally:
        db.dispose()


def test_rotation_reseals_everything_then_drops_the_old_key_and_the_cases_go_on(
        file_api: ApiClient, key_file: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    iid = run_petition(file_api)
    old = keyring.current().id
    assert set(used_keys(db_url)) == {old}

    assert rotate() == 0
    new = keyring.current().id
    assert new != old and [k["id"] for k in json.loads(key_file.read_text())["keys"]] == [new, old]
    assert set(used_keys(db_url)) == {new}
    assert "已生成新的数据密钥" in capsys.readouterr().out

    assert rotate(drop_old=True) == 0
    assert f"已从密钥文件删除不再使用的旧密钥：{old}" in capsys.readouterr().out
    assert [k["id"] for k in json.loads(key_file.read_text())["keys"]] == [new]
    assert chain_verify.main(argparse.Namespace()) == 0  # re-sealing changed no clear value the chain covers
    keyring.reset()
    # the case opens and runs on under the new key alone
    assert file_api.instance("xfk1", iid)["data"]["petitioner_phone"] == PETITION["petitioner_phone"]
    done(file_api, "fgw1", iid, "handle", {"outcome": "done", "result": "已督促企业支付工资"})
    assert set(used_keys(db_url)) == {new}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_old_database_in_clear_keeps_working_and_rotation_seals_it(
        file_api: ApiClient, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_url = db_url
    with monkeypatch.context() as before_sealing:  # the database as an older GovFlow wrote it
        before_sealing.setattr(sealed, "seal", lambda value, key=None: value)
        before_sealing.setattr(sealed, "seal_bytes", lambda value, key=None: value)
        iid = run_petition(file_api)
    engine = create_engine(sqlite_url)
    legacy = hashlib.sha256(f"petition:{PETITION['petitioner_id_number']}".encode()).hexdigest()
    with engine.begin() as conn:
        conn.execute(text("UPDATE instances SET match_hash = :h WHERE id = :i"), {"h": legacy, "i": iid})
    assert used_keys(sqlite_url).get("", 0) > 0
    checkpoint(sqlite_url)
    assert clear_in_files(sqlite_files(sqlite_url), SECRETS)  # in clear, as it was

    assert file_api.instance("xfk1", iid)["data"]["petitioner_id_number"] == PETITION["petitioner_id_number"]
    second = file_api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()
    assert file_api.instance("xfk1", second["id"])["data"]["duplicate_of"] == file_api.instance(
        "xfk1", iid)["business_key"]  # the unkeyed hash still matches

    assert rotate(drop_old=True) == 0
    assert set(used_keys(sqlite_url)) == {keyring.current().id}
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT match_hash FROM instances WHERE id = :i"), {"i": iid}).scalar()
    engine.dispose()
    assert stored == search_keys.match_digest("petition", PETITION["petitioner_id_number"])
    assert clear_in_files(sqlite_files(sqlite_url), SECRETS) == {}  # nor left in free pages or the WAL
    done(file_api, "fgw1", iid, "handle", {"outcome": "done", "result": "已督促企业支付工资"})


def test_an_environment_ring_is_printed_for_the_operator_then_resealed_with_its_first_key(
        sqlite_api: ApiClient, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, quick_reload: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    run_petition(sqlite_api)
    assert rotate() == 0
    out = capsys.readouterr().out
    assert "密钥环来自环境变量 GOVFLOW_KEYS，本命令无法修改它" in out
    printed = out[out.index("{"):out.rindex("}") + 1]
    ring = keyring.parse(printed, "输出")
    assert [k.id for k in ring.keys][1:] == ["ktest1"] and set(used_keys(sqlite_url)) == {"ktest1"}

    monkeypatch.setenv("GOVFLOW_KEYS", printed)  # the operator sets it on every node
    keyring.reset()
    try:
        assert rotate(drop_old=True) == 0
        out = capsys.readouterr().out
        assert set(used_keys(sqlite_url)) == {ring.current.id}
        assert "已删除不再使用的密钥 ktest1" in out
        pruned = keyring.parse(out[out.index("{"):out.rindex("}") + 1], "输出")
        assert [k.id for k in pruned.keys] == [ring.current.id] and pruned.chain_key == ring.chain_key
    finally:
        keyring.reset()


def test_a_backup_restores_only_with_the_keys_it_was_sealed_with(
        sqlite_api: ApiClient, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_petition(sqlite_api)
    made = backup.backup(sqlite_url, tmp_path / "backups")
    assert made.manifest["keys"]["key_ids"] == ["ktest1"] and "key" not in json.dumps(made.manifest["keys"]).replace(
        "key_ids", "").replace("chain_key_id", "")
    other: dict[str, Any] = {"chain_key": "c4" * 32, "keys": [{"id": "kother", "key": "11" * 16}]}
    monkeypatch.setenv("GOVFLOW_KEYS", json.dumps(other))
    keyring.reset()
    try:
        with pytest.raises(Invalid) as caught:
            backup.restore(made.path, f"sqlite:///{tmp_path}/restored.db")
    finally:
        keyring.reset()
    assert "备份中的个人信息由密钥 ktest1 加密，当前密钥环（环境变量 GOVFLOW_KEYS）中没有这些密钥" in caught.value.message
    assert not (tmp_path / "restored.db").exists()
