"""The keys of an installation: data keys that seal personal data, and the history chain's key.

Keys live outside the database (GB/T 39786: keys apart from the data they protect): in the
environment (GOVFLOW_KEYS, the ring's JSON text) or in a key file (GOVFLOW_KEY_FILE, default
instance/govflow.key beside instance/secret_key, created with mode 0600 on first use).

The ring's JSON: {"version": 1, "chain_key": "<64 hex>", "keys": [{"id", "algorithm", "key",
"created"}, …]} — the first key is the current one (new values are sealed with it); the others
only open older values until `govflow rotate-key --drop-old` removes them. The chain key never
rotates: the history chain's hashes stay valid forever.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.config import ROOT

ALGORITHMS = {"sm4-gcm": 16, "aes-256-gcm": 32}  # algorithm -> key length in bytes
DEFAULT_ALGORITHM = "sm4-gcm"
CHAIN_KEY_BYTES = 32
RECHECK_SECONDS = 2.0  # how often a running server looks whether the key file changed (rotation)


class KeyringError(RuntimeError):
    """The keyring is missing, malformed or lacks a key a stored value needs (message in Chinese)."""


@dataclass(frozen=True)
class DataKey:
    id: str
    algorithm: str
    secret: bytes = field(repr=False)
    created: str = ""

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "algorithm": self.algorithm, "key": self.secret.hex(), "created": self.created}


@dataclass(frozen=True)
class Keyring:
    chain_key: bytes = field(repr=False)
    keys: tuple[DataKey, ...]
    source: str  # "环境变量 GOVFLOW_KEYS" or the key file's path

    @property
    def current(self) -> DataKey:
        return self.keys[0]

    def find(self, key_id: str) -> DataKey | None:
        for key in self.keys:
            if key.id == key_id:
                return key
        return None

    def to_text(self) -> str:
        body = {"version": 1, "chain_key": self.chain_key.hex(), "keys": [k.to_json() for k in self.keys]}
        return json.dumps(body, ensure_ascii=False, indent=2) + "\n"

    def fingerprint(self) -> dict[str, Any]:
        """What a backup manifest records: key ids and a digest of the chain key, never a key."""
        chain = hashlib.sha256(b"govflow chain key id\0" + self.chain_key).hexdigest()[:16]
        return {"current": self.current.id, "key_ids": [k.id for k in self.keys], "chain_key_id": chain}


def new_key(algorithm: str = DEFAULT_ALGORITHM) -> DataKey:
    """A fresh random data key; its id names the day it was made and a random tail."""
    if algorithm not in ALGORITHMS:
        raise KeyringError(f"不支持的加密算法 {algorithm}（可选：{'、'.join(ALGORITHMS)}）")
    now = datetime.now(UTC)
    key_id = f"k{now:%Y%m%d}{secrets.token_hex(3)}"
    return DataKey(key_id, algorithm, secrets.token_bytes(ALGORITHMS[algorithm]), now.isoformat(timespec="seconds"))


def new_ring(source: str, algorithm: str = DEFAULT_ALGORITHM) -> Keyring:
    return Keyring(secrets.token_bytes(CHAIN_KEY_BYTES), (new_key(algorithm),), source)


def parse(text: str, source: str) -> Keyring:
    """The ring in `text`; a KeyringError naming `source` and the fault when it is malformed."""
    where = f"密钥环（{source}）格式错误"
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise KeyringError(f"{where}：不是有效的 JSON（{exc}）") from None
    if not isinstance(body, dict):
        raise KeyringError(f"{where}：应为 JSON 对象")
    chain = _hex(body.get("chain_key"), CHAIN_KEY_BYTES, f"{where}：chain_key 应为 {CHAIN_KEY_BYTES * 2} 位十六进制")
    raw_keys = body.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise KeyringError(f"{where}：keys 应为至少含一个数据密钥的列表")
    keys: list[DataKey] = []
    for n, item in enumerate(raw_keys, start=1):
        if not isinstance(item, dict):
            raise KeyringError(f"{where}：第 {n} 个数据密钥应为 JSON 对象")
        key_id = item.get("id")
        if not isinstance(key_id, str) or not key_id or not key_id.isalnum():
            raise KeyringError(f"{where}：第 {n} 个数据密钥的 id 应为非空的字母数字")
        algorithm = item.get("algorithm", DEFAULT_ALGORITHM)
        if algorithm not in ALGORITHMS:
            raise KeyringError(f"{where}：密钥 {key_id} 的算法 {algorithm} 不受支持（可选：{'、'.join(ALGORITHMS)}）")
        size = ALGORITHMS[algorithm]
        secret = _hex(item.get("key"), size, f"{where}：密钥 {key_id} 的 key 应为 {size * 2} 位十六进制（{algorithm}）")
        if any(k.id == key_id for k in keys):
            raise KeyringError(f"{where}：密钥 id {key_id} 重复")
        keys.append(DataKey(key_id, algorithm, secret, str(item.get("created", ""))))
    return Keyring(chain, tuple(keys), source)


def _hex(value: Any, size: int, message: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise KeyringError(message)
    return raw


def key_file_path() -> Path:
    return Path(os.environ.get("GOVFLOW_KEY_FILE") or ROOT / "instance" / "govflow.key")


def write_key_file(path: Path, ring: Keyring, *, replace: bool) -> None:
    """Write the ring with mode 0600; atomically (a reader never sees half a file).

    replace=False creates the file only if it does not exist yet (two first starts race safely)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(ring.to_text())
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


def load() -> Keyring:
    """The ring from GOVFLOW_KEYS, else from the key file (created on first use)."""
    text = os.environ.get("GOVFLOW_KEYS")
    if text:
        return parse(text, "环境变量 GOVFLOW_KEYS")
    path = key_file_path()
    if not path.exists():
        write_key_file(path, new_ring(str(path)), replace=False)
    try:
        return parse(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise KeyringError(f"无法读取密钥文件 {path}：{exc.strerror or exc}") from None


class _State:
    """The loaded ring, reloaded when its source changes (a rotation while the server runs)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ring: Keyring | None = None
        self.pinned = False
        self.stamp: tuple[Any, ...] = ()
        self.checked = 0.0


_state = _State()


def _stamp() -> tuple[Any, ...]:
    text = os.environ.get("GOVFLOW_KEYS")
    if text:
        return ("env", text)
    path = key_file_path()
    try:
        st = path.stat()
    except OSError:
        return ("file", str(path), None)
    return ("file", str(path), st.st_mtime_ns, st.st_size, st.st_ino)


def ring(*, fresh: bool = False) -> Keyring:
    """The active ring; looked up again at most every RECHECK_SECONDS (or now with fresh=True)."""
    state = _state
    now = time.monotonic()
    current = state.ring
    if current is not None and (state.pinned or (not fresh and now - state.checked < RECHECK_SECONDS)):
        return current
    with state.lock:
        stamp = _stamp()
        if state.ring is None or (not state.pinned and stamp != state.stamp):
            state.ring = load()
            state.stamp = _stamp()
        state.checked = now
        return state.ring


def configure(settings: Any = None, *, keyring: Keyring | None = None) -> Keyring:
    """Load the ring now (so a bad key file stops start-up with its message), or pin a given ring
    (it stays until reset()).

    `settings` is accepted for symmetry with the other configure() calls; keys never come from
    the database or its settings."""
    if keyring is not None:
        with _state.lock:
            _state.ring, _state.pinned, _state.stamp, _state.checked = keyring, True, (), 0.0
    return ring(fresh=True)


def reset() -> None:
    """Forget the loaded ring (tests change the environment between cases)."""
    with _state.lock:
        _state.ring = None
        _state.pinned = False
        _state.stamp = ()
        _state.checked = 0.0


def current() -> DataKey:
    """The key new values are sealed with."""
    return ring().current


def get(key_id: str) -> DataKey:
    """The key `key_id`, looking at the source again before giving up (another process rotated)."""
    key = ring().find(key_id)
    if key is None:
        key = ring(fresh=True).find(key_id)
    if key is None:
        active = ring()
        raise KeyringError(
            f"数据由密钥 {key_id} 加密，但密钥环（{active.source}）中没有这个密钥"
            f"（现有：{'、'.join(k.id for k in active.keys)}）。请使用加密这些数据时的密钥文件或 GOVFLOW_KEYS"
        )
    return key


def check_fingerprint(wanted: Any) -> None:
    """Refuse (Invalid, before anything is written) to restore a backup whose manifest names keys
    this ring lacks: its personal data would not open, nor its history chain verify."""
    from service.errors import Invalid

    if not isinstance(wanted, dict):
        return  # a backup made before personal data was sealed
    active = ring(fresh=True)
    missing = [k for k in wanted.get("key_ids", []) if active.find(k) is None]
    where = "请使用备份时的密钥文件（GOVFLOW_KEY_FILE）或 GOVFLOW_KEYS 再恢复"
    if missing:
        raise Invalid(f"备份中的个人信息由密钥 {'、'.join(missing)} 加密，当前密钥环（{active.source}）中没有这些密钥：{where}")
    if wanted.get("chain_key_id") not in (None, active.fingerprint()["chain_key_id"]):
        raise Invalid(f"备份的历史记录哈希链密钥与当前密钥环（{active.source}）中的不同：{where}")


def chain_key() -> bytes:
    """The history chain's HMAC key: 32 bytes, the same for the life of the installation."""
    return ring().chain_key
