"""附件 of a case: the rules (which files, how large, how many), storing them with their history
row, listing them as a user may see them, and reading one back.

Files live in the database (`attachments` for what they are, `attachment_blobs` for the bytes),
so every node on one PostgreSQL serves them and a backup holds them; never in the engine's state
JSON. Which kinds a file may have, and which files are personal data, is the procedure's
(`Procedure.attachments`, service/attachment_rules.py): by default a file uploaded at
registration, or of a personal kind (来信扫描件, 身份证明), belongs to the petitioner's personal
data: it is listed to everyone who sees the case, but its name and its bytes only to those the
policy lets see that data in clear. Who may upload or open what is asked of service.policy."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, config_store, hash_chain, policy, procedure, queries
from service.actors import Actor
from service.attachment_rules import DEFAULT as DEFAULT_RULES
from service.attachment_rules import AttachmentRules
from service.attachment_types import ALLOWED_TEXT, clean_filename, detect, extension
from service.errors import Forbidden, GovFlowError, Invalid, NotFound
from service.store import statements as stmt
from service.store.attachment_models import Attachment, AttachmentBlob
from service.store.db import Database, RawTx
from service.store.fastsql import FastSql
from service.store.models import HumanTask, Instance

START = "start"  # task_bpmn_id of a file uploaded with the registration
CASE = "case"  # task_bpmn_id of a file added on the case page outside any step of the uploader's
MAX_FILES_PER_REQUEST = 5
MB = 1024 * 1024

NEW_ATTACHMENT = stmt.insert(Attachment, stmt.params(
    "instance_id task_bpmn_id task_id kind filename media_type size sha256 uploaded_by uploaded_at personal"),
    defaulted=("id",), returning="id")
NEW_BLOB = stmt.insert(AttachmentBlob, stmt.params("attachment_id content"))
COUNT = "SELECT COUNT(*) FROM attachments WHERE instance_id = :id"
LOCK_CASE = "SELECT id FROM instances WHERE id = :id FOR UPDATE"


class TooLarge(GovFlowError):
    """A file over the size limit (413, with the limit in the message)."""

    status = 413
    code = "too_large"


def rules_of(process_key: str | None) -> AttachmentRules:
    """The procedure's attachment rules (the default ones for a procedure not installed)."""
    declared = procedure.get(process_key)
    return declared.attachments if declared is not None else DEFAULT_RULES


def max_mb() -> int:
    return int(config_store.get("attachments.max_mb"))


def max_per_case() -> int:
    return int(config_store.get("attachments.max_per_case"))


def request_limit() -> int:
    """The body size an upload request may have: its files at their limit, plus the form."""
    return MAX_FILES_PER_REQUEST * max_mb() * MB + MB


@dataclass(frozen=True)
class Upload:
    """One file as checked: its clean name, kind, the type its content proved to be."""

    filename: str
    kind: str
    media_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _refused(message: str, field: str = "file") -> Invalid:
    return Invalid(message, [{"field": field, "message": message}])


def _kind(kind: str | None, rules: AttachmentRules, at_registration: bool = False) -> str:
    """The kind a file gets (the procedure's default when none was chosen), or 422."""
    chosen = (kind or "").strip() or rules.default_kind
    refusal = rules.kind_refusal(chosen, at_registration)
    if refusal is not None:
        raise _refused(refusal, "kind")
    return chosen


def check(raw_name: str | None, content: bytes, kind: str | None, rules: AttachmentRules | None = None) -> Upload:
    """A file a case may carry, or the reason it may not (nothing is stored either way). The
    kind is checked against `rules` when the caller knows the case's procedure; otherwise (an
    upload to an existing case, whose procedure `add` reads) when it is stored."""
    kind = _kind(kind, rules) if rules is not None else (kind or "").strip()
    filename = clean_filename(raw_name)
    limit = max_mb()
    if len(content) > limit * MB:
        raise TooLarge(f"文件“{filename}”超过 {limit} MB，未上传", [{"field": "file", "message": f"文件超过 {limit} MB"}])
    if not content:
        raise _refused(f"“{filename}”是空文件，未上传")
    ext = extension(filename)
    found = detect(content, ext)
    if found is None:
        what = f"“{filename}”的内容与扩展名 {ext} 不符" if ext else f"“{filename}”没有扩展名"
        raise _refused(f"{what}：{ALLOWED_TEXT}")
    return Upload(filename=filename, kind=kind, media_type=found.media_type, content=content)


def read(stream: IO[bytes], raw_name: str | None, kind: str | None, rules: AttachmentRules | None = None) -> Upload:
    """Read an uploaded stream (at most one byte past the limit) and check it."""
    content = stream.read(max_mb() * MB + 1)
    return check(raw_name, content, kind, rules)


# ----- storing ------------------------------------------------------------------------------------


def _history_text(upload: Upload, personal: bool) -> str:
    # a personal file's name may itself be personal data (张三身份证.jpg): the timeline, which
    # everyone who sees the case reads, names only its kind
    return f"上传附件（{upload.kind}）" if personal else f"上传附件 {upload.filename}（{upload.kind}）"


def store(sql: FastSql, handle: Session | RawTx, instance_id: int, uploads: list[Upload], username: str,
          step: tuple[str, str | None, str | None], now: datetime,
          rules: AttachmentRules = DEFAULT_RULES) -> list[int]:
    """Write the files, their bytes and one history row each inside the caller's transaction
    (the registration's own, or an upload's); refuses (Invalid) a kind not of the procedure's
    `rules` and past the per-case count, before anything is written.
    `step` is (bpmn id or START/CASE, task id, step name)."""
    uploads = [dataclasses.replace(u, kind=_kind(u.kind, rules, step[0] == START)) for u in uploads]
    if sql.postgresql:
        sql.rows(handle, LOCK_CASE, {"id": instance_id})  # concurrent uploads count one after another
    limit = max_per_case()
    have = int(sql.rows(handle, COUNT, {"id": instance_id})[0][0])
    if have + len(uploads) > limit:
        raise _refused(f"每个案件最多 {limit} 个附件，本案已有 {have} 个，未上传")
    bpmn_id, task_id, task_name = step
    ids = []
    for upload in uploads:
        personal = rules.personal(upload.kind, at_registration=bpmn_id == START)
        new_id = int(sql.rows(handle, NEW_ATTACHMENT, {
            "instance_id": instance_id, "task_bpmn_id": bpmn_id, "task_id": task_id, "kind": upload.kind,
            "filename": upload.filename, "media_type": upload.media_type, "size": upload.size,
            "sha256": upload.sha256, "uploaded_by": username, "uploaded_at": sql.when(now), "personal": personal,
        })[0][0])
        sql.run(handle, NEW_BLOB, {"attachment_id": new_id, "content": upload.content})
        # the history row of an upload: the columns it says, the others NULL; chained to the case's
        hash_chain.write_history(sql, handle, [{
            "instance_id": instance_id, "at": now, "username": username, "action": "attach",
            "task_bpmn_id": None if bpmn_id in (START, CASE) else bpmn_id, "task_name": task_name,
            "task_id": task_id, "comment": _history_text(upload, personal)}])
        ids.append(new_id)
    return ids


def at_registration(sql: FastSql, uploads: list[Upload], username: str, process_key: str | None = None
                    ) -> Callable[[RawTx, dict[str, Any]], None]:
    """What Runtime.start runs inside the registration's transaction: the case and its letters
    are committed together, or neither is."""
    rules = rules_of(process_key)

    def write(tx: RawTx, result: dict[str, Any]) -> None:
        store(sql, tx, int(result["id"]), uploads, username, (START, None, "登记"), clock.now(), rules)

    return write


def add(db: Database, actor: Actor, instance_id: int, uploads: list[Upload],
        task_id: str | None = None) -> list[int]:
    """Files added to a case later (the case page, a task's page, the API): by someone who may act
    on one of its open tasks (with `task_id`: that task), or its procedure's owners."""
    if not uploads:
        raise _refused("请选择要上传的文件")
    if len(uploads) > MAX_FILES_PER_REQUEST:
        raise _refused(f"一次最多上传 {MAX_FILES_PER_REQUEST} 个文件")
    with db.write() as session:
        inst = queries.visible_instance(session, actor, instance_id)
        tasks = list(session.execute(select(HumanTask.id, HumanTask.bpmn_id, HumanTask.name,
                                            HumanTask.candidate_groups, HumanTask.assignee)
                                     .where(HumanTask.instance_id == inst.id, HumanTask.state == "open")
                                     .order_by(HumanTask.created_at)))
        mine = [t for t in tasks if policy.may_act(actor, t.candidate_groups, t.assignee)]
        if task_id is not None:
            mine = [t for t in mine if t.id == task_id]
            if not mine:
                raise Forbidden("该任务不是您的待办或已办理，不能为其上传附件")
        elif not policy.may_attach(actor, inst, [(t.candidate_groups, t.assignee) for t in tasks]):
            raise Forbidden("您无权为此案件上传附件")
        step = (mine[0].bpmn_id, mine[0].id, mine[0].name) if mine else (CASE, None, None)
        return store(db.sql, session, inst.id, uploads, actor.username, step, clock.now(),
                     rules_of(inst.process_key))


# ----- reading ------------------------------------------------------------------------------------


def masked_name(row: Attachment) -> str:
    return f"{row.kind}（已隐藏）"


def listing(session: Session, actor: Actor, inst: Instance) -> list[dict[str, Any]]:
    """A case's files as this user may see them (the caller has checked the case is visible): a
    personal file outside the readers keeps its kind, size, uploader and time, not its name."""
    rows = session.scalars(select(Attachment).where(Attachment.instance_id == inst.id).order_by(Attachment.id))
    seen: bool | None = None
    out = []
    for row in rows:
        if row.personal and seen is None:
            seen = policy.may_open_attachment(actor, inst, personal=True)
        allowed = not row.personal or bool(seen)
        out.append({
            "id": row.id, "instance_id": row.instance_id, "kind": row.kind,
            "filename": row.filename if allowed else masked_name(row),
            "media_type": row.media_type, "size": row.size, "sha256": row.sha256 if allowed else None,
            "step": row.task_bpmn_id, "task_id": row.task_id,
            "uploaded_by": row.uploaded_by, "uploaded_at": clock.iso(row.uploaded_at),
            "personal": row.personal, "masked": not allowed, "may_download": allowed,
        })
    return out


def visible_listing(session: Session, actor: Actor, instance_id: int) -> list[dict[str, Any]]:
    return listing(session, actor, queries.visible_instance(session, actor, instance_id))


def open_file(session: Session, actor: Actor, attachment_id: int) -> tuple[Attachment, bytes]:
    """One file and its bytes, for someone who sees its case (and, for a personal file, the
    personal data of it)."""
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound("附件不存在")
    inst = queries.visible_instance(session, actor, row.instance_id)
    if not policy.may_open_attachment(actor, inst, personal=row.personal):
        raise Forbidden("该附件含个人信息，您无权查看")
    content = session.scalar(select(AttachmentBlob.content).where(AttachmentBlob.attachment_id == row.id))
    if content is None:
        raise NotFound("附件内容不存在")
    return row, bytes(content)


def may_upload(session: Session, actor: Actor, inst: Instance, task_id: str | None = None) -> bool:
    """Whether the upload form is shown (the same rule `add` applies)."""
    tasks = list(session.execute(select(HumanTask.id, HumanTask.candidate_groups, HumanTask.assignee)
                                 .where(HumanTask.instance_id == inst.id, HumanTask.state == "open")))
    if task_id is not None:
        return any(t.id == task_id and policy.may_act(actor, t.candidate_groups, t.assignee) for t in tasks)
    return policy.may_attach(actor, inst, [(t.candidate_groups, t.assignee) for t in tasks])


def size_text(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} 字节"
