"""常用意见: a user's frequent comments, offered beside every comment field of a task form
(its long-text fields, `"x-widget": "textarea"` in the JSON Schema). Completing a task counts each
saved comment used in it, so the picker lists the most used first; a text the user ticks
「存为常用意见」 for is saved."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import clock
from service.errors import Invalid, NotFound
from service.store.collaboration_models import CommonComment
from service.store.db import Database

log = logging.getLogger(__name__)

MAX_PER_USER = 50
MAX_LENGTH = 500
# The task form's checkbox 「存为常用意见」: its value names the field whose text is saved.
SAVE_FIELD = "_save_common_comment"


def clean(text: Any) -> str:
    """The text as stored (trimmed), or a Chinese 422 for an empty or too long one."""
    if not isinstance(text, str):
        raise Invalid("常用意见必须是文字", [{"field": "text", "message": "应为字符串"}])
    text = text.strip()
    if not text:
        raise Invalid("常用意见不能为空", [{"field": "text", "message": "请填写常用意见的内容"}])
    if len(text) > MAX_LENGTH:
        raise Invalid(f"常用意见不能超过{MAX_LENGTH}字",
                      [{"field": "text", "message": f"已输入{len(text)}字，最多{MAX_LENGTH}字"}])
    return text


def _order(row: CommonComment) -> tuple[int, float, int]:
    """Most used first, then most recently used, then newest."""
    used = clock.parse_datetime(row.last_used_at).timestamp() if row.last_used_at else 0.0
    return -int(row.used_count or 0), -used, -row.id


def as_json(row: CommonComment) -> dict[str, Any]:
    return {"id": row.id, "text": row.text, "used_count": int(row.used_count or 0),
            "last_used_at": clock.iso(row.last_used_at), "created_at": clock.iso(row.created_at)}


def list_for(session: Session, username: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(CommonComment).where(CommonComment.username == username))
    return [as_json(r) for r in sorted(rows, key=_order)]


def _count(session: Session, username: str) -> int:
    return int(session.scalar(select(func.count(CommonComment.id)).where(CommonComment.username == username)) or 0)


def _full() -> Invalid:
    return Invalid(f"常用意见最多保存{MAX_PER_USER}条，请先删除不再使用的",
                   [{"field": "text", "message": f"已有{MAX_PER_USER}条"}])


def add(db: Database, username: str, text: Any) -> tuple[dict[str, Any], bool]:
    """Save a comment; (the comment, whether it is new). Saving a text already kept returns it."""
    text = clean(text)
    with db.write() as session:
        found = session.scalars(select(CommonComment).where(CommonComment.username == username,
                                                            CommonComment.text == text)).first()
        if found is not None:
            return as_json(found), False
        if _count(session, username) >= MAX_PER_USER:
            raise _full()
        row = CommonComment(username=username, text=text, used_count=0, created_at=clock.now())
        session.add(row)
        session.flush()
        return as_json(row), True


def delete(db: Database, username: str, comment_id: Any) -> None:
    """Delete one of the user's own comments (another user's is as unknown as a missing one)."""
    try:
        wanted = int(comment_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("常用意见不存在") from exc
    with db.write() as session:
        row = session.get(CommonComment, wanted)
        if row is None or row.username != username:
            raise NotFound("常用意见不存在")
        session.delete(row)


def comment_fields(schema: dict[str, Any]) -> list[str]:
    """The form's comment/opinion fields: its long strings (drawn as a textarea)."""
    return [name for name, prop in schema.get("properties", {}).items()
            if isinstance(prop, dict) and prop.get("type") == "string" and prop.get("x-widget") == "textarea"]


def _used(session: Session, username: str, texts: list[str], save: set[str], now: datetime) -> bool:
    """Count the saved comments found in `texts`, save those in `save`; False if the user's list
    was full and something could not be saved."""
    rows = list(session.scalars(select(CommonComment).where(CommonComment.username == username)))
    for row in rows:
        if any(row.text in text for text in texts):
            row.used_count = int(row.used_count or 0) + 1
            row.last_used_at = now
    kept = {row.text for row in rows}
    room = MAX_PER_USER - len(rows)
    fitted = True
    for text in sorted(save - kept):
        if room <= 0:
            fitted = False
            break
        session.add(CommonComment(username=username, text=text, used_count=1, last_used_at=now, created_at=now))
        room -= 1
    return fitted


def after_task(db: Database, username: str, schema: dict[str, Any], data: dict[str, Any],
               saved_fields: Iterable[str]) -> str:
    """After a task form was completed: count the comments used and save the ticked texts. Its
    own transaction, after the step's; never fails the completed task. Returns a note to add to
    the page's message ("" when all went well)."""
    fields = comment_fields(schema)
    texts = {name: data[name].strip() for name in fields if isinstance(data.get(name), str) and data[name].strip()}
    if not texts:
        return ""
    wanted = set(saved_fields)
    save = {text for name, text in texts.items() if name in wanted and len(text) <= MAX_LENGTH}
    too_long = any(name in wanted and len(text) > MAX_LENGTH for name, text in texts.items())
    try:
        with db.write() as session:
            fitted = _used(session, username, list(texts.values()), save, clock.now())
    except IntegrityError:  # the same text saved at the same moment by another tab: counted there
        log.info("common comment of %s saved concurrently", username)
        return ""
    if too_long:
        return f"；意见超过{MAX_LENGTH}字，未存为常用意见"
    if not fitted:
        return f"；常用意见已满{MAX_PER_USER}条，未能保存新的常用意见"
    return ""
