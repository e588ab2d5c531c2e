"""The article procedure's own pages and API: the list of articles (`/articles`, from the read
model `articles`, filtered by stage and column) and 撤稿 (`POST /api/v1/articles/<id>/withdraw`).
Who may see and withdraw is asked of the one policy (service/policy.py); the case panel
(templates/case_panels/article_publication.html) renders the article as it reads."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import clock, policy, queries
from service.actors import Actor
from service.due_marks import due_state
from service.errors import Conflict, Forbidden, Invalid, NotFound
from service.html_clean import clean
from service.store.models import Instance, ReadRow
from service.web.api_support import api_actor, json_body, once, token_required
from service.web.context import csrf, services
from service.web.guards import current_actor, group_names
from workflows.article_models import ARTICLES
from workflows.article_rules import PROCESS_KEY, STAGES, columns

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAGE_SIZE = 50
WITHDRAW = "withdraw"
# Who reviews a county's articles (第十一条): sees that county's list though no starter.
COUNTY_REVIEWERS = "county_*_leader"

pages = Blueprint("article_pages", __name__, template_folder=str(TEMPLATES))
api = Blueprint("article_api", __name__, url_prefix="/api/v1")
pages.register_blueprint(api)
csrf.exempt(api)


@pages.app_template_filter("article_html")
def article_html(value: Any) -> Markup:
    """An article body as HTML for the case panel: cleaned once more by the one sanitiser (what
    is stored is already clean; this keeps the page safe whatever the data's origin)."""
    return Markup(clean(str(value or "")))  # noqa: S704 - the output of the allow-list sanitiser


# ----- who sees which articles ---------------------------------------------------------------


def may_list(actor: Actor) -> bool:
    """The list is for those who see every article (owners, supervisors, admin), those who may
    register one (county web admins) and the county reviewers; each sees what the policy shows."""
    return policy.sees_all(actor, PROCESS_KEY) or policy.may_start(actor, PROCESS_KEY) \
        or any(fnmatchcase(g, COUNTY_REVIEWERS) for g in actor.groups)


def article_rows(session: Session, actor: Actor, stage: str | None, column: str | None) -> list[dict[str, Any]]:
    """The `articles` rows this user may see, newest registration first; a county's users see the
    cases they take part in (their county's), by the policy's own case filter."""
    query = select(ReadRow).where(ReadRow.model == ARTICLES)
    if stage:
        query = query.where(ReadRow.tag == stage)
    if column:  # narrowed in SQL on the JSON text, checked exactly below
        query = query.where(ReadRow.data.contains(json.dumps({"column": column}, ensure_ascii=False)[1:-1],
                                                  autoescape=True))
    if not policy.sees_all(actor, PROCESS_KEY):
        seen = policy.visible(select(Instance.id).where(Instance.process_key == PROCESS_KEY), actor)
        query = query.where(ReadRow.instance_id.in_(seen))
    query = query.order_by(ReadRow.sort_at.desc(), ReadRow.id.desc())
    found = []
    for row in session.scalars(query):
        data = json.loads(row.data)
        if column and data.get("column") != column:
            continue
        found.append({"id": row.instance_id, **data})
    return found


def _mark(row: dict[str, Any]) -> dict[str, Any]:
    """A row with its deadline mark: 已超期 / 即将到期 until published, 超期发布 after."""
    unpublished = row.get("stage") not in ("published", "withdrawn")
    state = due_state(row.get("due_at"), "running" if unpublished else "completed", row.get("published_at"))
    return {**row, "due_state": state, "stage_name": STAGES.get(str(row.get("stage")), row.get("stage"))}


# ----- the list page -------------------------------------------------------------------------


@pages.get("/articles")
@login_required
def article_list() -> Any:
    actor = current_actor()
    if not may_list(actor):
        raise Forbidden("只有网站管理员、分管领导和县（区）人大网站管理员、分管领导可以查看稿件列表")
    stage = request.args.get("stage") or None
    column = request.args.get("column") or None
    if stage and stage not in STAGES:
        raise Invalid("稿件状态不正确", [{"field": "stage", "message": "请选择有效的状态"}])
    try:
        page = max(int(request.args.get("page") or 1), 1)
    except ValueError:
        page = 1
    with services().db.read() as session:
        found = article_rows(session, actor, stage, column)
        names = group_names(session)
    shown = [_mark(r) for r in found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]]
    args = {k: v for k, v in (("stage", stage), ("column", column)) if v}
    return render_template(
        "article/list.html", rows=shown, stages=STAGES, columns=columns(), stage=stage, column=column,
        names=names, total=len(found), now=clock.now(),
        may_register=policy.may_start(actor, PROCESS_KEY),
        prev_url=url_for("article_pages.article_list", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("article_pages.article_list", **args, page=page + 1)
        if len(found) > page * PAGE_SIZE else None,
    )


# ----- 撤稿 (API) ----------------------------------------------------------------------------


def _article_row(session: Session, instance_id: int) -> dict[str, Any]:
    row = session.scalar(select(ReadRow).where(ReadRow.model == ARTICLES, ReadRow.row_key == str(instance_id)))
    return json.loads(row.data) if row is not None else {}


@api.post("/articles/<int:instance_id>/withdraw")
@token_required
def withdraw(instance_id: int) -> Any:
    """撤稿 of a published article with its reason (网站管理员, 办公室分管领导): it leaves the public
    site in the same transaction; the history keeps who, when and why."""
    actor = api_actor()
    policy.require_message(actor, PROCESS_KEY, WITHDRAW)
    body = json_body(optional=True)
    with services().db.read() as session:
        inst = session.get(Instance, instance_id)
        if inst is None or inst.process_key != PROCESS_KEY:
            raise NotFound("稿件不存在")
        queries.visible_instance(session, actor, instance_id)
    payload = {"reason": body.get("reason")} if body.get("reason") is not None else {}

    def send() -> tuple[dict[str, Any], int]:
        with services().db.read() as session:
            stage = _article_row(session, instance_id).get("stage")
        if stage == "withdrawn":
            raise Conflict("稿件已撤稿")
        if stage != "published":
            raise Conflict("稿件尚未发布，不能撤稿")
        services().runtime.send_message(instance_id, WITHDRAW, payload, actor)
        with services().db.read() as session:
            inst = session.get(Instance, instance_id)
            assert inst is not None
            data = _article_row(session, instance_id)
            return {"id": inst.id, "business_key": inst.business_key, "status": inst.status,
                    "withdrawn_at": data.get("withdrawn_at")}, 200

    return once(send)


BLUEPRINTS: tuple[Blueprint, ...] = (pages,)
