"""Papers the office prints for a case (第七条: the office works on paper): each procedure declares
its documents (`Document`: a template, when it is offered, whether it is numbered), the platform
renders them (service/web/document_pages.py) and numbers them.

A numbered document gets, the first time it is issued for a case, the next number of a per-year
counter (`<prefix>〔<year>〕<n>号`, the prefix a text setting of its procedure), kept in
`issued_documents` so that every reprint shows the same number; issuing writes a history row in
the same transaction. Counters are the gap-free `sequences` rows the business keys use: a
transaction that fails gives its number back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service import clock, config_store, procedure
from service.errors import NotFound
from service.store.db import Database
from service.store.document_models import IssuedDocument
from service.store.models import History, Instance
from service.store.statements import NEXT_NUMBER

HISTORY_ACTION = "document"  # the history row an issue writes (shown as 印发)


@dataclass(frozen=True)
class CaseFacts:
    """What a document's availability rule and its template read of a case: its data as the
    viewer may see it (personal data masked by the policy), the steps done, the history rows
    (oldest first, as queries.history_json gives them) and the names of groups and users."""

    id: int
    process: str
    business_key: str
    title: str
    status: str
    started_at: str | None
    data: Mapping[str, Any]
    done: frozenset[str]
    history: tuple[dict[str, Any], ...]
    groups: Mapping[str, str] = field(default_factory=dict)
    users: Mapping[str, str] = field(default_factory=dict)

    def group_name(self, key: Any) -> str:
        return self.groups.get(str(key), str(key)) if key else ""

    def user_name(self, username: Any) -> str:
        return self.users.get(str(username), str(username)) if username else ""


def _always(_facts: CaseFacts) -> bool:
    return True


@dataclass(frozen=True)
class Document:
    """One printed paper of a procedure (declared in its `Procedure.documents`).

    `template` is a Jinja template name found in `template_dir` (outside service/), extending
    print_base.html. `number_setting` and `letterhead_setting` are text settings of the
    procedure (local keys) holding the document-number prefix and the letterhead."""

    key: str  # in the URL: /instances/<id>/documents/<key>
    name: str  # 中文名, e.g. 交办单
    template: str
    template_dir: Path | None = None
    title: str = ""  # the printed heading (default: the name)
    available: Callable[[CaseFacts], bool] = _always  # offered once the case reached its point
    numbered: bool = False
    number_setting: str | None = None
    letterhead_setting: str | None = None
    unavailable: str = "案件尚未办理到可打印此文书的环节"  # the 404's message
    # Facts → extra template values (e.g. the leaders' signatures read from the history).
    context: Callable[[CaseFacts], dict[str, Any]] | None = None

    @property
    def heading(self) -> str:
        return self.title or self.name


# ----- declarations ------------------------------------------------------------------------------


def declared(process_key: str) -> tuple[Document, ...]:
    found = procedure.get(process_key)
    return tuple(found.documents) if found is not None else ()


def find(process_key: str, key: str) -> Document:
    for doc in declared(process_key):
        if doc.key == key:
            return doc
    raise NotFound("该案件没有此种文书")


def template_dirs() -> list[Path]:
    """The template folders of every installed procedure's documents (the app's loader)."""
    dirs: list[Path] = []
    for declared_procedure in procedure.registry():
        for doc in declared_procedure.documents:
            if doc.template_dir is not None and doc.template_dir not in dirs:
                dirs.append(doc.template_dir)
    return dirs


def facts_from(detail: dict[str, Any], groups: Mapping[str, str] | None = None,
               users: Mapping[str, str] | None = None) -> CaseFacts:
    """CaseFacts from queries.instance_detail (already checked and masked by the policy)."""
    return CaseFacts(
        id=int(detail["id"]), process=str(detail["process"]), business_key=str(detail["business_key"]),
        title=str(detail.get("title") or ""), status=str(detail["status"]), started_at=detail.get("started_at"),
        data=dict(detail.get("data") or {}), done=frozenset(detail.get("completed_steps") or ()),
        history=tuple(detail.get("history") or ()), groups=dict(groups or {}), users=dict(users or {}),
    )


def offered(facts: CaseFacts) -> list[Document]:
    """The documents of the case's procedure that make sense at the point the case reached."""
    return [doc for doc in declared(facts.process) if doc.available(facts)]


def require_available(facts: CaseFacts, doc: Document) -> None:
    if not doc.available(facts):
        raise NotFound(f"暂不能打印{doc.name}：{doc.unavailable}")


# ----- settings ----------------------------------------------------------------------------------


def _setting(process_key: str, local: str | None) -> str:
    if not local:
        return ""
    return str(config_store.get(f"{process_key}.{local}"))


def letterhead(process_key: str, doc: Document) -> str:
    """The issuing office's name printed at the top (a setting of the procedure)."""
    return _setting(process_key, doc.letterhead_setting)


def number_prefix(process_key: str, doc: Document) -> str:
    return _setting(process_key, doc.number_setting)


def number_text(prefix: str, year: int, seq: int) -> str:
    """发文字号 (GB/T 9704): 临人大信〔2026〕12号."""
    return f"{prefix}〔{year}〕{seq}号"


def counter_name(prefix: str, year: int) -> str:
    return f"doc:{prefix}:{year}"


# ----- issuing -----------------------------------------------------------------------------------


def _issued_json(row: IssuedDocument, new: bool = False) -> dict[str, Any]:
    return {"doc_key": row.doc_key, "number": row.number, "year": row.year, "seq": row.seq,
            "issued_at": clock.parse_datetime(row.issued_at).isoformat(timespec="seconds"),
            "issued_by": row.issued_by, "new": new}


def issued(session: Session, instance_id: int) -> dict[str, dict[str, Any]]:
    """The numbers this case's documents got so far, by document key."""
    rows = session.scalars(select(IssuedDocument).where(IssuedDocument.instance_id == instance_id))
    return {row.doc_key: _issued_json(row) for row in rows}


def issue(db: Database, instance_id: int, process_key: str, doc: Document, username: str) -> dict[str, Any] | None:
    """The document's number for this case: the one it got before, or — the first time — the
    next of this year's counter, stored with a history row 「印发 交办单 临人大信〔2026〕1号」 in
    one transaction. None for a document without a number."""
    if not doc.numbered:
        return None
    prefix = number_prefix(process_key, doc)
    with db.write() as session:
        # The instance row first (the one lock order): two first prints of one case queue here.
        session.get(Instance, instance_id, with_for_update=True)
        found = session.scalar(select(IssuedDocument).where(
            IssuedDocument.instance_id == instance_id, IssuedDocument.doc_key == doc.key))
        if found is not None:
            return _issued_json(found)
        now = clock.now()
        year = now.year
        seq = int(session.execute(text(NEXT_NUMBER), {"name": counter_name(prefix, year)}).scalar_one())
        number = number_text(prefix, year, seq)
        row = IssuedDocument(instance_id=instance_id, doc_key=doc.key, number=number, year=year, seq=seq,
                             issued_at=now, issued_by=username)
        session.add(row)
        session.add(History(instance_id=instance_id, at=now, username=username, action=HISTORY_ACTION,
                            task_name=doc.name, comment=f"印发 {doc.name} {number}",
                            data_after=json.dumps({"document": doc.key, "number": number}, ensure_ascii=False)))
        session.flush()
        return _issued_json(row, new=True)


# ----- dates as documents write them -------------------------------------------------------------


def cn_date(value: Any) -> str:
    """2027年2月1日 (a document's dates, Beijing time); '' for nothing."""
    if value in (None, ""):
        return ""
    try:
        day = clock.parse_datetime(value).date()
    except (TypeError, ValueError):
        return str(value)
    return f"{day.year}年{day.month}月{day.day}日"
