"""The rows widget: an `array` of `object` items in a form, filled in as rows.

Posted `<field>-<i>-<sub>` fields become a list of objects (row order, gaps closed, empty rows
dropped, each sub-field typed); the task page draws one row per item with each sub-field's own
widget, puts every row's errors next to its sub-fields and the array's own error above the rows;
the case page shows the stored list as a table; in Chromium rows are added, removed and posted.
The test form lives in a temporary forms directory, its diagram is tests/bpmn/rows_form.bpmn.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, browser_app, browser_page, login, serve, text

DIAGRAM = Path(__file__).resolve().parent / "bpmn" / "rows_form.bpmn"
ARRAY_MESSAGE = "请至少填写一条事项，或选择零报告"

SCHEMA: dict[str, Any] = {
    "title": "事项填报（测试）",
    "type": "object",
    "properties": {
        "note": {"type": "string", "title": "说明"},
        "zero_report": {"type": "boolean", "title": "零报告"},
        "items": {
            "type": "array",
            "title": "排查发现的事项",
            "items": {
                "type": "object",
                "properties": {
                    "parties": {"type": "string", "title": "当事人", "minLength": 1},
                    "summary": {"type": "string", "title": "简要情况", "x-widget": "textarea"},
                    "risk": {"type": "string", "title": "风险等级", "enum": ["一般", "较大", "重大"]},
                    "found_on": {"type": "string", "format": "date", "title": "发现日期"},
                    "people": {"type": "integer", "title": "涉及人数", "minimum": 1},
                    "urgent": {"type": "boolean", "title": "紧急"},
                },
                "required": ["parties", "risk"],
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def _rule(data: dict[str, Any], _case: dict[str, Any], _groups: set[str]) -> list[dict[str, str]]:
    """The procedure's rule beyond the schema: something to report, or a zero report."""
    if data.get("zero_report") is not True and not data.get("items"):
        return [{"field": "items", "message": ARRAY_MESSAGE}]
    return []


def _form() -> Any:
    from service.forms import Form

    return Form("test_rows", SCHEMA)


def _install(app: Any, forms_dir: Path) -> Any:
    """The test form beside the real ones in `forms_dir`, the procedure declared, the diagram
    deployed; returns the registry to restore."""
    from service import procedure
    from service.bootstrap import deploy_bytes, install_procedures
    from service.forms import FORMS_DIR, FormRegistry
    from service.procedure import Numbering, Procedure, Starters

    forms_dir.mkdir(parents=True, exist_ok=True)
    for path in FORMS_DIR.glob("*.json"):
        shutil.copy(path, forms_dir / path.name)
    (forms_dir / "test_rows.json").write_text(json.dumps(SCHEMA, ensure_ascii=False), encoding="utf-8")
    runtime = app.extensions["govflow"].runtime
    runtime.forms = FormRegistry(forms_dir)
    before = procedure.registry()
    declared = Procedure("test_rows", "多行表单（测试）", Numbering("HB", 4), starters=Starters(groups=frozenset({"zzb"})),
                         owners=frozenset({"zzb"}), validators={"fill": _rule})
    install_procedures([*before, declared], before.organisation)
    deploy_bytes(runtime, DIAGRAM.read_bytes(), "rows_form.bpmn", "admin")
    return before


@pytest.fixture
def rows_app(page_app: Any, tmp_path: Path) -> Iterator[Any]:
    from service.bootstrap import install_procedures

    before = _install(page_app, tmp_path / "forms")
    yield page_app
    install_procedures(list(before), before.organisation)


def _fill_task(app: Any) -> tuple[int, str]:
    api = ApiClient(app)
    r = api.post("zzb1", "/api/v1/instances", json={"process": "test_rows", "data": {}})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    return iid, api.task("zzb1", iid, "fill")["id"]


def _row_html(page: str, field: str, index: int) -> str:
    """The markup of one drawn row (<li class="fr-row" data-index=…>…</li>)."""
    found = re.search(rf'<li class="fr-row[^"]*" data-index="{index}".*?</li>', page, re.S)
    assert found, f"row {index} of {field} not drawn"
    return found.group(0)


# ---- coerce ----------------------------------------------------------------------------------


def test_posted_rows_become_objects_in_row_order_typed_with_gaps_closed_and_empty_rows_dropped() -> None:
    from service.forms import coerce

    raw = {
        "note": ["本月情况"], "zero_report": ["0"],
        # row 7 before row 2 in the post: the index decides the order, not the field order
        "items-7-parties": ["王五"], "items-7-risk": ["重大"], "items-7-urgent": ["0", "1"],
        "items-7-people": ["12"], "items-7-found_on": ["2026-11-30"], "items-7-summary": ["征地补偿\n多次上访"],
        "items-2-parties": [" 张三与李四 "], "items-2-risk": ["一般"], "items-2-urgent": ["0"],
        "items-2-people": [""], "items-2-summary": [""],
        # an empty row: an unticked checkbox's hidden 0 and a blank select do not make it filled
        "items-5-parties": [""], "items-5-risk": [""], "items-5-urgent": ["0"], "items-5-people": ["  "],
        "items-x-parties": ["不是行"], "items-3-unknown": ["没有的字段"],
    }
    assert coerce(SCHEMA, raw) == {
        "note": "本月情况", "zero_report": False,
        "items": [
            {"parties": "张三与李四", "risk": "一般", "urgent": False},
            {"parties": "王五", "risk": "重大", "urgent": True, "people": 12, "found_on": "2026-11-30",
             "summary": "征地补偿\n多次上访"},
        ],
    }


def test_rows_all_empty_give_an_empty_list_and_other_fields_keep_their_coercion() -> None:
    from service.forms import coerce

    schema = {"properties": {**SCHEMA["properties"], "count": {"type": "integer"}, "at": {"type": "string",
              "format": "date-time"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}}
    others = {"count": ["3"], "at": ["2026-11-30T09:15"], "tags": ["a", "b"], "zero_report": ["0", "1"], "note": [""]}
    coerced = {"count": 3, "at": "2026-11-30T09:15:00+08:00", "tags": ["a", "b"], "zero_report": True}
    # the widget was on the page (its marker, empty rows): nothing reported is an empty list
    assert coerce(schema, {"items": [""], "items-0-parties": [""], "items-0-urgent": ["0"], **others}) == \
        {**coerced, "items": []}
    assert coerce(schema, {"items": [""], **others}) == {**coerced, "items": []}  # every row removed
    # a post without the rows at all leaves the field out, like any other empty field
    assert coerce(schema, others) == coerced


def test_schema_errors_of_a_row_name_the_row_and_its_sub_field() -> None:
    errors = _form().errors({"items": [{"parties": "张三", "risk": "一般", "people": 0},
                                       {"risk": "特大", "extra": 1}]})
    assert errors == [
        {"field": "items.0.people", "message": "不能小于 1"},
        {"field": "items.1.parties", "message": "此项为必填项"},
        {"field": "items.1.risk", "message": "请选择有效的选项"},
        {"field": "items.1.extra", "message": "包含表单中没有的字段"},
    ]


# ---- the widget ------------------------------------------------------------------------------


def test_the_rows_widget_describes_each_row_with_its_sub_fields_widgets_and_errors() -> None:
    from service.web.formview import form_fields

    stored = {"items": [{"parties": "张三", "risk": "较大", "urgent": True, "people": 2}]}
    paths = {"items": ARRAY_MESSAGE, "items.0.people": "不能小于 1", "items.0": "行有误"}
    fields = {f["name"]: f for f in form_fields(_form(), stored, {"items": ARRAY_MESSAGE}, [], paths)}
    rows = fields["items"]
    assert rows["widget"] == "rows" and rows["wide"] is True and rows["error"] == ARRAY_MESSAGE
    first = rows["rows"][0]
    assert [(s["name"], s["widget"]) for s in first["fields"]] == [
        ("items-0-parties", "text"), ("items-0-summary", "textarea"), ("items-0-risk", "select"),
        ("items-0-found_on", "date"), ("items-0-people", "number"), ("items-0-urgent", "checkbox")]
    by_sub = {s["sub"]: s for s in first["fields"]}
    assert by_sub["parties"]["value"] == "张三" and by_sub["urgent"]["value"] is True
    assert by_sub["people"]["error"] == "不能小于 1" and by_sub["parties"]["error"] is None
    assert by_sub["risk"]["options"] == [("一般", "一般"), ("较大", "较大"), ("重大", "重大")]
    assert by_sub["parties"]["required"] and not by_sub["summary"]["required"]
    assert first["errors"] == ["行有误"]
    # one empty row after the filled one (the way to add an item without script), and the template
    assert [(r["index"], r["blank"]) for r in rows["rows"]] == [(0, False), (1, True)]
    assert rows["template"]["fields"][0]["name"] == "items-__i__-parties"
    # nothing filled yet: three empty rows
    fresh = {f["name"]: f for f in form_fields(_form(), {}, {}, [])}["items"]
    assert [r["index"] for r in fresh["rows"]] == [0, 1, 2] and fresh["error"] is None


def test_the_task_page_draws_the_rows_widget_with_empty_rows_and_the_row_template(rows_app: Any) -> None:
    _iid, task_id = _fill_task(rows_app)
    page = text(login(rows_app, "zzb1").get(f"/tasks/{task_id}"))
    assert 'class="form-rows" id="f_items" data-rows="items"' in page
    assert '<input type="hidden" name="items" value="">' in page
    assert 'id="lbl_items">排查发现的事项' in page
    row = _row_html(page, "items", 0)
    assert 'name="items-0-parties" type="text"' in row
    assert '<textarea id="f_items-0-summary" name="items-0-summary"' in row
    assert re.search(r'<select id="f_items-0-risk" name="items-0-risk"[^>]*>\s*<option value="">请选择…</option>'
                     r'\s*<option value="一般">一般</option><option value="较大">较大</option>', row)
    assert 'name="items-0-found_on" type="date"' in row and 'name="items-0-people" type="number" step="1"' in row
    assert 'type="hidden" name="items-0-urgent" value="0"' in row and 'name="items-0-urgent" type="checkbox"' in row
    assert '<label for="f_items-0-parties">当事人<span class="req">*</span></label>' in row
    drawn = page[:page.index('<template class="fr-template">')]
    assert drawn.count('<li class="fr-row" data-index=') == 3  # three empty rows without script
    assert 'name="items-__i__-parties"' in page[page.index('<template class="fr-template">'):]
    assert '>添加一行</button>' in page and '>删除</button>' in page
    assert "/static/form_rows.js" in page and "/static/form_rows.css" in page
    assert "暂不支持" not in page


def test_a_refused_submission_keeps_the_rows_typed_and_puts_each_error_by_its_row(rows_app: Any) -> None:
    iid, task_id = _fill_task(rows_app)
    client = login(rows_app, "zzb1")
    r = client.post(f"/tasks/{task_id}", data={
        "note": "说明", "zero_report": "0",
        "items-0-parties": "张三", "items-0-risk": "一般", "items-0-people": "0",
        "items-1-parties": "", "items-1-risk": "", "items-1-urgent": "0",  # empty: dropped
        "items-4-parties": "", "items-4-risk": "较大", "items-4-summary": "邻里纠纷",
    })
    assert r.status_code == 422
    page = text(r)
    first, second = _row_html(page, "items", 0), _row_html(page, "items", 1)
    # the row posted as 4 is shown again as the second row, where its error points
    assert 'value="张三"' in first and 'id="err_items-0-people">不能小于 1<' in first
    assert "此项为必填项" not in first
    assert '<option value="较大" selected>较大</option>' in second and ">邻里纠纷</textarea>" in second
    assert 'id="err_items-1-parties">此项为必填项<' in second and 'aria-invalid="true"' in second
    assert "不能小于" not in second
    assert _row_html(page, "items", 2).count('value=""') >= 1  # one empty row after them
    assert 'id="err_items"' not in page  # no error on the array itself
    api = ApiClient(rows_app)  # nothing was written: the task is still open, the case has no items
    assert "items" not in api.instance("zzb1", iid)["data"]
    assert [t["bpmn_id"] for t in api.instance("zzb1", iid)["open_tasks"]] == ["fill"]


def test_the_arrays_own_error_is_shown_above_its_rows(rows_app: Any) -> None:
    _iid, task_id = _fill_task(rows_app)
    r = login(rows_app, "zzb1").post(f"/tasks/{task_id}", data={"zero_report": "0", "items-0-parties": ""})
    assert r.status_code == 422
    page = text(r)
    widget = page[page.index('class="form-rows"'):]
    assert widget.index(f'id="err_items" role="alert">{ARRAY_MESSAGE}<') < widget.index('<ol class="fr-list">')
    assert page.count(ARRAY_MESSAGE) == 1  # not repeated at the top of the form


def test_the_case_page_shows_the_stored_rows_as_a_table_with_the_sub_fields_titles(rows_app: Any) -> None:
    iid, task_id = _fill_task(rows_app)
    client = login(rows_app, "zzb1")
    r = client.post(f"/tasks/{task_id}", data={
        "zero_report": "0", "items-0-parties": "张三与李四", "items-0-risk": "重大", "items-0-urgent": ["0", "1"],
        "items-1-parties": "王五", "items-1-risk": "一般", "items-1-people": "3", "items-1-urgent": "0"})
    assert r.status_code == 302, text(r)
    data = ApiClient(rows_app).instance("zzb1", iid)["data"]
    assert data["items"] == [{"parties": "张三与李四", "risk": "重大", "urgent": True},
                             {"parties": "王五", "risk": "一般", "urgent": False, "people": 3}]
    page = text(client.get(f"/instances/{iid}"))
    table = re.search(r'<table class="table table-cards fr-table">.*?</table>', page, re.S)
    assert table, "no table of the rows on the case page"
    html = table.group(0)
    assert re.findall(r"<th scope=\"col\">([^<]+)</th>", html) == ["当事人", "风险等级", "涉及人数", "紧急"]
    assert re.findall(r"<td data-label=\"[^\"]+\">([^<]+)</td>", html) == [
        "张三与李四", "重大", "—", "是", "王五", "一般", "3", "否"]
    assert "[{" not in page and "&#34;parties&#34;" not in page and "'parties'" not in page


def test_a_list_of_objects_in_a_history_line_reads_as_text_with_titles() -> None:
    from service.web import case_labels

    labels = {"titles": {"items": "事项"}, "enums": {}, "formats": {}, "order": ["items"],
              "rows": {"items": {"titles": {"parties": "当事人", "urgent": "紧急"}, "enums": {}, "formats": {},
                                 "order": ["parties", "urgent"]}}}
    rows = case_labels.data_rows({"items": [{"parties": "张三", "urgent": True}, {"parties": "李四"}]}, labels, {})
    assert rows[0]["value"] == "1. 当事人：张三，紧急：是；2. 当事人：李四"
    assert rows[0]["table"] == {"columns": ["当事人", "紧急"], "rows": [["张三", "是"], ["李四", "—"]]}


# ---- in Chromium -----------------------------------------------------------------------------


@pytest.mark.browser
def test_rows_are_added_removed_renumbered_and_posted_in_the_browser(
        chromium_path: str, tmp_path: Path, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service.bootstrap import install_procedures

    app = browser_app(tmp_path, "rows")
    before = _install(app, tmp_path / "forms")
    try:
        iid, task_id = _fill_task(app)
        with serve(app) as base, browser_page(chromium_path) as page:
            page.goto(f"{base}/login")
            page.fill("#username", "zzb1")
            page.fill("#password", "govflow-demo")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("我的待办")
            page.goto(f"{base}/tasks/{task_id}")
            rows = page.locator(".form-rows .fr-list > .fr-row")
            expect(rows).to_have_count(1)  # with script one empty row, more on 添加一行
            page.fill("[name=items-0-parties]", "张三与李四")
            page.select_option("[name=items-0-risk]", "一般")
            page.click("button.fr-add")
            page.fill("[name=items-1-parties]", "要删除的行")
            page.click("button.fr-add")
            expect(rows).to_have_count(3)
            page.fill("[name=items-2-parties]", "王五")
            page.select_option("[name=items-2-risk]", "重大")
            page.fill("[name=items-2-people]", "12")
            page.check("[name=items-2-urgent][type=checkbox]")
            page.fill("[name=items-2-summary]", "征地补偿纠纷")
            page.screenshot(path=str(artifacts_dir / "form_rows_desktop.png"), full_page=True)
            rows.nth(1).locator("button.fr-remove").click()
            expect(rows).to_have_count(2)
            # renumbered: the third row is now the second, by its names and its heading
            expect(page.locator("[name=items-1-parties]")).to_have_value("王五")
            expect(rows.nth(1).locator(".fr-num")).to_have_text("第 2 条")
            expect(page.locator("[name=items-2-parties]")).to_have_count(0)
            page.set_viewport_size({"width": 390, "height": 844})
            first, second = (page.locator(f"[name=items-0-{s}]").bounding_box() for s in ("parties", "summary"))
            assert first and second and second["y"] > first["y"] and abs(second["x"] - first["x"]) < 2  # stacked
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(artifacts_dir / "form_rows_phone.png"), full_page=True)
            page.set_viewport_size({"width": 1360, "height": 900})
            page.emulate_media(media="print")  # printed: the rows without their buttons
            expect(page.locator("button.fr-add")).to_be_hidden()
            expect(rows.nth(0).locator("button.fr-remove")).to_be_hidden()
            expect(page.locator("[name=items-1-parties]")).to_be_visible()
            page.emulate_media(media="screen")
            page.click("button:has-text('提交办理')")
            expect(page.locator(".flash-success")).to_contain_text("已办理")
            assert page.js_errors == []
            page.goto(f"{base}/instances/{iid}")
            # the case's data and the step's history entry, each a table of the two rows
            expect(page.locator(".kv table.fr-table tbody tr")).to_have_count(2)
            expect(page.locator(".timeline table.fr-table tbody tr")).to_have_count(2)
            expect(page.locator(".kv table.fr-table th").first).to_have_text("当事人")
            page.screenshot(path=str(artifacts_dir / "form_rows_case_table.png"), full_page=True)
            page.emulate_media(media="print")
            printed = page.pdf(format="A4", print_background=True)
            (artifacts_dir / "form_rows_case_print.pdf").write_bytes(printed)
        from pypdf import PdfReader

        pdf = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(printed)).pages)
        assert "当事人" in pdf and "征地补偿纠纷" in pdf and "王五" in pdf
        data = ApiClient(app).instance("zzb1", iid)["data"]
        assert data["items"] == [
            {"parties": "张三与李四", "risk": "一般", "urgent": False},
            {"parties": "王五", "risk": "重大", "urgent": True, "people": 12, "summary": "征地补偿纠纷"},
        ]
    finally:
        install_procedures(list(before), before.organisation)
        app.extensions["govflow"].db.dispose()
