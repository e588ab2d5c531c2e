"""How the values of service/form_kinds.py's fields read on the case pages (case_labels.data_rows):
a rich-text value as its HTML (cleaned again on the way out, whatever the store holds) with a
plain-text line for the history, and a checklist with its comments as one small table
要点 | 通过 | 意见 instead of two raw objects."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from service.form_kinds import is_checklist, is_rich_text
from service.html_clean import clean, text_of

SUMMARY_CHARS = 200  # a rich text's plain-text line (history entries, step notes)


def kind_labels(schema: dict[str, Any]) -> dict[str, Any]:
    """What a form says about these fields: its rich-text names and its checklists' titles."""
    rich: list[str] = []
    checklists: dict[str, dict[str, Any]] = {}
    for name, prop in schema.get("properties", {}).items():
        if is_rich_text(prop):
            rich.append(name)
        elif is_checklist(prop):
            titles = {key: str(sub.get("title", key)) if isinstance(sub, dict) else key
                      for key, sub in prop["properties"].items()}
            checklists[name] = {"titles": titles, "comments": str(prop.get("x-comments") or "")}
    return {"rich": rich, "checklists": checklists}


def merge_kind_labels(into: dict[str, Any], own: dict[str, Any]) -> None:
    """Another form's names added to `into` (the first form that declares a name wins)."""
    rich = into.setdefault("rich", [])
    rich.extend(name for name in own.get("rich", []) if name not in rich)
    for name, checklist in own.get("checklists", {}).items():
        into.setdefault("checklists", {}).setdefault(name, checklist)


def folded(labels: dict[str, Any], data: dict[str, Any]) -> set[str]:
    """Keys shown inside another row: the comments of a checklist that is in `data`."""
    return {c["comments"] for name, c in labels.get("checklists", {}).items() if name in data and c["comments"]}


def summary(html: str) -> str:
    text = text_of(clean(html)).replace("\n", " ")
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"


def kind_row(name: str, value: Any, data: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any] | None:
    """The shown value of a rich-text or checklist field (keys of a data row), else None."""
    if name in labels.get("rich", ()) and isinstance(value, str):
        return {"value": summary(value) or "—", "html": Markup(clean(value)), "long": True}
    checklist = labels.get("checklists", {}).get(name)
    if checklist is None or not isinstance(value, dict):
        return None
    comments = data.get(checklist["comments"]) if checklist["comments"] else None
    comments = comments if isinstance(comments, dict) else {}
    rows = []
    for key, title in checklist["titles"].items():
        if key not in value:
            continue
        passed = value[key]
        comment = str(comments.get(key) or "")
        shown = "通过" if passed is True else "不通过" if passed is False else str(passed)
        rows.append({"key": key, "title": title, "passed": passed, "shown": shown, "comment": comment})
    line = "；".join(f"{r['title']}：{r['shown']}" + (f"（{r['comment']}）" if r["comment"] else "") for r in rows)
    return {"value": line or "—", "checklist": rows, "long": True}
