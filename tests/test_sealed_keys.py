"""The keyring (service/keyring.py) and the envelope (service/sealed.py): keys from the environment
or a 0600 key file made on first use, never from the database; a malformed key file, a missing
or a wrong key give a clear Chinese error; values in clear (old databases) open unchanged."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import keyring, sealed
from service.keyring import KeyringError


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The ring from a key file of this test (the suite's GOVFLOW_KEYS lifted)."""
    path = tmp_path / "instance" / "govflow.key"
    monkeypatch.delenv("GOVFLOW_KEYS", raising=False)
    monkeypatch.setenv("GOVFLOW_KEY_FILE", str(path))
    keyring.reset()
    yield path
    keyring.reset()


def test_a_first_start_creates_the_key_file_with_mode_0600_and_an_sm4_key(key_file: Path) -> None:
    assert not key_file.exists()
    ring = keyring.configure()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    body = json.loads(key_file.read_text())
    assert [k["id"] for k in body["keys"]] == [ring.current.id] and body["keys"][0]["algorithm"] == "sm4-gcm"
    assert len(keyring.chain_key()) == 32
    keyring.reset()
    assert keyring.ring().current == ring.current and keyring.chain_key() == ring.chain_key  # stable


def test_govflow_init_on_a_fresh_machine_creates_the_key_file(key_file: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from service.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    assert main(["init"]) == 0
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "不是有效的 JSON"),
    ('{"chain_key": "00", "keys": []}', "chain_key 应为 64 位十六进制"),
    ('{"chain_key": "' + "ab" * 32 + '", "keys": []}', "keys 应为至少含一个数据密钥的列表"),
    ('{"chain_key": "' + "ab" * 32 + '", "keys": [{"id": "k1", "algorithm": "sm4-gcm", "key": "00"}]}',
     "密钥 k1 的 key 应为 32 位十六进制"),
    ('{"chain_key": "' + "ab" * 32 + '", "keys": [{"id": "k1", "algorithm": "des", "key": "00"}]}',
     "算法 des 不受支持"),
])
def test_a_malformed_key_file_gives_its_fault_in_chinese(key_file: Path, content: str, message: str) -> None:
    key_file.parent.mkdir(parents=True)
    key_file.write_text(content)
    with pytest.raises(KeyringError) as caught:
        keyring.configure()
    assert f"密钥环（{key_file}）格式错误" in str(caught.value) and message in str(caught.value)


def _ring(key_id: str, secret: str, algorithm: str = "sm4-gcm") -> keyring.Keyring:
    size = keyring.ALGORITHMS[algorithm]
    return keyring.parse(json.dumps({"chain_key": "cd" * 32, "keys": [
        {"id": key_id, "algorithm": algorithm, "key": secret * size}]}), "测试")


def test_a_value_sealed_with_a_key_no_longer_in_the_ring_names_that_key(monkeypatch: pytest.MonkeyPatch) -> None:
    value = sealed.seal("530102199001071234", _ring("kgone", "11").current)
    monkeypatch.setenv("GOVFLOW_KEYS", _ring("knew", "22").to_text())
    keyring.reset()
    try:
        with pytest.raises(KeyringError) as caught:
            sealed.unseal(value)
    finally:
        keyring.reset()
    assert "数据由密钥 kgone 加密，但密钥环（环境变量 GOVFLOW_KEYS）中没有这个密钥（现有：knew）" in str(caught.value)


def test_a_wrong_key_under_the_same_id_or_an_altered_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    value = sealed.seal("13812345678", _ring("k1", "11").current)
    monkeypatch.setenv("GOVFLOW_KEYS", _ring("k1", "33").to_text())
    keyring.reset()
    try:
        with pytest.raises(KeyringError, match="无法解密以密钥 k1 加密的数据"):
            sealed.unseal(value)
        good = sealed.seal("13812345678")
        altered = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
        with pytest.raises(KeyringError, match="或数据已被改动"):
            sealed.unseal(altered)
    finally:
        keyring.reset()


@pytest.mark.parametrize("algorithm", ["sm4-gcm", "aes-256-gcm"])
def test_both_algorithms_seal_and_open_text_and_bytes(algorithm: str) -> None:
    key = _ring("kalg", "44", algorithm).current
    long_text = '{"petitioner_address": "云南省临沧市临翔区南塘街1号"}' * 40
    for value in ("13812345678", long_text):
        box = sealed.seal(value, key)
        assert box.startswith("gf1:kalg:") and value not in box
        assert sealed._sealer(key).decrypt  # cached cipher per key
        keyring.configure(keyring=keyring.Keyring(b"\0" * 32, (key,), "测试"))
        try:
            assert sealed.unseal(box) == value
            assert sealed.unseal_bytes(sealed.seal_bytes(b"%PDF scan")) == b"%PDF scan"
        finally:
            keyring.reset()
    assert len(sealed.seal(long_text, key)) < len(long_text)  # compressed before sealing


def test_values_in_clear_open_unchanged() -> None:
    for value in ('{"a": 1}', "", None, "plain text", 12, b"%PDF"):
        assert sealed.unseal(value) == value
        assert sealed.unseal_bytes(value) == value
