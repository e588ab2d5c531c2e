"""A stand-in procedure for the form kinds of service/form_kinds.py (tests/test_rich_text_forms.py,
test_checklist_form.py, test_setting_choices.py, test_browser_rich_text.py): diagram
tests/bpmn/form_kinds.bpmn, its three forms written to a temporary forms directory beside the
real ones, its one text setting (the columns a registration chooses from).

`web1` registers (rich-text body with 预览, a column from the setting), edits (the case exists:
images upload), `bgs` reviews with a five-point checklist and its comments."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.procedure import Numbering, Procedure, SettingSpec, Starters

DIAGRAM = Path(__file__).resolve().parent / "bpmn" / "form_kinds.bpmn"
KEY = "test_kinds"
COLUMNS_SETTING = f"{KEY}.columns"
COLUMNS = "人大要闻,公告通知，工作动态、县(区)人大"
POINTS = {"wording": "文字", "secrecy": "保密", "ideology": "意识形态", "ethnic_religion": "民族宗教",
          "border": "涉边"}
FAILED_NEEDS_COMMENT = "未通过的要点须填写意见"
APPROVE_WITH_FAILED = "“{title}”未通过，不能审核通过，请退回修改"

BODY = {"type": "string", "title": "正文", "contentMediaType": "text/html", "minLength": 1, "maxLength": 20000}

FORMS: dict[str, dict[str, Any]] = {
    "test_kinds_start": {
        "title": "登记稿件（测试）", "type": "object",
        "properties": {
            "title": {"type": "string", "title": "标题", "minLength": 1, "maxLength": 200},
            "column": {"type": "string", "title": "栏目", "x-choices-setting": COLUMNS_SETTING},
            "body": {**BODY, "x-preview-url": "/site/preview", "x-image-upload": True},
        },
        "required": ["title", "column", "body"], "additionalProperties": False,
    },
    "test_kinds_edit": {
        "title": "编辑稿件（测试）", "type": "object",
        "properties": {
            "body": {**BODY, "x-image-upload": True, "x-prefill": True},
            "edit_note": {"type": "string", "title": "编辑说明", "maxLength": 500},
        },
        "required": ["body"], "additionalProperties": False,
    },
    "test_kinds_review": {
        "title": "审核稿件（测试）", "type": "object",
        "properties": {
            "checks": {
                "type": "object", "title": "审核要点", "x-widget": "checklist", "x-comments": "check_comments",
                "properties": {key: {"type": "boolean", "title": title} for key, title in POINTS.items()},
                "required": list(POINTS), "additionalProperties": False,
            },
            "check_comments": {
                "type": "object", "title": "要点意见",
                "properties": {key: {"type": "string", "maxLength": 500} for key in POINTS},
                "additionalProperties": False,
            },
            "decision": {"type": "string", "title": "审核结论", "enum": ["approve", "return"],
                         "x-enum-titles": ["审核通过", "退回修改"]},
        },
        "required": ["checks", "decision"], "additionalProperties": False,
    },
}


def review_rule(data: dict[str, Any], _case: dict[str, Any], _groups: set[str]) -> list[dict[str, str]]:
    """The procedure's rule beyond the schema: a failed point needs its comment; approving with a
    failed point is refused on that point's row."""
    checks = data.get("checks") or {}
    comments = data.get("check_comments") or {}
    errors = []
    for key, title in POINTS.items():
        if checks.get(key) is False:
            if data.get("decision") == "approve":
                errors.append({"field": f"checks.{key}", "message": APPROVE_WITH_FAILED.format(title=title)})
            elif not comments.get(key):
                errors.append({"field": f"check_comments.{key}", "message": FAILED_NEEDS_COMMENT})
    return errors


PROCEDURE = Procedure(
    KEY, "表单控件（测试）", Numbering("KJ", 4),
    starters=Starters(groups=frozenset({"web_admin"}), label="测试登记稿件"),
    owners=frozenset({"web_admin"}),
    validators={"review": review_rule},
    settings=(SettingSpec("columns", COLUMNS, "栏目：可选的栏目，用逗号或顿号分隔", unit="", maximum=500),),
)


@contextmanager
def installed(app: Any, forms_dir: Path) -> Iterator[Any]:
    """The test procedure installed beside the real ones, its forms and diagram deployed; the
    registry as it was restored afterwards."""
    from service import procedure
    from service.bootstrap import deploy_bytes, install_procedures
    from service.forms import FORMS_DIR, FormRegistry

    forms_dir.mkdir(parents=True, exist_ok=True)
    for path in FORMS_DIR.glob("*.json"):
        shutil.copy(path, forms_dir / path.name)
    for key, schema in FORMS.items():
        (forms_dir / f"{key}.json").write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    runtime = app.extensions["govflow"].runtime
    before_forms = runtime.forms
    runtime.forms = FormRegistry(forms_dir)
    before = procedure.registry()
    install_procedures([*(p for p in before if p.key != KEY), PROCEDURE], before.organisation)
    try:
        deploy_bytes(runtime, DIAGRAM.read_bytes(), DIAGRAM.name, "admin")
        yield app
    finally:
        install_procedures(list(before), before.organisation)
        runtime.forms = before_forms


def register(api: Any, **data: Any) -> Any:
    """POST a registration of the test procedure as web1 (the answer, whatever it is)."""
    payload = {"title": "测试稿件", "column": "人大要闻", "body": "<p>正文</p>", **data}
    return api.post("web1", "/api/v1/instances", json={"process": KEY, "data": payload})


def case_count(app: Any) -> int:
    """How many cases (of any procedure) the database holds: a refused registration adds none."""
    from sqlalchemy import func, select

    from service.store.models import Instance

    with app.extensions["govflow"].db.read() as session:
        return int(session.scalar(select(func.count(Instance.id))) or 0)
