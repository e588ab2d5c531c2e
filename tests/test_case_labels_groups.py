"""Group keys picked in a form read by the group's name on the case page (like the `*_by` and
`*_group` keys), an empty object as nothing (not "{}"), and the 编辑 step's 预览 shows the
article's registered author and source, which its own form does not hold — for a user the policy
lets see the case, and for nobody else."""

from __future__ import annotations

import re
from typing import Any

from conftest import ApiClient, login, text
from test_public_site import register


def case_data(html: str) -> str:
    found = re.search(r"<h2>案件数据</h2>(.*?)</section>", html, re.S)
    assert found is not None, "no 案件数据 section"
    return found.group(1)


def edit_task(api: ApiClient, iid: int) -> str:
    return str(api.task("web1", iid, "edit")["id"])


def test_a_department_chosen_in_the_group_picker_reads_by_its_name(sqlite_api: ApiClient, page_app: Any) -> None:
    iid = register(sqlite_api, department="dept_fgw")
    page = text(login(page_app, "web1").get(f"/instances/{iid}"))
    shown = case_data(page)
    assert re.search(r"报送单位.*?法制工作委员会", shown, re.S), shown
    assert "dept_fgw" not in shown
    assert "{}" not in shown  # the review comments, still an empty object, read as nothing


def test_a_value_of_a_field_that_is_no_group_picker_stays_as_written(sqlite_api: ApiClient, page_app: Any) -> None:
    """Only fields a form declares as group pickers are translated: a source that happens to be a
    group key is shown as typed."""
    iid = register(sqlite_api, source="dept_fgw")
    shown = case_data(text(login(page_app, "web1").get(f"/instances/{iid}")))
    assert re.search(r"来源.*?dept_fgw", shown, re.S), shown


def test_the_edit_steps_preview_names_its_case_and_shows_author_and_source(
        sqlite_api: ApiClient, page_app: Any) -> None:
    iid = register(sqlite_api, author="李明", source="临沧人大网")
    client = login(page_app, "web1")
    task_page = text(client.get(f"/tasks/{edit_task(sqlite_api, iid)}"))
    assert f'formaction="/site/preview?case={iid}"' in task_page
    form = {"title": "修改后的标题", "column": "人大要闻", "body": "<p>修改后的正文。</p>"}
    page = text(client.post(f"/site/preview?case={iid}", data=form))
    assert "预览（未发布）" in page and "修改后的标题" in page and "修改后的正文。" in page
    assert "作者：李明" in page and "来源：临沧人大网" in page
    # what the form posts wins (the register form holds author and source itself)
    page = text(client.post(f"/site/preview?case={iid}", data={**form, "author": "王芳"}))
    assert "作者：王芳" in page and "来源：临沧人大网" in page


def test_the_preview_shows_no_byline_of_a_case_the_user_may_not_see(sqlite_api: ApiClient, page_app: Any) -> None:
    iid = register(sqlite_api, author="李明", source="临沧人大网")
    form = {"title": "别人的稿件", "column": "人大要闻", "body": "<p>正文</p>"}
    outsider = text(login(page_app, "fgw1").post(f"/site/preview?case={iid}", data=form))
    assert "别人的稿件" in outsider and "李明" not in outsider and "临沧人大网" not in outsider
    for bad in ("abc", "999999", ""):  # not a number, no such case, none: the posted form only
        page = text(login(page_app, "web1").post(f"/site/preview?case={bad}", data=form))
        assert "别人的稿件" in page and "作者：" not in page
