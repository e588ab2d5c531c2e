"""防篡改: the heads of the hash chains kept apart from their rows (service/hash_chain.py)."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class ChainHead(Base):
    """The head of a hash chain kept apart from its rows (the audit log's; a case's history keeps
    its head on the instance row): the last row's number and the keyed link after it, and the
    tail — the link after the last row pruned past its keeping period — where the chain starts."""

    __tablename__ = "chain_heads"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    head: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tail_seq: Mapped[int] = mapped_column(Integer, default=0)
    tail_head: Mapped[str | None] = mapped_column(String(64), nullable=True)
