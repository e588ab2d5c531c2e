"""How personal data is masked for everyone outside a case's chain (信访工作办法 第九条(二)):
one set of maskers for every procedure that keeps personal data (the petitioner, a dispute's
parties), so a name looks the same masked wherever it appears."""

from __future__ import annotations

import re


def _keep(text: str, head: int, tail: int) -> str:
    """Keep `head` and `tail` characters; too short a value is starred out entirely."""
    if len(text) <= head + tail:
        return "*" * len(text)
    return text[:head] + "*" * (len(text) - head - tail) + text[len(text) - tail :]


def mask_name(name: str | None) -> str | None:
    """张三 → 张*: the surname alone does not identify a person."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_id(id_number: str | None) -> str | None:
    """530102199001011234 → 5301**********1234 (region prefix and check digits stay)."""
    return _keep(id_number, 4, 4) if id_number else id_number


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678."""
    return _keep(phone, 3, 4) if phone else phone


def mask_address(address: str | None) -> str | None:
    """云南省临沧市临翔区…… → 云南省临沧市****: city level only."""
    if not address:
        return address
    head = 6 if len(address) > 6 else len(address) // 2
    return address[:head] + "****"


# Between the parties of a free-text list: 、 ， , ； ; / and spaces, and 与 (张三与李四).
_PARTY_SEPARATORS = re.compile(r"([、，,；;/／\s]+|与)")


def mask_names(parties: str | None) -> str | None:
    """A free-text list of parties, each masked as a name: 张三、李四 → 张*、李*; the separators
    stay, so the reader still sees how many parties there are."""
    if not parties:
        return parties
    pieces = _PARTY_SEPARATORS.split(parties)
    return "".join(piece if i % 2 else (mask_name(piece) or "") for i, piece in enumerate(pieces))
