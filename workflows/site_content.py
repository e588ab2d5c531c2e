"""What the public site (网站) shows, read only from the article procedure's read models
(`site_articles`: published and not withdrawn, `site_bodies`: their bodies) and its settings —
never from workflow state, so an article is on the site exactly while its read-model row exists
— and how every public page answers: cached by ETag, a Content-Security-Policy that runs no
script, and a Chinese 404 page."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Response, render_template, request
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import attachments, config_store, policy, readmodels
from service.attachment_types import DOC, DOCX, JPEG, OFD, PDF, PNG, XLS, XLSX
from service.html_clean import clean
from service.procedure import SettingSpec
from service.store.attachment_models import Attachment
from service.store.models import Instance, ReadRow
from service.web.dates import fmt_dt, to_datetime
from workflows import article_rules

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PROCESS = article_rules.PROCESS_KEY  # the procedure whose read models and settings the site reads
ARTICLES = "site_articles"
BODIES = "site_bodies"
REGISTERED = "articles"  # every article, published or not (workflows/article_models.py)
PER_PAGE = 20
HOME_PER_COLUMN = 5
HOME_LATEST = 10

# What the site serves: images inline, PDF/OFD and office documents as downloads (no text files:
# a browser could be talked into rendering one).
IMAGE_TYPES = frozenset({JPEG.media_type, PNG.media_type})
DOWNLOAD_TYPES = frozenset(t.media_type for t in (PDF, OFD, DOCX, XLSX, DOC, XLS))
SERVED_TYPES = IMAGE_TYPES | DOWNLOAD_TYPES

SITE_NAME = SettingSpec("site_name", "人大网站", "网站名称：公共网站（/site/）页眉显示的网站名称，如“临沧人大网”",
                        unit="", minimum=1, maximum=40)
SITE_OFFICE = SettingSpec("site_office", "人大常委会办公室",
                          "网站主办单位：公共网站页脚显示的主办单位名称，如“临沧市人大常委会办公室”",
                          unit="", minimum=1, maximum=60)

CSP = ("default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'none'")
NOT_FOUND_TEXT = "您访问的页面不存在或已撤下"


# ----- settings -----------------------------------------------------------------------------------


def setting(spec: SettingSpec) -> str:
    """The site's own text settings (stored as `article_publication.<key>` through the declaration)."""
    return _text(f"{PROCESS}.{spec.key}", str(spec.default))


def _text(key: str, default: str) -> str:
    try:
        value = config_store.get(key)
    except KeyError:  # the procedure is not installed (a platform test): the declared default
        return default
    return str(value) if value not in (None, "") else default


def columns() -> list[str]:
    """The columns in the setting's order (split as the forms split it: , ， 、 and newlines),
    a repeated one once."""
    return list(dict.fromkeys(article_rules.split_columns(_text(article_rules.COLUMNS_SETTING,
                                                                article_rules.COLUMNS_DEFAULT))))


def site() -> dict[str, Any]:
    """What every page's frame shows: the header's name, the column bar, the footer's office."""
    return {"site_name": setting(SITE_NAME), "site_office": setting(SITE_OFFICE), "columns": columns()}


# ----- rows ---------------------------------------------------------------------------------------


def day(value: Any) -> str:
    return fmt_dt(value)[:10]


def _item(row: dict[str, Any]) -> dict[str, Any]:
    published = row.get("published_at") or row.get("sort_at")
    return {"id": row["instance_id"], "title": row.get("title") or "（无标题）", "column": row.get("column") or row.get("tag"),
            "author": row.get("author") or "", "source": row.get("source") or "",
            "published_at": published, "date": day(published), "published_text": fmt_dt(published)}


def latest(session: Session, column: str | None = None, limit: int = HOME_LATEST, offset: int = 0
           ) -> list[dict[str, Any]]:
    """Published articles newest first, of one column or of all."""
    return [_item(r) for r in readmodels.rows(session, ARTICLES, column, limit, offset)]


def count(session: Session, column: str) -> int:
    return int(session.scalar(select(func.count(ReadRow.id)).where(ReadRow.model == ARTICLES,
                                                                 ReadRow.tag == column)) or 0)


def _row(session: Session, model: str, instance_id: int) -> ReadRow | None:
    return session.scalar(select(ReadRow).where(ReadRow.model == model, ReadRow.row_key == str(instance_id)))


def is_published(session: Session, instance_id: int) -> bool:
    """Whether the case is an article on the site now (published, not withdrawn)."""
    return session.scalar(select(ReadRow.id).where(ReadRow.model == ARTICLES,
                                                   ReadRow.row_key == str(instance_id))) is not None


def _data(row: ReadRow | None) -> dict[str, Any]:
    if row is None:
        return {}
    try:
        found = json.loads(row.data)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def article(session: Session, instance_id: int) -> dict[str, Any] | None:
    """A published article with its body (cleaned again here) and its downloads; None when the
    site does not carry it."""
    row = _row(session, ARTICLES, instance_id)
    if row is None:
        return None
    found = _item({"instance_id": row.instance_id, "tag": row.tag, "sort_at": row.sort_at, **_data(row)})
    found["body"] = cleaned(_data(_row(session, BODIES, instance_id)).get("body"))
    found["files"] = downloads(session, instance_id)
    return found


def registered(session: Session, instance_id: int) -> dict[str, Any]:
    """An article as registered, published or not (the internal read model `articles`): what the
    preview of a later step shows besides the posted form (the author and source)."""
    return _data(_row(session, REGISTERED, instance_id))


def downloads(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """The case's files a reader may download (images are in the body): of a type the site
    serves, and only those the policy lets the public have."""
    inst = session.get(Instance, instance_id)
    if inst is None:
        return []
    rows = session.scalars(select(Attachment).where(Attachment.instance_id == instance_id,
                                                    Attachment.media_type.in_(sorted(DOWNLOAD_TYPES)))
                           .order_by(Attachment.id))
    return [{"id": r.id, "filename": r.filename, "size_text": attachments.size_text(r.size)}
            for r in rows if policy.may_publish_attachment(inst, r.personal)]


def cleaned(body: Any) -> Markup:
    """The body through the one sanitiser, again on output: whatever a row holds (an older
    sanitiser's output, a hand-made row), no script, style or event attribute reaches a reader."""
    return Markup(clean(body if isinstance(body, str) else ""))


def preview_date(now: datetime) -> str:
    return fmt_dt(to_datetime(now))


# ----- responses ----------------------------------------------------------------------------------


def secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


def page(template: str, **context: Any) -> Response:
    """A public page: the same bytes for everyone, so `public, no-cache` with a strong ETag of
    them — a reader's browser asks again each time and gets 304 while nothing changed."""
    html = render_template(template, **site(), **context)
    response = secured(Response(html, 200, content_type="text/html; charset=utf-8"))
    response.headers["Cache-Control"] = "public, no-cache"
    response.set_etag(hashlib.sha256(html.encode("utf-8")).hexdigest())
    return response.make_conditional(request)


def private_page(template: str, **context: Any) -> Response:
    """A page only its requester may see (the preview): never stored by any cache."""
    response = secured(Response(render_template(template, **site(), **context), 200,
                                content_type="text/html; charset=utf-8"))
    response.headers["Cache-Control"] = "no-store"
    return response


def not_found() -> Response:
    """The site's 404: in Chinese, in the site's frame, for what is not (or no longer) there."""
    response = secured(Response(render_template("site/not_found.html", message=NOT_FOUND_TEXT, **site()),
                                404, content_type="text/html; charset=utf-8"))
    response.headers["Cache-Control"] = "no-cache"
    return response
