"""The checklist widget (`"x-widget": "checklist"` with `"x-comments"`): a table of points, each
explicitly 通过 or 不通过 with its comment; posted `<name>-<key>` radios and `<comments>-<key>`
inputs come back as two objects (booleans; empty comments dropped); an error on a point
(`checks.<key>`, or its comment's) is shown on that point's row; a refused review shows the
choices again; the case page reads the stored review as a table 要点 | 通过 | 意见.
The test procedure: tests/kinds_procedure.py (its `review` step)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, login, text
from kinds_procedure import APPROVE_WITH_FAILED, FAILED_NEEDS_COMMENT, FORMS, POINTS, installed, register

REVIEW = FORMS["test_kinds_review"]
ALL_PASS = {f"checks-{key}": "true" for key in POINTS}


@pytest.fixture
def kinds_app(page_app: Any, tmp_path: Path) -> Iterator[Any]:
    with installed(page_app, tmp_path / "forms") as app:
        yield app


def _review_task(app: Any) -> tuple[int, str]:
    api = ApiClient(app)
    r = register(api)
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    assert api.complete("web1", iid, "edit", {"body": "<p>正文</p>"}).status_code == 200
    return iid, api.task("bgs", iid, "review")["id"]


def _row(page: str, key: str) -> str:
    found = re.search(rf'<tr class="cl-row[^"]*" data-key="{key}">.*?</tr>', page, re.S)
    assert found, f"no row for {key}"
    return found.group(0)


# ---- coerce ----------------------------------------------------------------------------------


def test_the_posted_radios_and_comments_become_two_objects_of_booleans_and_non_empty_comments() -> None:
    from service.forms import coerce

    raw = {"checks": [""], **{k: [v] for k, v in ALL_PASS.items()}, "checks-secrecy": ["false"],
           "check_comments-secrecy": ["  第三段涉及内部会议  "], "check_comments-wording": [""],
           "check_comments-border": ["   "], "decision": ["return"]}
    assert coerce(REVIEW, raw) == {
        "checks": {"wording": True, "secrecy": False, "ideology": True, "ethnic_religion": True, "border": True},
        "check_comments": {"secrecy": "第三段涉及内部会议"},
        "decision": "return",
    }


def test_a_table_with_nothing_chosen_gives_empty_objects_so_every_point_is_required_on_its_row() -> None:
    from service.forms import Form, coerce

    data = coerce(REVIEW, {"checks": [""], "check_comments-wording": [""], "decision": ["approve"]})
    assert data == {"checks": {}, "check_comments": {}, "decision": "approve"}
    errors = Form("test_kinds_review", REVIEW).errors(data)
    assert [e["field"] for e in errors] == [f"checks.{key}" for key in POINTS]
    assert {e["message"] for e in errors} == {"此项为必填项"}
    # a value that is neither true nor false is kept, so the schema names the point
    odd = coerce(REVIEW, {"checks-wording": ["maybe"]})
    assert odd["checks"] == {"wording": "maybe"}
    found = {e["field"]: e["message"] for e in Form("test_kinds_review", REVIEW).errors({**odd, "decision": "approve"})}
    assert found["checks.wording"] == "类型不正确（应为是/否）" and found["checks.secrecy"] == "此项为必填项"


def test_a_post_without_the_table_leaves_both_objects_out() -> None:
    from service.forms import coerce

    assert coerce(REVIEW, {"decision": ["approve"]}) == {"decision": "approve"}


# ---- the page --------------------------------------------------------------------------------


def test_the_review_page_draws_one_row_per_point_with_two_unchosen_radios_and_a_comment(kinds_app: Any) -> None:
    _iid, task_id = _review_task(kinds_app)
    page = text(login(kinds_app, "bgs").get(f"/tasks/{task_id}"))
    assert '<input type="hidden" name="checks" value="">' in page
    assert re.findall(r"<th scope=\"col\">([^<]+)</th>", page[page.index('class="checklist"'):])[:3] == [
        "审核要点", "通过 / 不通过", "意见"]
    for key, title in POINTS.items():
        row = _row(page, key)
        assert f"<strong>{title}</strong>" in row
        assert f'<input type="radio" name="checks-{key}" value="true"> 通过' in row
        assert f'<input type="radio" name="checks-{key}" value="false"> 不通过' in row
        assert f'name="check_comments-{key}" value=""' in row
        assert "checked" not in row  # chosen explicitly, never preset
    assert 'name="check_comments"' not in page  # the comments object is drawn inside the rows only
    assert "要点意见" not in page


def test_a_refused_review_shows_the_choices_again_and_the_error_on_the_failed_points_row(kinds_app: Any) -> None:
    iid, task_id = _review_task(kinds_app)
    r = login(kinds_app, "bgs").post(f"/tasks/{task_id}", data={
        "checks": "", **ALL_PASS, "checks-secrecy": "false", "check_comments-secrecy": "涉及内部会议内容",
        "check_comments-wording": "标点已核", "decision": "approve"})
    assert r.status_code == 422
    page = text(r)
    secrecy = _row(page, "secrecy")
    message = APPROVE_WITH_FAILED.format(title="保密")
    assert 'class="cl-row has-error"' in secrecy and f'id="err_checks-secrecy">{message}<' in secrecy
    assert '<input type="radio" name="checks-secrecy" value="false" checked> 不通过' in secrecy
    assert 'value="涉及内部会议内容"' in secrecy
    wording = _row(page, "wording")
    assert '<input type="radio" name="checks-wording" value="true" checked> 通过' in wording
    assert 'value="标点已核"' in wording and "field-error" not in wording
    assert page.count(message) == 1  # on its row, not again at the top of the form
    assert '<option value="approve" selected>审核通过</option>' in page
    # nothing was written: the review is still open, the case holds no checks
    api = ApiClient(kinds_app)
    assert "checks" not in api.instance("web1", iid)["data"]
    assert [t["bpmn_id"] for t in api.instance("web1", iid)["open_tasks"]] == ["review"]


def test_a_failed_points_missing_comment_is_shown_on_that_row(kinds_app: Any) -> None:
    _iid, task_id = _review_task(kinds_app)
    r = login(kinds_app, "bgs").post(f"/tasks/{task_id}", data={
        "checks": "", **ALL_PASS, "checks-border": "false", "decision": "return"})
    assert r.status_code == 422
    page = text(r)
    assert f'id="err_checks-border">{FAILED_NEEDS_COMMENT}<' in _row(page, "border")
    assert all("field-error" not in _row(page, key) for key in POINTS if key != "border")


def test_the_case_page_shows_the_review_as_a_table_of_points_passed_and_comments(kinds_app: Any) -> None:
    iid, task_id = _review_task(kinds_app)
    client = login(kinds_app, "bgs")
    r = client.post(f"/tasks/{task_id}", data={
        "checks": "", **ALL_PASS, "checks-secrecy": "false", "check_comments-secrecy": "第三段涉密",
        "decision": "return"})
    assert r.status_code == 302, text(r)
    data = ApiClient(kinds_app).instance("web1", iid)["data"]
    assert data["checks"] == {**dict.fromkeys(POINTS, True), "secrecy": False}
    assert data["check_comments"] == {"secrecy": "第三段涉密"}
    page = text(login(kinds_app, "web1").get(f"/instances/{iid}"))
    table = re.search(r'<table class="table table-cards cl-table cl-shown">.*?</table>', page, re.S)
    assert table, "no checklist table on the case page"
    cells = re.findall(r'<td data-label="[^"]+">([^<]*)</td>', table.group(0))
    assert cells == ["文字", "通过", "—", "保密", "不通过", "第三段涉密", "意识形态", "通过", "—",
                     "民族宗教", "通过", "—", "涉边", "通过", "—"]
    assert "&#34;wording&#34;" not in page and '{"wording"' not in page and "要点意见" not in page
    # the history line of the review reads as text
    assert "保密：不通过（第三段涉密）" in page


def test_a_checklist_sent_through_the_api_is_stored_as_sent(kinds_app: Any) -> None:
    iid, _task = _review_task(kinds_app)
    api = ApiClient(kinds_app)
    r = api.complete("bgs", iid, "review", {"checks": dict.fromkeys(POINTS, True), "decision": "approve"})
    assert r.status_code == 200, r.get_json()
    assert api.instance("web1", iid)["data"]["checks"] == dict.fromkeys(POINTS, True)
