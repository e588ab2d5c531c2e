"""Form checks of the issue "A day's work" (items 4 and 5).

- every field error at once: one 422 names each wrong field (API details, and the page shows
  each message next to its field);
- 公民身份号码 checked by GB 11643-1999 (`"format": "cn-id-number"`, service/forms.py);
- dates of events that already happened may not lie in the future (`"x-past": true`): a
  date-time at most `forms.future_tolerance_minutes` after now, a date not after today.

Every test starts at 2026-12-01T10:00+08:00 (tests/conftest.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import PETITION, ApiClient, login, start, text

from service.forms import Form, FormRegistry, id_check_digit, id_number_problem

MISSING = ("channel", "subject", "content")
BAD_ID = "530102199001011234"  # the old sample: its check digit is 1, not 4


def _incomplete() -> dict[str, Any]:
    data = {k: v for k, v in PETITION.items() if k not in MISSING}
    return {**data, "petitioner_id_number": BAD_ID}


ALL_FOUR = [
    {"field": "channel", "message": "此项为必填项"},
    {"field": "petitioner_id_number", "message": "身份证号码校验位不正确，应为1"},
    {"field": "subject", "message": "此项为必填项"},
    {"field": "content", "message": "此项为必填项"},
]


# ---- item 5: all errors in one answer -------------------------------------------------------


def test_api_registration_reports_every_wrong_field_at_once(api: ApiClient) -> None:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": _incomplete()})
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["error"] == "invalid"
    assert body["message"] == "表单填写有误，请检查标出的字段"
    assert body["details"] == ALL_FOUR  # in the form's order


def test_page_registration_shows_every_error_next_to_its_field(page_app: Any) -> None:
    client = login(page_app, "xfk1")
    response = client.post("/petitions/new", data=_incomplete())
    assert response.status_code == 422
    page = text(response)
    for detail in ALL_FOUR:
        field = re.search(rf'<div class="field[^"]*has-error[^"]*" data-field="{detail["field"]}".*?'
                          rf'<div class="field-error" id="err_{detail["field"]}">([^<]*)</div>', page, re.S)
        assert field is not None, (detail, page)
        assert field.group(1) == detail["message"]
    assert 'value="张三"' in page  # what was entered is kept


def test_procedure_rule_runs_with_the_schema_on_the_valid_fields() -> None:
    """Form.validate(extra=...): the procedure's rule sees only the fields that passed, and its
    errors come in the same answer (a field keeps its schema error)."""
    from service.errors import Invalid

    form = FormRegistry().get("petition_reply")
    seen: list[dict[str, Any]] = []

    def rule(valid: dict[str, Any]) -> list[dict[str, str]]:
        seen.append(valid)
        return [{"field": "replied_at", "message": "答复日期不能早于收件日期"},
                {"field": "delivery", "message": "不应出现"}]

    with pytest.raises(Invalid) as caught:
        form.validate({"replied_at": "2026-11-30", "delivery": "飞鸽"}, extra=rule)
    assert caught.value.details == [
        {"field": "reply_text", "message": "此项为必填项"},
        {"field": "delivery", "message": "请选择有效的选项"},
        {"field": "replied_at", "message": "答复日期不能早于收件日期"},
    ]
    assert seen == [{"replied_at": "2026-11-30"}]


# ---- item 5: 公民身份号码 (GB 11643-1999) ---------------------------------------------------


@pytest.mark.parametrize(("value", "problem"), [
    ("53010219900108123X", None),
    ("53010219900108123x", None),  # lower-case x accepted (stored upper-case)
    ("530102199001071234", None),
    ("53010219900107123", "长度应为18位"),
    ("5301021990010712345", "长度应为18位"),
    ("53010219900107123Y", "应为17位数字加1位数字或X"),
    ("990102199001071234", "地区码不正确"),
    ("000000199001071234", "地区码不正确"),
    ("530102199002301234", "出生日期不正确"),  # 1990-02-30
    ("530102189912311234", "出生日期不正确"),  # before 1900
    ("530102202701011234", "出生日期不正确"),  # after today
    ("530102199001071235", "校验位不正确，应为4"),
    ("530102199001011234", "校验位不正确，应为1"),
])
def test_id_number_rule(value: str, problem: str | None) -> None:
    assert id_number_problem(value) == problem


def test_check_digit_is_iso_7064_mod_11_2() -> None:
    assert id_check_digit("11010519491231002") == "X"  # the example of GB 11643-1999
    assert id_check_digit("53010219900107123") == "4"


@pytest.mark.parametrize(("value", "message"), [
    ("53010219900107123", "身份证号码长度应为18位"),
    ("990102199001071234", "身份证号码地区码不正确"),
    ("530102199002301234", "身份证号码出生日期不正确"),
    ("530102199001071235", "身份证号码校验位不正确，应为4"),
])
def test_api_names_the_wrong_part_of_the_id_number(api: ApiClient, value: str, message: str) -> None:
    r = api.post("xfk1", "/api/v1/instances",
                 json={"process": "petition", "data": {**PETITION, "petitioner_id_number": value}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "petitioner_id_number", "message": message}]


def test_id_number_with_lower_case_x_is_stored_upper_case(api: ApiClient) -> None:
    iid = start(api, petitioner_id_number="53010219900108123x")
    assert api.instance("xfk1", iid)["data"]["petitioner_id_number"] == "53010219900108123X"


def test_sample_id_numbers_are_valid() -> None:
    from workflows.petition_sample import START_BASE

    assert id_number_problem(START_BASE["petitioner_id_number"]) is None


# ---- item 4: no dates in the future -----------------------------------------------------------


def _start_at(api: ApiClient, received_at: str) -> Any:
    return api.post("xfk1", "/api/v1/instances",
                    json={"process": "petition", "data": {**PETITION, "received_at": received_at}})


def test_received_tomorrow_evening_is_refused(api: ApiClient) -> None:
    r = _start_at(api, "2026-12-02T23:00:00+08:00")
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "received_at", "message": "收件时间不能晚于当前时间"}]


def test_received_a_minute_ago_is_accepted(api: ApiClient) -> None:
    r = _start_at(api, "2026-12-01T09:59:00+08:00")
    assert r.status_code == 201, r.get_json()


def test_future_tolerance_is_a_platform_setting(api: ApiClient) -> None:
    """Default 5 minutes (clocks of the office's computers differ a little); 0 = not after now."""
    assert _start_at(api, "2026-12-01T10:04:00+08:00").status_code == 201
    assert _start_at(api, "2026-12-01T10:06:00+08:00").status_code == 422

    def tolerance(minutes: int) -> None:
        r = api.client.put("/api/v1/settings/forms.future_tolerance_minutes", json={"value": minutes},
                           headers=api.headers("admin"))
        assert r.status_code == 200, r.get_json()

    tolerance(0)
    try:  # the settings snapshot is shared by the process's apps: put the default back after
        r = _start_at(api, "2026-12-01T10:01:00+08:00")
        assert r.get_json()["details"] == [{"field": "received_at", "message": "收件时间不能晚于当前时间"}]
        assert _start_at(api, "2026-12-01T10:00:00+08:00").status_code == 201
    finally:
        tolerance(5)


def _reply_task(api: ApiClient) -> str:
    iid = start(api)
    r = api.complete("xfk1", iid, "classify", {"category": "其他", "route": "reject"})
    assert r.status_code == 200, r.get_json()
    return str(api.task("xfk1", iid, "reply")["id"])


def _reply(api: ApiClient, task_id: str, replied_at: str) -> Any:
    return api.post("xfk1", f"/api/v1/tasks/{task_id}/complete", json={"data": {
        "reply_text": "不予受理，请向有权处理的机关提出。", "replied_at": replied_at, "delivery": "邮寄"}})


def test_reply_dated_five_months_ahead_is_refused_and_today_accepted(api: ApiClient) -> None:
    task_id = _reply_task(api)
    r = _reply(api, task_id, "2027-05-01")
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "replied_at", "message": "答复日期不能晚于今天"}]
    r = _reply(api, task_id, "2026-12-01")
    assert r.status_code == 200, r.get_json()


def test_reply_before_receipt_is_still_refused(api: ApiClient) -> None:
    r = _reply(api, _reply_task(api), "2026-03-01")
    assert r.get_json()["details"] == [{"field": "replied_at", "message": "答复日期不能早于收件日期"}]


def test_x_past_is_generic() -> None:
    """Any form may mark a date or date-time field; the message names the field's title."""
    form = Form("t", {"type": "object", "properties": {
        "day": {"title": "发生日期", "type": "string", "format": "date", "x-past": True},
        "at": {"title": "发生时间", "type": "string", "format": "date-time", "x-past": True}}})
    assert form.errors({"day": "2026-12-01", "at": "2026-12-01T10:00:00+08:00"}) == []
    assert form.errors({"day": "2026-12-02", "at": "2026-12-01T11:00:00+08:00"}) == [
        {"field": "day", "message": "发生日期不能晚于今天"},
        {"field": "at", "message": "发生时间不能晚于当前时间"},
    ]
