"""A stand-in procedure for the platform tests of derived keys (tests/test_derive.py) and of
停权 (tests/test_suspensions.py): diagram tests/bpmn/derive_line.bpmn, its two forms written to a
temporary forms directory beside the real ones.

Who registers decides where the case goes (the start's deriver): a county web admin's case goes to
their own group, anyone else's to `web_admin`; county web admins may start by pattern and their
memberships are suspendable."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from service.errors import Invalid
from service.procedure import Numbering, Procedure, Starters

DIAGRAM = Path(__file__).resolve().parent / "bpmn" / "derive_line.bpmn"
KEY = "test_derive"
COUNTY_WEB = "county_*_web"
REFUSED_TITLE = "拒绝派生"
REFUSAL = "派生规则拒绝了这份登记"

FORMS: dict[str, dict[str, Any]] = {
    "test_derive_start": {
        "title": "登记（测试）", "type": "object",
        "properties": {"title": {"type": "string", "title": "标题", "minLength": 1, "maxLength": 50}},
        "required": ["title"], "additionalProperties": False,
    },
    "test_derive_handle": {
        "title": "办理（测试）", "type": "object",
        "properties": {"comment": {"type": "string", "title": "意见", "minLength": 1}},
        "required": ["comment"], "additionalProperties": False,
    },
}


def derive_start(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    if form.get("title") == REFUSED_TITLE:
        raise Invalid("表单填写有误，请检查标出的字段", [{"field": "title", "message": REFUSAL}])
    county = sorted(g for g in groups if fnmatchcase(g, COUNTY_WEB))
    return {"handler_group": county[0] if county else "web_admin", "register_groups": sorted(groups),
            "seen_instance": dict(instance)}


def derive_handle(form: dict[str, Any], instance: dict[str, Any], groups: frozenset[str]) -> dict[str, Any]:
    if form.get("comment") == REFUSED_TITLE:
        raise Invalid("表单填写有误，请检查标出的字段", [{"field": "comment", "message": REFUSAL}])
    return {"handled_title": instance.get("title"), "handled_by_groups": sorted(groups),
            "comment_length": len(form["comment"])}


PROCEDURE = Procedure(
    KEY, "派生字段（测试）", Numbering("PS", 4),
    starters=Starters(groups=frozenset({"web_admin"}), patterns=(COUNTY_WEB,), label="测试登记"),
    owners=frozenset({"web_admin"}),
    derive={"start": derive_start, "handle": derive_handle},
    suspendable=(COUNTY_WEB,),
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
    runtime.forms = FormRegistry(forms_dir)
    before = procedure.registry()
    install_procedures([*(p for p in before if p.key != KEY), PROCEDURE], before.organisation)
    try:
        deploy_bytes(runtime, DIAGRAM.read_bytes(), DIAGRAM.name, "admin")
        yield app
    finally:
        install_procedures(list(before), before.organisation)
