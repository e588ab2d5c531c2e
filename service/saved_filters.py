"""Saved searches per user (Camunda Tasklist's filters): a name and the query string of /search.

The stored query is the parsed criteria written back (unknown parameters dropped, malformed
ones refused), and never holds a personal value: a search by ID number is not kept. A user sees,
uses and deletes only their own filters; another user's is 404, as if it did not exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import clock, search
from service.actors import Actor
from service.errors import BadRequest, Invalid, NotFound
from service.store.db import Database
from service.store.search_models import SavedFilter

MAX_NAME = 40
MAX_QUERY = 2000
MAX_PER_USER = 100


def clean_query(raw: Any) -> str:
    """A query string as it is stored: the search's own parameters, validated, in a fixed order,
    without personal values; a leading "?" is allowed."""
    if not isinstance(raw, str):
        raise Invalid("查询条件必须是查询字符串", [{"field": "query", "message": "应为字符串，如 status=running"}])
    if len(raw) > MAX_QUERY:
        raise Invalid("查询条件过长", [{"field": "query", "message": f"最多 {MAX_QUERY} 个字符"}])
    args = dict(parse_qsl(raw.strip().removeprefix("?"), keep_blank_values=False))
    try:
        criteria = search.parse({k: v for k, v in args.items() if k in search.PARAMS})
    except BadRequest as exc:
        raise Invalid(exc.message, [{"field": "query", "message": exc.message}]) from exc
    return urlencode(search.query_string(criteria))


def as_json(row: SavedFilter) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "query": row.query, "created_at": clock.iso(row.created_at)}


def for_user(session: Session, actor: Actor) -> list[dict[str, Any]]:
    rows = session.scalars(select(SavedFilter).where(SavedFilter.username == actor.username)
                           .order_by(SavedFilter.name, SavedFilter.id))
    return [as_json(r) for r in rows]


def get(session: Session, actor: Actor, filter_id: int) -> SavedFilter:
    row = session.get(SavedFilter, filter_id)
    if row is None or row.username != actor.username:
        raise NotFound("该查询条件不存在")
    return row


def save(db: Database, actor: Actor, name: Any, query: Any) -> dict[str, Any]:
    """Store a filter under a name unique for this user (a duplicate name is 422, nothing saved)."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid("请填写查询条件的名称", [{"field": "name", "message": "名称不能为空"}])
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise Invalid("名称过长", [{"field": "name", "message": f"最多 {MAX_NAME} 个字符"}])
    stored = clean_query(query)
    duplicate = Invalid(f"已有名为“{name}”的查询条件，请换一个名称", [{"field": "name", "message": "名称重复"}])
    with db.write() as session:
        mine = select(func.count()).select_from(SavedFilter).where(SavedFilter.username == actor.username)
        if (session.scalar(mine) or 0) >= MAX_PER_USER:
            raise Invalid(f"每人最多保存 {MAX_PER_USER} 个查询条件，请先删除不用的",
                          [{"field": "name", "message": "数量已达上限"}])
        if session.scalar(select(SavedFilter.id).where(SavedFilter.username == actor.username,
                                                       SavedFilter.name == name)) is not None:
            raise duplicate
        row = SavedFilter(username=actor.username, name=name, query=stored, created_at=clock.now())
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:  # the same name saved at the same moment by a second click
            raise duplicate from exc
        return as_json(row)


def delete(db: Database, actor: Actor, filter_id: int) -> dict[str, Any]:
    with db.write() as session:
        row = get(session, actor, filter_id)
        gone = as_json(row)
        session.delete(row)
    return gone
