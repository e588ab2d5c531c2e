"""Choices from a setting (`"x-choices-setting": "<procedure>.<key>"`): the form's select offers
the items of that text setting (split on , ， 、, trimmed), the server accepts only those, with
「请从“<title>”的可选项中选择」 otherwise (nothing stored), and an administrator's change of the
setting changes both at once. The test procedure: tests/kinds_procedure.py (its `column`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, login, text
from kinds_procedure import COLUMNS_SETTING, KEY, case_count, installed, register

CHOOSE = "请从“栏目”的可选项中选择"


@pytest.fixture
def kinds_app(page_app: Any, tmp_path: Path) -> Iterator[Any]:
    with installed(page_app, tmp_path / "forms") as app:
        yield app


def _options(app: Any) -> list[str]:
    page = text(login(app, "web1").get(f"/instances/new/{KEY}"))
    select = re.search(r'<select id="f_column" name="column" required>(.*?)</select>', page, re.S)
    assert select, "no select for the column"
    return re.findall(r'<option value="([^"]*)"', select.group(1))


def test_the_items_of_a_setting_are_split_on_commas_and_enumeration_commas_and_trimmed() -> None:
    from service.form_kinds import choice_items

    assert choice_items(" 人大要闻, 公告通知，工作动态、 县(区)人大 ,,、") == ["人大要闻", "公告通知", "工作动态", "县(区)人大"]
    assert choice_items("甲\n乙\r\n甲") == ["甲", "乙"]  # lines too, each once
    assert choice_items("") == [] and choice_items(None) == []


def test_the_form_offers_the_settings_items_in_its_order(kinds_app: Any) -> None:
    assert _options(kinds_app) == ["", "人大要闻", "公告通知", "工作动态", "县(区)人大"]


def test_a_value_not_among_the_settings_items_is_refused_in_chinese_and_nothing_is_stored(app: Any, tmp_path: Path) -> None:
    with installed(app, tmp_path / "forms"):
        before = case_count(app)
        r = register(ApiClient(app), column="娱乐八卦")
        assert r.status_code == 422
        assert r.get_json()["details"] == [{"field": "column", "message": CHOOSE}]
        assert case_count(app) == before
        assert register(ApiClient(app), column="工作动态").status_code == 201


def test_a_refused_page_post_shows_the_message_by_the_select(kinds_app: Any) -> None:
    r = login(kinds_app, "web1").post(f"/instances/new/{KEY}", data={"title": "稿件", "column": "不存在的栏目",
                                                                      "body": "<p>正文</p>"})
    assert r.status_code == 422
    assert f'id="err_column">{CHOOSE}<' in text(r)


def test_a_changed_setting_changes_the_options_and_what_the_server_accepts(kinds_app: Any) -> None:
    api = ApiClient(kinds_app)
    r = api.client.put(f"/api/v1/settings/{COLUMNS_SETTING}", headers=api.headers("admin"),
                       json={"value": "人大要闻、代表风采"})
    assert r.status_code == 200, r.get_json()
    assert _options(kinds_app) == ["", "人大要闻", "代表风采"]
    refused = register(api, column="工作动态")
    assert refused.status_code == 422 and refused.get_json()["details"] == [{"field": "column", "message": CHOOSE}]
    assert register(api, column="代表风采").status_code == 201
