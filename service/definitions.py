"""Deployed definitions, kept parsed in memory per version (parsing is the slow part)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.deploy import safe_parse
from service.engine import ProcessModel, parse_processes
from service.errors import NotFound
from service.store.models import Definition


class ModelCache:
    def __init__(self) -> None:
        self._models: dict[int, ProcessModel] = {}
        self._lock = threading.Lock()

    def cached(self, definition_id: int) -> ProcessModel | None:
        return self._models.get(definition_id)

    def by_id(self, session: Session, definition_id: int) -> ProcessModel:
        """The parsed model of a definition version; the database is read only on a miss."""
        cached = self._models.get(definition_id)
        if cached is not None:
            return cached
        definition = session.get(Definition, definition_id)
        if definition is None:
            raise NotFound("流程定义不存在")
        return self.model(definition)

    def model(self, definition: Definition) -> ProcessModel:
        cached = self._models.get(definition.id)
        if cached is not None:
            return cached
        with self._lock:
            if definition.id not in self._models:
                models = parse_processes(safe_parse(definition.bpmn_xml), f"{definition.key}.bpmn")
                self._models[definition.id] = models[definition.key]
            return self._models[definition.id]


def latest(session: Session, key: str) -> Definition:
    definition = session.scalars(
        select(Definition).where(Definition.key == key).order_by(Definition.version.desc()).limit(1)
    ).first()
    if definition is None:
        raise NotFound(f"流程 {key} 未部署")
    return definition


def latest_all(session: Session) -> list[Definition]:
    newest = (
        select(Definition.key, func.max(Definition.version).label("v")).group_by(Definition.key).subquery()
    )
    return list(
        session.scalars(
            select(Definition)
            .join(newest, (Definition.key == newest.c.key) & (Definition.version == newest.c.v))
            .order_by(Definition.key)
        )
    )
