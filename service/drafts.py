"""Drafts (草稿) of the designer's workshop: one per procedure, the diagram and the forms it changes.

流程设计员 edit and autosave a draft, change its forms and submit it; only an administrator
deploys it, and the draft is removed only after its deployment succeeded (a refused one leaves
it as it was). A draft based on an older version than the latest is still saved: the modeler
says so. The forms a draft changes are checked here before anything is stored, so the
deployment never meets a form the task pages could not draw."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import clock, definitions
from service.actors import ADMIN_GROUP, Actor
from service.bootstrap import MAX_COMMENT, NO_ORGANISATION, deploy_bytes
from service.deploy import check_diagram, executable_keys, group_members, safe_parse
from service.errors import Forbidden, Invalid, NotFound
from service.form_checks import check_form
from service.form_versions import current_forms, latest_snapshots
from service.forms import FormRegistry, is_form_key
from service.runtime import Runtime
from service.store.db import Database
from service.store.designer_models import DRAFT_EDITING, DRAFT_SUBMITTED, DefinitionDraft
from service.store.models import Notice, User

Schema = dict[str, Any]
T = TypeVar("T")

NOT_DESIGNER = "只有系统管理员和流程设计员可以设计流程"
NOT_DEPLOYER = "只有系统管理员可以部署流程，流程设计员请提交审核"
NO_DRAFT = "该流程没有草稿"
NO_XML = "请提供流程图 XML"
BAD_FORM_KEY = "表单标识只能由字母、数字、下划线和连字符组成"
STATUS_LABELS = {DRAFT_EDITING: "编辑中", DRAFT_SUBMITTED: "已提交审核"}
NOTICE_KIND = "draft_submitted"  # named in service.notices.PLATFORM_KINDS


def require_designer(actor: Actor) -> None:
    if not actor.is_designer:
        raise Forbidden(NOT_DESIGNER)


def require_deployer(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden(NOT_DEPLOYER)


def _detail(message: str, element_id: str | None = None) -> dict[str, Any]:
    return {"line": None, "element_id": element_id, "name": None, "message": message, "level": "error"}


def _note(text: Any) -> str:
    """A 提交说明 / 版本说明: text, at most MAX_COMMENT characters (blank: empty)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise Invalid("说明必须是文字", [{"field": "comment", "message": "说明必须是文字"}])
    text = text.strip()
    if len(text) > MAX_COMMENT:
        message = f"说明不能超过 {MAX_COMMENT} 字"
        raise Invalid(message, [{"field": "comment", "message": message}])
    return text


# ----- reading ------------------------------------------------------------------------------------


def get(session: Session, key: str) -> DefinitionDraft | None:
    return session.scalars(select(DefinitionDraft).where(DefinitionDraft.key == key)).first()


def draft_forms(draft: DefinitionDraft | None) -> dict[str, Schema]:
    return dict(json.loads(draft.forms or "{}")) if draft is not None else {}


def stale_message(base_version: int | None, latest_version: int) -> str | None:
    """What the modeler shows when a newer version was deployed after the draft was begun."""
    if base_version is not None and base_version < latest_version:
        return f"草稿基于 v{base_version}，当前已是 v{latest_version}"
    return None


def _names(session: Session, usernames: set[str]) -> dict[str, str]:
    names = {"system": "系统"}
    if usernames:
        rows = session.execute(select(User.username, User.name).where(User.username.in_(sorted(usernames))))
        names.update({username: name for username, name in rows})
    return names


def view(session: Session, draft: DefinitionDraft | None, latest_version: int | None = None) -> dict[str, Any] | None:
    """A draft as pages and the modeler show it (None without one); names, not user names."""
    if draft is None:
        return None
    names = _names(session, {u for u in (draft.updated_by, draft.submitted_by) if u})
    latest = latest_version if latest_version is not None else definitions.latest(session, draft.key).version
    return {
        "key": draft.key, "status": draft.status, "status_label": STATUS_LABELS.get(draft.status, draft.status),
        "updated_at": clock.iso(draft.updated_at), "updated_by": names.get(draft.updated_by, draft.updated_by),
        "comment": draft.comment or "", "base_version": draft.base_version, "latest_version": latest,
        "stale": stale_message(draft.base_version, latest), "forms": sorted(draft_forms(draft)),
        "submitted_at": clock.iso(draft.submitted_at),
        "submitted_by": names.get(draft.submitted_by, draft.submitted_by) if draft.submitted_by else None,
    }


def overview(session: Session) -> dict[str, dict[str, Any]]:
    """Every procedure's draft by key (the definitions list's 草稿 column)."""
    latest = {d.key: d.version for d in definitions.latest_all(session)}
    found = {}
    for draft in session.scalars(select(DefinitionDraft).order_by(DefinitionDraft.key)):
        found[draft.key] = view(session, draft, latest.get(draft.key, draft.base_version or 0))
    return found


def draft_xml(session: Session, key: str) -> str:
    draft = get(session, key)
    if draft is None:
        raise NotFound(NO_DRAFT)
    return draft.bpmn_xml


def form_for_edit(session: Session, registry: FormRegistry, key: str, form_key: str) -> tuple[Schema, str]:
    """The form as the editor opens it, and where it comes from: the draft's change ('draft'),
    the latest version's snapshot ('version'), the file ('file') or a new form ('new')."""
    if not is_form_key(form_key):
        raise NotFound(BAD_FORM_KEY)
    definitions.latest(session, key)
    changed = draft_forms(get(session, key))
    if form_key in changed:
        return changed[form_key], "draft"
    snapshots = latest_snapshots(session, key)
    if form_key in snapshots:
        return snapshots[form_key], "version"
    if registry.file_exists(form_key):
        return registry.get(form_key).schema, "file"
    return {"title": "", "type": "object", "properties": {}, "required": []}, "new"


def available_forms(session: Session, registry: FormRegistry, key: str) -> dict[str, Schema]:
    """Every form a draft of `key` may name: the procedure's current forms and the draft's own."""
    return {**current_forms(session, key, registry), **draft_forms(get(session, key))}


# ----- writing ------------------------------------------------------------------------------------


def _retrying(action: Callable[[], T]) -> T:
    """Two first saves at once: the second meets the unique key and runs again on the draft."""
    try:
        return action()
    except IntegrityError:
        return action()


def _editable(session: Session, actor: Actor, key: str) -> tuple[DefinitionDraft, int]:
    """The draft of `key`, created from its latest version when there is none; NotFound when the
    procedure is not deployed."""
    latest = definitions.latest(session, key)
    draft = get(session, key)
    if draft is None:
        draft = DefinitionDraft(key=key, base_version=latest.version, bpmn_xml=latest.bpmn_xml, forms="{}",
                                status=DRAFT_EDITING, comment="", updated_by=actor.username,
                                updated_at=clock.now())
        session.add(draft)
    return draft, latest.version


def _touched(draft: DefinitionDraft, actor: Actor, changed: bool) -> dict[str, Any]:
    """After a change: a submitted draft whose content changed is being edited again."""
    now = clock.now()
    if changed and draft.status == DRAFT_SUBMITTED:
        draft.status = DRAFT_EDITING
    draft.updated_by, draft.updated_at = actor.username, now
    return {"saved_at": clock.iso(now), "status": draft.status}


def save(db: Database, actor: Actor, key: str, xml: Any, comment: Any = None) -> dict[str, Any]:
    """Autosave (and create) the draft's diagram. Malformed or unsafe XML is refused (422) and
    nothing is stored; a draft based on an older version is saved and says so (`stale`)."""
    require_designer(actor)
    if not isinstance(xml, str) or not xml.strip():
        raise Invalid(NO_XML, [_detail(NO_XML)])
    safe_parse(xml)
    note = _note(comment) if comment is not None else None

    def run() -> dict[str, Any]:
        with db.write() as session:
            draft, latest = _editable(session, actor, key)
            changed = draft.bpmn_xml != xml
            draft.bpmn_xml = xml
            if note is not None:
                draft.comment = note
            result = _touched(draft, actor, changed)
            return {**result, "base_version": draft.base_version, "latest_version": latest,
                    "stale": stale_message(draft.base_version, latest)}

    return _retrying(run)


def set_form(db: Database, actor: Actor, key: str, form_key: str, schema: Any) -> dict[str, Any]:
    """The draft's version of one form (service.form_checks; a bad one stores nothing)."""
    require_designer(actor)
    if not is_form_key(form_key):
        raise Invalid(BAD_FORM_KEY, [{"field": "", "message": BAD_FORM_KEY}])
    check_form(schema)

    def run() -> dict[str, Any]:
        with db.write() as session:
            draft, _latest = _editable(session, actor, key)
            forms = draft_forms(draft)
            changed = forms.get(form_key) != schema
            forms[form_key] = schema
            draft.forms = json.dumps(forms, ensure_ascii=False)
            return {**_touched(draft, actor, changed), "form_key": form_key}

    return _retrying(run)


def reset_form(db: Database, actor: Actor, key: str, form_key: str) -> dict[str, Any]:
    """Drop the draft's change of one form: the deployment takes the procedure's current one."""
    require_designer(actor)
    with db.write() as session:
        draft = get(session, key)
        forms = draft_forms(draft)
        if draft is None or form_key not in forms:
            raise NotFound("草稿没有修改该表单")
        forms.pop(form_key)
        draft.forms = json.dumps(forms, ensure_ascii=False)
        return {**_touched(draft, actor, True), "form_key": form_key}


def discard(db: Database, actor: Actor, key: str) -> bool:
    """放弃草稿: whether there was one."""
    require_designer(actor)
    with db.write() as session:
        draft = get(session, key)
        if draft is None:
            return False
        session.delete(draft)
        return True


# ----- checks, submission, deployment -------------------------------------------------------------


def check(runtime: Runtime, key: str, data: bytes | str, *, use_draft_forms: bool = False) -> dict[str, Any]:
    """The server's checks of a diagram (never deploys): {"ok", "errors", "warnings"}, with the
    procedure's forms (and with `use_draft_forms` the draft's changes) and the groups' members."""
    try:
        root = safe_parse(data)
    except Invalid as exc:
        return _answer(exc.details or [_detail(exc.message)])
    with runtime.db.read() as session:
        groups = group_members(session)
        available: dict[str, Schema] = {}
        for process in executable_keys(root) or [key]:
            available.update(current_forms(session, process, runtime.forms))
        overrides = draft_forms(get(session, key)) if use_draft_forms else {}
    try:
        checked = check_diagram(data, runtime.forms, f"{key}.bpmn", groups=groups or None,
                                form_overrides=overrides, process_forms=available)
        details = checked.warnings + ([] if groups else [{**_detail(NO_ORGANISATION), "level": "warning"}])
    except Invalid as exc:
        details = exc.details or [_detail(exc.message)]
    return _answer(_key_errors(root, key) + details)


def _answer(details: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [d for d in details if d.get("level", "error") != "warning"]
    return {"ok": not errors, "errors": errors, "warnings": [d for d in details if d.get("level") == "warning"]}


def _key_errors(root: Any, key: str) -> list[dict[str, Any]]:
    """A draft of `key` must still hold the process `key` (else it would deploy another one)."""
    keys = executable_keys(root)
    if key in keys:
        return []
    return [_detail(f"流程标识应为 {key}（流程图中为 {'、'.join(keys) or '无'}）")]


def submit(runtime: Runtime, actor: Actor, key: str, comment: Any = None) -> dict[str, Any]:
    """提交审核: the draft must pass the checks; it is marked submitted and the administrators
    get a notice."""
    require_designer(actor)
    note = _note(comment)
    with runtime.db.read() as session:
        draft = get(session, key)
        if draft is None:
            raise NotFound(NO_DRAFT)
        xml = draft.bpmn_xml
    checked = check(runtime, key, xml, use_draft_forms=True)
    if not checked["ok"]:
        raise Invalid("草稿有错误，请修正后再提交", checked["errors"] + checked["warnings"])
    now = clock.now()
    with runtime.db.write() as session:
        draft = get(session, key)
        if draft is None:
            raise NotFound(NO_DRAFT)
        latest = definitions.latest(session, key)
        draft.status, draft.submitted_by, draft.submitted_at = DRAFT_SUBMITTED, actor.username, now
        if note:
            draft.comment = note
        text = f"{actor.name or actor.username} 提交了「{latest.name}」（{key}）的草稿，请审核部署"
        session.add(Notice(kind=NOTICE_KIND, recipient_group=ADMIN_GROUP, created_at=now,
                           created_by=actor.username, text=text + (f"：{note}" if note else "")))
        return {"status": DRAFT_SUBMITTED, "submitted_at": clock.iso(now), "comment": draft.comment}


def deploy_draft(runtime: Runtime, actor: Actor, key: str, comment: Any = None, xml: Any = None) -> dict[str, Any]:
    """部署 (administrators): the given diagram, else the draft's, with the draft's forms and the
    comment (else the draft's). The draft is removed after the deployment succeeded, unless it
    changed meanwhile; a refused deployment leaves it untouched."""
    require_deployer(actor)
    note = _note(comment)
    if xml is not None and not isinstance(xml, str):
        raise Invalid(NO_XML, [_detail(NO_XML)])
    with runtime.db.read() as session:
        definitions.latest(session, key)
        draft = get(session, key)
        seen = (draft.bpmn_xml, draft.forms) if draft is not None else None
        overrides = draft_forms(draft)
        note = note or (draft.comment if draft is not None else "")
    data = xml if xml is not None else (seen[0] if seen else None)
    if not data:
        raise NotFound("没有可部署的草稿")
    problems = _key_errors(safe_parse(data), key)
    if problems:
        raise Invalid("流程图有错误，未部署", problems)
    result = deploy_bytes(runtime, data, f"{key}.bpmn", actor.username, comment=note or None,
                          form_overrides=overrides or None)
    result["draft_removed"] = False
    if seen is not None:
        with runtime.db.write() as session:
            current = get(session, key)
            if current is not None and (current.bpmn_xml, current.forms) == seen:
                session.delete(current)
                result["draft_removed"] = True
    return result
