"""The box above a step's form that shows what the procedure declares for that step
(`Procedure.step_notes`), e.g. who sent a case back to 归纳分类, why and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service import procedure
from service.store.models import Definition
from service.web.case_labels import data_rows, labels_for
from service.web.guards import group_names


def notes_for(session: Session, process_key: str, bpmn_id: str, case: dict[str, Any] | None) -> dict[str, Any] | None:
    """{"title", "rows"} for the task page, or None when the step declares none or the case has
    none of its keys (a first 归纳分类 has no return to show)."""
    declared = procedure.get(process_key)
    spec = declared.step_notes.get(bpmn_id) if declared else None
    if spec is None or not case:
        return None
    title, keys = spec
    data = case.get("data") or {}
    present = {k: data[k] for k in keys if data.get(k) not in (None, "")}
    if not present:
        return None
    definition = session.get(Definition, case["definition_id"])
    if definition is None:
        return None
    labels = labels_for(definition)
    order = {k: i for i, k in enumerate(keys)}
    rows = sorted(data_rows(present, labels, group_names(session)), key=lambda r: order.get(r["name"], 0))
    return {"title": title, "rows": rows} if rows else None
