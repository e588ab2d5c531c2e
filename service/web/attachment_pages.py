"""附件 on the web: uploading on a case's or a task's page (and with the registration, see
starts.py), the 附件 panel the case and task pages include, downloading, and the same in the
JSON API. The rules are service/attachments.py's; who may do what, service/policy.py's.

Request bodies are limited to 2 MB app-wide; the views marked `large_body` (the upload routes
and the start form) may carry files, so their limit is the upload limit instead, decided from
the matched route before anything (the CSRF check included) reads the body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Request, Response, current_app, flash, jsonify, redirect, request, url_for
from flask_login import login_required

from service import attachments, queries
from service.attachment_rules import AttachmentRules
from service.attachment_types import ALLOWED_TEXT, BY_EXTENSION
from service.attachments import Upload
from service.errors import Forbidden, GovFlowError, Invalid, NotFound
from service.store.attachment_models import Attachment
from service.store.models import Instance
from service.web.api_support import api_actor, once, token_required
from service.web.context import services
from service.web.form_tokens import submit_once
from service.web.guards import back, current_actor, user_names

attachment_pages = Blueprint("attachments", __name__)
attachment_api = Blueprint("attachment_api", __name__, url_prefix="/api/v1")

CHUNK = 256 * 1024


# ----- the body limit of upload requests ------------------------------------------------------------


def large_body(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose requests may carry attachments (applied outermost, after login_required)."""
    view.body_limit = attachments.request_limit  # type: ignore[attr-defined]
    return view


class UploadRequest(Request):
    """The app's request class: a view marked `large_body` gets the upload limit as its
    MAX_CONTENT_LENGTH, every other one the app's."""

    @property
    def max_content_length(self) -> int | None:
        if self._max_content_length is None and self.url_rule is not None:
            limit = getattr(current_app.view_functions.get(self.url_rule.endpoint), "body_limit", None)
            if limit is not None:
                return int(limit())
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def _too_large_text() -> str:
    return (f"上传内容过大：每个附件不超过 {attachments.max_mb()} MB，"
            f"一次最多 {attachments.MAX_FILES_PER_REQUEST} 个，未上传")


@attachment_pages.errorhandler(413)
def _page_413(_exc: Any) -> Any:
    """The body was refused unread (the form with it): back to the case, saying why."""
    if request.accept_mimetypes.best == "application/json":  # the editor's image upload
        return jsonify({"error": "too_large", "message": _too_large_text(), "details": []}), 413
    flash(_too_large_text(), "error")
    return redirect(url_for("cases.instance_page", instance_id=(request.view_args or {}).get("instance_id", 0)))


@attachment_api.errorhandler(413)
def _api_413(_exc: Any) -> Any:
    return jsonify({"error": "too_large", "message": _too_large_text(), "details": []}), 413


# ----- reading the posted files ----------------------------------------------------------------------


def posted_uploads(field: str, kind: str | None, rules: AttachmentRules | None = None) -> list[Upload]:
    """The files of a multipart field, each checked (a refused one raises: nothing is stored).
    Without `rules` (an upload to an existing case) the kind is checked against the case's
    procedure when the files are stored."""
    files = [f for f in request.files.getlist(field) if f and (f.filename or "").strip()]
    if len(files) > attachments.MAX_FILES_PER_REQUEST:
        raise Invalid(f"一次最多上传 {attachments.MAX_FILES_PER_REQUEST} 个文件")
    return [attachments.read(f.stream, f.filename, kind, rules) for f in files]


def registration_uploads(process: str | None = None) -> list[Upload]:
    """The start form's files (field `attachments`, kind `attachment_kind`: one the procedure's
    registration offers)."""
    rules = attachments.rules_of(process)
    kind = request.form.get("attachment_kind") or rules.start_kinds[0]
    refusal = rules.kind_refusal(kind, at_registration=True)
    if refusal is not None:
        raise Invalid(refusal, [{"field": "attachment_kind", "message": refusal}])
    return posted_uploads("attachments", kind, rules)


def at_registration(uploads: list[Upload], process: str | None = None) -> Any:
    """The hook Runtime.start runs in the registration's transaction (None without files)."""
    if not uploads:
        return None
    return attachments.at_registration(services().db.sql, uploads, current_actor().username, process)


# ----- pages -----------------------------------------------------------------------------------------


@attachment_pages.post("/instances/<int:instance_id>/attachments")
@large_body
@login_required
def upload(instance_id: int) -> Any:
    """A file added on the case page or on a task's page (`task_id`); refused ones are flashed."""
    task_id = request.form.get("task_id") or None
    if request.accept_mimetypes.best == "application/json":
        return _upload_for_editor(instance_id, task_id)
    target = back(url_for("cases.instance_page", instance_id=instance_id))

    def add() -> tuple[str, str]:
        uploads = posted_uploads("file", request.form.get("kind"))
        attachments.add(services().db, current_actor(), instance_id, uploads, task_id)
        return target, f"已上传附件：{'、'.join(u.filename for u in uploads)}"

    try:
        return submit_once(add)  # a double click uploads once
    except (Invalid, attachments.TooLarge) as exc:
        flash(f"附件未上传：{exc.message}", "error")
        return redirect(target)


IMAGE_ONLY = "只能插入 JPG、PNG 图片"


def _upload_for_editor(instance_id: int, task_id: str | None) -> Any:
    """The same upload answered in JSON, for a rich-text editor's image button (static/richtext.js,
    `Accept: application/json`): 201 with each file's id and the `src` the article uses. A
    picture posted without a kind gets its procedure's image kind."""
    try:
        kind = request.form.get("kind") or _image_kind(instance_id)
        uploads = posted_uploads("file", kind)
        if not uploads or any(not u.media_type.startswith("image/") for u in uploads):
            raise Invalid(IMAGE_ONLY)
        ids = attachments.add(services().db, current_actor(), instance_id, uploads, task_id)
    except GovFlowError as exc:
        return jsonify(exc.to_json()), exc.status
    files = [{"id": i, "filename": u.filename, "src": f"/site/files/{i}"} for i, u in zip(ids, uploads, strict=True)]
    return jsonify({"files": files}), 201


def _image_kind(instance_id: int) -> str:
    """The case's procedure's kind of pictures (the kind is checked again when stored, after the
    case's visibility: a case one may not see answers 404 either way)."""
    with services().db.read() as session:
        inst = session.get(Instance, instance_id)
        return attachments.rules_of(inst.process_key if inst is not None else None).image_kind


def _disposition(filename: str) -> str:
    """attachment; an ASCII fallback name for old clients and the UTF-8 one (RFC 5987/6266)."""
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""

    def plain(part: str) -> str:
        return "".join(c for c in part if 32 <= ord(c) < 127 and c not in '"\\;%').strip(" .")

    fallback = (plain(stem) or "attachment") + (f".{plain(ext)}" if plain(ext) else "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_response(row: Attachment, content: bytes) -> Response:
    """The file, streamed in chunks, with the verified type and never rendered by the browser."""
    view = memoryview(content)

    def chunks() -> Iterator[bytes]:
        for offset in range(0, len(view), CHUNK):
            yield bytes(view[offset:offset + CHUNK])

    response = Response(chunks(), status=200, content_type=row.media_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(len(content))
    response.headers["Content-Disposition"] = _disposition(row.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _download(attachment_id: int, actor: Any) -> Response:
    with services().db.read() as session:
        row, content = attachments.open_file(session, actor, attachment_id)
    return download_response(row, content)


@attachment_pages.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int) -> Any:
    return _download(attachment_id, current_actor())


# ----- the 附件 panel (the case page and the task page include _attachments.html) -------------------


@attachment_pages.app_template_global()
def attachment_panel(instance_id: int, task_id: str | None = None) -> dict[str, Any] | None:
    """What _attachments.html shows: the files as this user may see them, and the upload form if
    they may add one (on a task's page: to that task, if it is theirs and open)."""
    actor = current_actor()
    with services().db.read() as session:
        try:
            inst = queries.visible_instance(session, actor, instance_id)
        except (Forbidden, NotFound):
            return None
        items = attachments.listing(session, actor, inst)
        may_upload = attachments.may_upload(session, actor, inst, task_id)
        names = user_names(session)
        rules = attachments.rules_of(inst.process_key)
    for item in items:
        item["uploader_name"] = names.get(item["uploaded_by"], item["uploaded_by"])
        item["size_text"] = attachments.size_text(item["size"])
        item["url"] = url_for("attachments.download", attachment_id=item["id"]) if item["may_download"] else None
    return {
        "instance_id": instance_id, "task_id": task_id, "files": items, "may_upload": may_upload,
        "kinds": rules.kinds, "default_kind": rules.task_kind if task_id else rules.default_kind,
        "action": url_for("attachments.upload", instance_id=instance_id),
        **upload_limits(),
    }


@attachment_pages.app_template_global()
def upload_limits(process: str | None = None) -> dict[str, Any]:
    """The limits the upload inputs state (and the browser's file picker filters by), and what a
    procedure's registration form offers (_attachment_inputs.html)."""
    rules = attachments.rules_of(process)
    return {"max_mb": attachments.max_mb(), "max_files": attachments.MAX_FILES_PER_REQUEST,
            "allowed": ALLOWED_TEXT, "accept": ",".join(sorted(BY_EXTENSION)),
            "start_kinds": rules.start_kinds, "start_label": rules.start_label, "start_hint": rules.start_hint}


# ----- JSON API --------------------------------------------------------------------------------------


@attachment_api.post("/instances/<int:instance_id>/attachments")
@large_body
@token_required
def api_upload(instance_id: int) -> Any:
    """multipart/form-data: `file` (one or more), `kind`, optional `task_id`; 201 with the case's
    new files."""
    def add() -> tuple[Any, int]:
        uploads = posted_uploads("file", request.form.get("kind"))
        ids = attachments.add(services().db, api_actor(), instance_id, uploads, request.form.get("task_id") or None)
        with services().db.read() as session:
            listed = attachments.visible_listing(session, api_actor(), instance_id)
        return [a for a in listed if a["id"] in ids], 201

    return once(add)


@attachment_api.get("/instances/<int:instance_id>/attachments")
@token_required
def api_list(instance_id: int) -> Any:
    with services().db.read() as session:
        return jsonify(attachments.visible_listing(session, api_actor(), instance_id))


@attachment_api.get("/attachments/<int:attachment_id>")
@token_required
def api_download(attachment_id: int) -> Any:
    return _download(attachment_id, api_actor())
