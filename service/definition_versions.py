"""The versions of one procedure as designers read them: the list (who deployed each, when, the
版本说明, how many cases run on it and how many it ever had), one version read-only (its user tasks
with the attributes GovFlow obeys, and its form snapshots), and the diff of two versions
(service.definition_diff over what is stored). Administrators and 流程设计员 only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import clock
from service.actors import Actor
from service.definition_diff import Element, Version, diff, elements
from service.errors import Forbidden, Invalid, NotFound
from service.forms import FormRegistry
from service.store.designer_models import DefinitionForm
from service.store.models import Definition, Instance, User

NOT_FOUND = "流程版本不存在"
SAME_VERSION = "请选择两个不同的版本进行比较"
NO_OTHER_VERSION = "该流程只有一个版本，没有可比较的版本"
Schema = dict[str, Any]


def require_viewer(actor: Actor) -> None:
    """Versions, their diagrams and diffs are the designers' (admin and the designer group)."""
    if not actor.is_designer:
        raise Forbidden("只有系统管理员和流程设计员可以查看流程版本")


def _names(session: Session, usernames: set[str]) -> dict[str, str]:
    names = {"system": "系统"}
    if usernames:
        names.update((u, n) for u, n in session.execute(select(User.username, User.name).where(User.username.in_(usernames))))
    return names


def deployer(names: dict[str, str], username: str | None) -> str:
    """Who deployed, by name (a start-up deploy of the repository's files has no user: 系统)."""
    return names.get(username, username) if username else "系统"


def version_rows(session: Session, key: str) -> list[dict[str, Any]]:
    """Every version of `key`, newest first, with its running and total case counts (one grouped
    query over the (process_key, status) index); NotFound when the key was never deployed."""
    definitions = list(session.scalars(select(Definition).where(Definition.key == key)
                                       .order_by(Definition.version.desc())))
    if not definitions:
        raise NotFound(NOT_FOUND)
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(select(Instance.definition_id, Instance.status, func.count())
                           .where(Instance.process_key == key)
                           .group_by(Instance.definition_id, Instance.status))
    for definition_id, status, count in rows:
        counts.setdefault(definition_id, {})[status] = int(count)
    names = _names(session, {d.deployed_by for d in definitions if d.deployed_by})
    latest = definitions[0].version
    return [{
        "id": d.id, "key": d.key, "name": d.name, "version": d.version,
        "deployed_at": clock.iso(d.deployed_at), "deployed_by": deployer(names, d.deployed_by),
        "deployed_by_username": d.deployed_by, "comment": d.comment,
        "running": counts.get(d.id, {}).get("running", 0),
        "total": sum(counts.get(d.id, {}).values()),
        "latest": d.version == latest,
    } for d in definitions]


def definition_of(session: Session, key: str, version: int) -> Definition:
    definition = session.scalars(select(Definition).where(Definition.key == key, Definition.version == version)).first()
    if definition is None:
        raise NotFound(NOT_FOUND)
    return definition


def latest_version(session: Session, key: str) -> int:
    version = session.scalar(select(func.max(Definition.version)).where(Definition.key == key))
    if version is None:
        raise NotFound(NOT_FOUND)
    return int(version)


def version_forms(session: Session, registry: FormRegistry, definition: Definition,
                  found: dict[str, Element]) -> dict[str, Schema]:
    """The forms this version's diagram names, as the version's cases use them: its snapshots, or
    for a version deployed before snapshots existed the files (a missing one is left out)."""
    forms: dict[str, Schema] = {}
    for element in found.values():
        form_key = element.attributes.get("formKey")
        if form_key and form_key not in forms and registry.exists(form_key, definition.id, session):
            forms[form_key] = registry.get(form_key, definition.id, session).schema
    return forms


def _version(session: Session, registry: FormRegistry, definition: Definition) -> Version:
    xml = definition.bpmn_xml
    forms = version_forms(session, registry, definition, elements(xml, definition.key))
    return Version(definition.key, definition.version, xml, forms)


def pair(session: Session, key: str, a: int | None, b: int | None) -> tuple[int, int]:
    """The two versions to compare: as asked, else `b` the latest and `a` the one before it."""
    if b is None:
        b = latest_version(session, key)
    if a is None:
        if b <= 1:
            definition_of(session, key, b)  # an unknown key or version is a 404 before the 422
            raise Invalid(NO_OTHER_VERSION, [{"field": "a", "message": NO_OTHER_VERSION}])
        a = b - 1
    if a == b:
        raise Invalid(SAME_VERSION, [{"field": "b", "message": SAME_VERSION}])
    return a, b


def diff_versions(session: Session, registry: FormRegistry, key: str, a: int, b: int) -> dict[str, Any]:
    """The diff of versions `a` → `b` of `key` (404 when either is unknown, 422 when the same)."""
    first, second = definition_of(session, key, a), definition_of(session, key, b)
    if a == b:
        raise Invalid(SAME_VERSION, [{"field": "b", "message": SAME_VERSION}])
    return diff(_version(session, registry, first), _version(session, registry, second))


def _task_row(element: Element, lanes: dict[str, str]) -> dict[str, Any]:
    attrs = element.attributes
    return {"element_id": element.id, "name": element.name, "lane": lanes.get(element.id),
            "candidate_groups": attrs.get("candidateGroups"), "assignee": attrs.get("assignee"),
            "form_key": attrs.get("formKey"), "due_date": attrs.get("dueDate")}


def _form_rows(form_key: str, schema: Schema) -> dict[str, Any]:
    required = set(schema.get("required") or [])
    fields = [{"field": name, "title": spec.get("title"), "type": spec.get("type"),
               "format": spec.get("format"), "required": name in required,
               "enum": spec.get("enum")} for name, spec in (schema.get("properties") or {}).items()]
    return {"form_key": form_key, "title": schema.get("title"), "fields": fields}


def version_detail(session: Session, registry: FormRegistry, key: str, version: int) -> dict[str, Any]:
    """One version read-only: its row of the list, its user tasks (办理组, 办理人, 表单, 期限) and
    the forms it names with their fields."""
    definition = definition_of(session, key, version)
    row = next(r for r in version_rows(session, key) if r["version"] == version)
    found = elements(definition.bpmn_xml, key)
    lanes = {}
    for lane in (e for e in found.values() if e.type == "lane"):
        for node in (lane.attributes.get("flowNodeRef") or "").split("、"):
            lanes[node] = lane.name or lane.id
    forms = version_forms(session, registry, definition, found)
    start_forms = [e.attributes["formKey"] for e in found.values()
                   if e.type == "startEvent" and "formKey" in e.attributes]
    return {**row,
            "start_forms": start_forms,
            "tasks": [_task_row(e, lanes) for e in found.values() if e.type == "userTask"],
            "forms": [_form_rows(k, s) for k, s in forms.items()],
            "snapshotted": bool(session.scalar(select(func.count()).select_from(DefinitionForm)
                                               .where(DefinitionForm.definition_id == definition.id)))}

