"""The article procedure's read models (service/readmodels.py): pure projections of its history
events, written in each step's own transaction and rebuilt by `govflow rebuild-read-models`.

- `articles`: every article for the internal list (/articles), tag = its stage;
- `site_articles`: what the public site lists — only published and not withdrawn, tag = column;
- `site_bodies`: the body of each published article (kept apart: lists never read it);
- `article_returns`: one row per review return, tag = the unit (statistics, 第十一条、第十二条).

Script variables (registered_at, due_at, …) are not in the history: the deadline is computed
with the same pure rule as the diagram (`article_rules.same_day_due`), the registration and
publication times come with the steps' derived keys, the rest from the events' times."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from service import clock
from service.readmodels import Change, Event, ReadModel, Remove, Row
from workflows.article_rules import failed_points, same_day_due

ARTICLES = "articles"
SITE_ARTICLES = "site_articles"
SITE_BODIES = "site_bodies"
RETURNS = "article_returns"


def _returns(case: dict[str, Any]) -> int:
    """Returns so far: those before the last review, plus that review's if it was one."""
    return int(case.get("prior_returns") or 0) + (1 if case.get("decision") == "return" else 0)


def stage_after(event: Event) -> str | None:
    """The stage an event moves the article to, None for events that move nothing (claims,
    notices, the end)."""
    if event.action == "start":
        return "editing"
    if event.action == "message" and event.task == "withdraw":
        return "withdrawn"
    if event.action != "complete":
        return None
    if event.task == "edit":
        return "reviewing"
    if event.task == "review":
        return "editing" if event.data.get("decision") == "return" else "publishing"
    if event.task == "publish":
        return "published"
    return None


def _when(value: Any) -> str | None:
    return clock.iso(clock.parse_datetime(value)) if value else None


def project_article(event: Event) -> Iterable[Change]:
    stage = stage_after(event)
    if stage is None:
        return []
    case = event.case
    registered = _when(case.get("registered_at")) or clock.iso(event.at)
    published = _when(case.get("published_at")) if stage in ("published", "withdrawn") else None
    received = case.get("received_at")
    withdrawn = stage == "withdrawn"
    data = {
        "business_key": event.business_key,
        "title": case.get("title"),
        "column": case.get("column"),
        "author": case.get("author"),
        "source": case.get("source"),
        "reprint": case.get("reprint") is True,
        "department": case.get("department"),
        "county": case.get("county"),
        "register_group": case.get("register_group"),
        "review_group": case.get("review_group"),
        "stage": stage,
        "received_at": _when(received),
        "registered_at": registered,
        "due_at": same_day_due(received) if received else None,
        "returns": _returns(case),
        "published_at": published,
        "withdrawn_at": clock.iso(event.at) if withdrawn else None,
        "withdrawn_by": event.user if withdrawn else None,
        "withdraw_reason": event.data.get("reason") if withdrawn else None,
    }
    return [Row(str(event.instance_id), data, tag=stage, sort_at=clock.parse_datetime(registered))]


def project_site(event: Event) -> Iterable[Change]:
    stage = stage_after(event)
    key = str(event.instance_id)
    if stage == "withdrawn":
        return [Remove(key)]
    if stage != "published":
        return []
    case = event.case
    published = _when(case.get("published_at")) or clock.iso(event.at)
    return [Row(key, {
        "business_key": event.business_key,
        "title": case.get("title"),
        "column": case.get("column"),
        "author": case.get("author"),
        "source": case.get("source"),
        "department": case.get("department"),
        "county": case.get("county"),
        "published_at": published,
    }, tag=case.get("column"), sort_at=clock.parse_datetime(str(published)))]


def project_body(event: Event) -> Iterable[Change]:
    stage = stage_after(event)
    key = str(event.instance_id)
    if stage == "withdrawn":
        return [Remove(key)]
    if stage != "published":
        return []
    return [Row(key, {"body": event.case.get("body") or ""})]


def project_return(event: Event) -> Iterable[Change]:
    if event.action != "complete" or event.task != "review" or event.data.get("decision") != "return":
        return []
    case = event.case
    n = int(case.get("prior_returns") or 0) + 1
    department = case.get("department")
    return [Row(f"{event.instance_id}:{n}", {
        "department": department,
        "county": case.get("county"),
        "at": clock.iso(event.at),
        "by": event.user,
        "returned_points": failed_points(event.data.get("checks"), event.data.get("check_comments")),
    }, tag=department, sort_at=event.at)]


READ_MODELS: tuple[ReadModel, ...] = (
    ReadModel(ARTICLES, "网站稿件（全部）", project_article),
    ReadModel(SITE_ARTICLES, "网站已发布稿件", project_site),
    ReadModel(SITE_BODIES, "网站稿件正文", project_body),
    ReadModel(RETURNS, "网站稿件审核退回", project_return),
)
