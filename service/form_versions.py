"""Forms versioned with the diagram: a deployment snapshots every form its diagram names into
definition_forms, so a running case keeps the form of its version while new cases get the new
one. Definitions deployed before the snapshots existed (migration 0017) have none: their cases
read forms/<key>.json, as they always did."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.forms import Form, FormRegistry
from service.store.db import Database
from service.store.designer_models import DefinitionForm
from service.store.models import Definition, Instance

Schema = dict[str, Any]


def snapshots(session: Session, definition_id: int) -> dict[str, Schema]:
    """form_key → schema of every form this deployed version snapshotted (empty before 0017)."""
    rows = session.execute(select(DefinitionForm.form_key, DefinitionForm.schema)
                           .where(DefinitionForm.definition_id == definition_id))
    return {key: json.loads(schema) for key, schema in rows}


def loader(db: Database) -> Callable[[Any, int], dict[str, Schema]]:
    """What FormRegistry.bind takes: a version's snapshots, read on the caller's session when it
    has one, else on a read transaction of its own (read once per version: they never change)."""

    def load(session: Any, definition_id: int) -> dict[str, Schema]:
        if isinstance(session, Session):
            return snapshots(session, definition_id)
        with db.read() as own:
            return snapshots(own, definition_id)

    return load


def latest_snapshots(session: Session, process_key: str) -> dict[str, Schema]:
    """The snapshots of the procedure's latest version ({} when it is not deployed or has none)."""
    latest = session.scalar(select(Definition.id).where(Definition.key == process_key)
                            .order_by(Definition.version.desc()).limit(1))
    return snapshots(session, latest) if latest is not None else {}


def current_forms(session: Session, process_key: str, registry: FormRegistry) -> dict[str, Schema]:
    """What a new deployment of the procedure snapshots for each form key: the latest version's
    snapshot of that key, else forms/<key>.json (every file is listed, so a diagram may name a
    form its previous version did not use)."""
    return {**registry.schemas(), **latest_snapshots(session, process_key)}


def form_of(session: Session | None, registry: FormRegistry, form_key: str, definition_id: int | None) -> Form:
    """The form `form_key` as the version `definition_id` snapshotted it, else the file (NotFound
    when neither exists). With a session, a first read of the version uses it."""
    return registry.get(form_key, definition_id, session=session)


def case_definition_id(session: Session, instance_id: int) -> int | None:
    """The deployed version a case runs on (whose forms its pages and steps use)."""
    return session.scalar(select(Instance.definition_id).where(Instance.id == instance_id))


def task_form(session: Session, registry: FormRegistry, form_key: str | None, instance_id: int) -> Form | None:
    """A task's form as its case's version has it (None for a task without a form)."""
    if not form_key:
        return None
    return form_of(session, registry, form_key, case_definition_id(session, instance_id))


def write_snapshots(session: Session, definition_id: int, forms: Mapping[str, Schema]) -> None:
    """Store the forms a new version names (in the deployment's transaction), each as written:
    the order of its properties is the order of its fields."""
    session.add_all(DefinitionForm(definition_id=definition_id, form_key=key,
                                   schema=json.dumps(schema, ensure_ascii=False))
                    for key, schema in sorted(forms.items()))
