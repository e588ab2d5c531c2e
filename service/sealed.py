"""Personal data sealed at rest: SM4-GCM (国密) or AES-256-GCM under the keyring's data keys.

A sealed value is text: ``gf1:<key id>:<base64 of nonce(12) ‖ ciphertext ‖ tag(16)>``. The header
(version and key id) is the AEAD's associated data, so a value cannot be relabelled with another
key id. The plaintext is a flag byte and the value's UTF-8 (zlib-compressed when that is smaller:
the engine state is large JSON, and sealing fewer bytes costs less). Opening a value that is not
sealed returns it unchanged, so databases written before sealing keep working until
`govflow rotate-key` seals them.

Two ways in: the ORM column type `SealedText`, and the hand-written statements of
service/store/statements.py, whose sealed parameters are registered here (`register`) and sealed
by service/store/fastsql.py when the statement runs (`bind`)."""

from __future__ import annotations

import base64
import binascii
import os
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, Text
from sqlalchemy.types import TypeDecorator

from service import keyring
from service.keyring import DataKey, KeyringError

VERSION = "gf1"
PREFIX = VERSION + ":"
NONCE_BYTES = 12
TAG_BYTES = 16
COMPRESS_FROM = 256  # shorter values are sealed as they are
_RAW, _ZLIB = b"\x00", b"\x01"


class _Sealer:
    """One key's cipher, built once (the hot path seals the engine state at every step)."""

    def __init__(self, key: DataKey) -> None:
        self.key = key
        self.header = f"{PREFIX}{key.id}:"
        self.aad = self.header.encode()
        self.aes = AESGCM(key.secret) if key.algorithm == "aes-256-gcm" else None
        self.sm4 = algorithms.SM4(key.secret) if self.aes is None else None

    def encrypt(self, plain: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        if self.aes is not None:
            return nonce + self.aes.encrypt(nonce, plain, self.aad)
        enc = Cipher(self.sm4, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(self.aad)
        body = enc.update(plain) + enc.finalize()
        return nonce + body + enc.tag

    def decrypt(self, blob: bytes) -> bytes:
        nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        if self.aes is not None:
            return self.aes.decrypt(nonce, body, self.aad)
        dec = Cipher(self.sm4, modes.GCM(nonce, body[-TAG_BYTES:])).decryptor()
        dec.authenticate_additional_data(self.aad)
        return dec.update(body[:-TAG_BYTES]) + dec.finalize()


_sealers: dict[tuple[str, bytes], _Sealer] = {}


def _sealer(key: DataKey) -> _Sealer:
    found = _sealers.get((key.id, key.secret))
    if found is None:
        found = _sealers[(key.id, key.secret)] = _Sealer(key)
    return found


_BYTES_PREFIX = PREFIX.encode()


def is_sealed(value: Any) -> bool:
    if isinstance(value, bytes | memoryview):
        return bytes(value[:len(_BYTES_PREFIX)]) == _BYTES_PREFIX
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(value: Any) -> str | None:
    """The id of the key `value` (text or bytes) is sealed with; None for a value in clear."""
    if not is_sealed(value):
        return None
    if isinstance(value, bytes | memoryview):
        return bytes(value[len(_BYTES_PREFIX):len(_BYTES_PREFIX) + 80]).partition(b":")[0].decode()
    return value[len(PREFIX):].partition(":")[0]


def seal(value: str | None, key: DataKey | None = None) -> str | None:
    """`value` sealed with `key` (default: the ring's current key). None and "" stay as they are;
    a value already sealed with that key is returned unchanged."""
    if not value:
        return value
    key = key or keyring.current()
    if value.startswith(PREFIX):
        if key_id_of(value) == key.id:
            return value
        value = unseal(value)
        if not value:
            return value
    raw = value.encode()
    plain = _RAW + raw
    if len(raw) >= COMPRESS_FROM:
        packed = zlib.compress(raw, 1)
        if len(packed) < len(raw):
            plain = _ZLIB + packed
    sealer = _sealer(key)
    return sealer.header + base64.b64encode(sealer.encrypt(plain)).decode("ascii")


def unseal(value: Any) -> Any:
    """The clear text of a sealed value; anything else (clear text, None, numbers) unchanged."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return value
    key_id, _, body = value[len(PREFIX):].partition(":")
    sealer = _sealer(keyring.get(key_id))
    try:
        plain = sealer.decrypt(base64.b64decode(body, validate=True))
    except (InvalidTag, binascii.Error, ValueError):
        raise KeyringError(
            f"无法解密以密钥 {key_id} 加密的数据：密钥环（{keyring.ring().source}）中的该密钥与加密时的不一致，"
            "或数据已被改动"
        ) from None
    flag, payload = plain[:1], plain[1:]
    return (zlib.decompress(payload) if flag == _ZLIB else payload).decode()


def seal_bytes(value: bytes | None, key: DataKey | None = None) -> bytes | None:
    """Bytes (an attachment's content) sealed: ``gf1:<key id>:`` ‖ nonce ‖ ciphertext ‖ tag."""
    if not value:
        return value
    key = key or keyring.current()
    if is_sealed(value):
        if key_id_of(value) == key.id:
            return bytes(value)
        value = unseal_bytes(value)
    sealer = _sealer(key)
    return sealer.aad + sealer.encrypt(bytes(value))


def unseal_bytes(value: Any) -> Any:
    """The clear bytes of sealed bytes; anything else unchanged."""
    if not is_sealed(value):
        return value
    value = bytes(value)
    key_id = key_id_of(value) or ""
    sealer = _sealer(keyring.get(key_id))
    try:
        return sealer.decrypt(value[len(sealer.aad):])
    except (InvalidTag, ValueError):
        raise KeyringError(
            f"无法解密以密钥 {key_id} 加密的文件：密钥环（{keyring.ring().source}）中的该密钥与加密时的不一致，"
            "或数据已被改动"
        ) from None


def reseal(value: Any, key: DataKey) -> Any:
    """A stored value (text or bytes, sealed or clear) sealed with `key`."""
    if isinstance(value, bytes | memoryview):
        return seal_bytes(bytes(value), key)
    return seal(value, key) if isinstance(value, str) else value


class SealedText(TypeDecorator[str]):
    """A Text column whose values are sealed in the database and clear in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return seal(value) if isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return unseal(value)


class SealedBytes(TypeDecorator[bytes]):
    """A LargeBinary column whose bytes are sealed in the database and clear in Python."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return seal_bytes(value) if isinstance(value, bytes) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return unseal_bytes(value)


# ----- hand-written statements ----------------------------------------------------------------

_PARAMS: dict[str, tuple[str, ...]] = {}


def register(sql: str, names: Iterable[str]) -> str:
    """Remember that these parameters of `sql` fill sealed columns; returns `sql`."""
    names = tuple(names)
    if names:
        _PARAMS[sql] = names
    return sql


def sealed_columns(model: Any) -> tuple[str, ...]:
    """The model's columns typed SealedText or SealedBytes."""
    return tuple(c.name for c in model.__table__.columns if isinstance(c.type, SealedText | SealedBytes))


def bind(sql: str, params: Mapping[str, Any] | None) -> Any:
    """`params` with the sealed parameters of `sql` sealed (the same mapping when it has none)."""
    names = _PARAMS.get(sql)
    if not names or not params:
        return params
    out = dict(params)
    key = keyring.current()
    for name in names:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = seal(value, key)
        elif isinstance(value, bytes):
            out[name] = seal_bytes(value, key)
    return out


def unseal_row(row: tuple[Any, ...], *indexes: int) -> tuple[Any, ...]:
    """A raw row with the values at `indexes` opened."""
    values = list(row)
    for i in indexes:
        values[i] = unseal(values[i])
    return tuple(values)
