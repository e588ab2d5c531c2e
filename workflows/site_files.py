"""The public site's files (`/site/files/<attachment id>`): the images of an article's body and
its downloads. A file of an article on the site is public (cached, revalidated by its sha256);
any other file only for a logged-in user who may open it on the case (service.attachments,
service.policy), never cached; everything else — unknown, of a withdrawn article, of a type the
site does not serve — is the site's Chinese 404, so nothing tells a stranger a file exists."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask_login import current_user
from sqlalchemy import select

from service import attachments, policy
from service.errors import Forbidden, NotFound
from service.store.attachment_models import Attachment, AttachmentBlob
from service.store.models import Instance
from service.web.attachment_pages import download_response
from service.web.context import services
from service.web.guards import current_actor
from workflows import site_content
from workflows.site_content import IMAGE_TYPES, SERVED_TYPES, not_found

site_files = Blueprint("site_files", __name__, url_prefix="/site")
PUBLIC_CACHE = "public, max-age=0, must-revalidate"
MAX_ID = 2**31 - 1  # an id past the database's integer is no file (not a PostgreSQL error)


def _served(row: Attachment, content: bytes, public: bool) -> Response:
    """The bytes as attachment_pages streams them, with the verified type and nosniff; an image
    is shown inline (an article's body shows it), anything else is a download."""
    response = download_response(row, content)
    if row.media_type in IMAGE_TYPES:
        response.headers["Content-Disposition"] = response.headers["Content-Disposition"].replace(
            "attachment", "inline", 1)
    if public:
        response.headers["Cache-Control"] = PUBLIC_CACHE
        response.set_etag(row.sha256)
    return response


def _not_modified(row: Attachment) -> Response:
    response = Response(status=304)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.set_etag(row.sha256)
    return response


@site_files.get("/files/<int:attachment_id>")
def site_file(attachment_id: int) -> Any:
    if attachment_id > MAX_ID:
        return not_found()
    with services().db.read() as session:
        row = session.get(Attachment, attachment_id)
        if row is None or row.media_type not in SERVED_TYPES:
            return not_found()
        inst = session.get(Instance, row.instance_id)
        if inst is not None and site_content.is_published(session, row.instance_id) \
                and policy.may_publish_attachment(inst, row.personal):
            if row.sha256 in request.if_none_match:
                return _not_modified(row)  # the reader has these bytes: none is read
            content = session.scalar(select(AttachmentBlob.content).where(AttachmentBlob.attachment_id == row.id))
            if content is None:
                return not_found()
            return _served(row, bytes(content), public=True)
        if not current_user.is_authenticated:
            return not_found()
        try:  # the case's own rule: whoever sees the case (and, for a personal file, its personal data)
            opened, content = attachments.open_file(session, current_actor(), attachment_id)
        except (Forbidden, NotFound):
            return not_found()
        return _served(opened, content, public=False)
