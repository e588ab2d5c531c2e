"""The designer's workshop: the forms each deployed version snapshotted, and the drafts designers
edit in the browser before an administrator deploys them (migration 0017)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base

DRAFT_EDITING = "editing"
DRAFT_SUBMITTED = "submitted"


class DefinitionForm(Base):
    """A form (JSON Schema) as one deployed version names it: running cases keep their version's."""

    __tablename__ = "definition_forms"
    # every read is (definition_id, form_key): the unique constraint is that index
    __table_args__ = (UniqueConstraint("definition_id", "form_key", name="uq_definition_forms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id", ondelete="CASCADE"))
    form_key: Mapped[str] = mapped_column(String(128))
    schema: Mapped[str] = mapped_column(Text)  # JSON


class DefinitionDraft(Base):
    """One procedure's draft: the diagram and the forms it changes ({form_key: schema}, JSON)."""

    __tablename__ = "definition_drafts"
    __table_args__ = (
        CheckConstraint("status IN ('editing', 'submitted')", name="ck_definition_drafts_status"),
        # one draft per procedure, looked up by key
        UniqueConstraint("key", name="uq_definition_drafts_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bpmn_xml: Mapped[str] = mapped_column(Text)
    forms: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT_EDITING, server_default=DRAFT_EDITING)
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
