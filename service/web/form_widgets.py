"""The widgets of service/form_kinds.py's fields in a page (drawn by _form_widgets.html):

- rich text: a textarea that static/richtext.js turns into a Quill editor (without script the
  textarea is the field), with 预览 (`x-preview-url`) and, with `x-image-upload` on a page where
  the case exists, an image button that uploads to the case's attachments;
- a checklist: one row per point (its title, 通过/不通过 radios, the comment input), each row
  with its own error (`checks.<key>` or `<comments>.<key>`); a refused post shows the choices again;
- choices from a setting: a select of the setting's items as they are now.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from service.form_kinds import CHOICES, comment_targets, is_checklist, is_rich_text, setting_choices

IMAGE_HINT = "图片请在登记后的编辑环节插入"
COMMENT_MAX = 500  # a checklist comment whose schema states no maxLength


def describe_kind(schema: dict[str, Any], name: str, prop: dict[str, Any], values: dict[str, Any],
                  paths: dict[str, str]) -> dict[str, Any] | None:
    """The widget keys of a field of these kinds (merged into formview's field), else None."""
    if is_checklist(prop):
        comments = schema.get("properties", {}).get(str(prop.get("x-comments") or ""))
        return _checklist(name, prop, comments if isinstance(comments, dict) else {}, values, paths)
    if name in comment_targets(schema):
        return {"widget": "merged"}  # drawn inside its checklist's rows
    if is_rich_text(prop):
        return {"widget": "richtext", "preview_url": prop.get("x-preview-url") or None,
                "image_upload": prop.get("x-image-upload") is True, "upload_url": None, "upload_task": None,
                "image_hint": IMAGE_HINT if prop.get("x-image-upload") is True else ""}
    if isinstance(prop.get(CHOICES), str):
        return {"widget": "select", "options": [(item, item) for item in setting_choices(prop[CHOICES])]}
    return None


def _shown(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _checklist(name: str, prop: dict[str, Any], comments_prop: dict[str, Any], values: dict[str, Any],
               paths: dict[str, str]) -> dict[str, Any]:
    comments = str(prop.get("x-comments") or "")
    comment_props = comments_prop.get("properties") if isinstance(comments_prop.get("properties"), dict) else {}
    posted = any(f"{name}-{key}" in values for key in prop["properties"]) or name in values
    stored = values.get(name) if isinstance(values.get(name), dict) else {}
    stored_comments = values.get(comments) if isinstance(values.get(comments), dict) else {}
    rows = []
    for key, sub in prop["properties"].items():
        if posted:  # a refused submission: the raw posted radios and inputs
            chosen, comment = _shown(values.get(f"{name}-{key}")), _shown(values.get(f"{comments}-{key}"))
        else:
            chosen, comment = _shown(stored.get(key)), _shown(stored_comments.get(key))
        rows.append({
            "key": key,
            "title": str(sub.get("title", key)) if isinstance(sub, dict) else key,
            "radio": f"{name}-{key}",
            "comment_name": f"{comments}-{key}" if comments else "",
            "value": chosen,
            "comment": comment,
            "comment_max": (comment_props.get(key) or {}).get("maxLength") or COMMENT_MAX,
            "error": paths.get(f"{name}.{key}") or paths.get(f"{comments}.{key}"),
        })
    own = paths.get(name) or paths.get(comments)
    return {"widget": "checklist", "checks": rows, "error": own, "comments_name": comments}


def with_upload(fields: list[dict[str, Any]], instance_id: int | None, task_id: str | None) -> None:
    """Rich-text fields that upload images get the case's upload URL (a task page), else the hint."""
    for field in fields:
        if field.get("widget") != "richtext" or not field.get("image_upload"):
            continue
        if instance_id is not None:
            field["upload_url"] = url_for("attachments.upload", instance_id=instance_id)
            field["upload_task"] = task_id
            field["image_hint"] = ""
