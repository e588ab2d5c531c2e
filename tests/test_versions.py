"""The versions of a procedure (issue 13, item 4): the list shows each version's deployer, time,
版本说明 and how many cases run on it (and ran on it in all), newest first; any version opens
read-only with its user tasks and form snapshots; the diff page colours and tabulates; all of it
for administrators and 流程设计员 only, an unknown procedure or version a 404 「流程版本不存在」."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ApiClient, login, start, text
from sqlalchemy import update
from test_version_diff import deploy, petition_v2, petition_xml

COMMENT = "分管领导签阅改由信访科办理"


def finish(api: ApiClient, instance_id: int) -> None:
    """Mark a case finished (the counts read the case's status, whatever ended it)."""
    from service.store.models import Instance

    with api.app.extensions["govflow"].db.write() as session:
        session.execute(update(Instance).where(Instance.id == instance_id).values(status="completed"))


def two_versions(api: ApiClient) -> None:
    """Three petitions on v1 (one of them finished), then v2 deployed with a comment and one
    petition registered on it."""
    start(api)
    start(api)
    finish(api, start(api))
    deploy(api, petition_v2(petition_xml(api)), COMMENT)
    assert api.instance("xfk1", start(api))["version"] == 2


def pages(api: ApiClient, username: str) -> Any:
    api.app.config["WTF_CSRF_ENABLED"] = False
    return login(api.app, username)


def test_versions_list_shows_deployer_comment_and_running_counts(api: ApiClient) -> None:
    two_versions(api)
    r = api.get("sjy1", "/api/v1/definitions/petition/versions")
    assert r.status_code == 200, r.get_json()
    rows = [{k: row[k] for k in ("version", "deployed_by", "comment", "running", "total")} for row in r.get_json()]
    assert rows == [
        {"version": 2, "deployed_by": "系统管理员", "comment": COMMENT, "running": 1, "total": 1},
        {"version": 1, "deployed_by": "系统", "comment": None, "running": 2, "total": 3},
    ]
    assert r.get_json()[0]["deployed_at"].startswith("2026-12-01T10:0")  # the pinned clock


def test_versions_page_lists_each_version_with_its_links(api: ApiClient) -> None:
    two_versions(api)
    r = pages(api, "sjy1").get("/definitions/petition/versions")
    assert r.status_code == 200
    page = text(r)
    assert COMMENT in page
    row = page.split('<tr data-version="2">')[1].split("</tr>")[0]
    assert '<td data-label="在办案件数" class="vd-running">1</td>' in row
    assert '<td data-label="案件总数" class="vd-total">1</td>' in row
    assert "系统管理员" in row
    old = page.split('<tr data-version="1">')[1].split("</tr>")[0]
    assert '<td data-label="在办案件数" class="vd-running">2</td>' in old
    assert '<td data-label="案件总数" class="vd-total">3</td>' in old
    assert 'href="/definitions/petition/v1"' in old
    assert 'href="/definitions/petition/diff?a=1&amp;b=2"' in old  # 与最新版本对比
    assert 'href="/definitions/petition/v1/xml?download=1"' in old
    assert "迁移案件" not in page  # the designer does not migrate cases


def test_a_version_opens_read_only_with_its_tasks_and_forms(api: ApiClient) -> None:
    two_versions(api)
    r = pages(api, "sjy1").get("/definitions/petition/v2")
    assert r.status_code == 200
    page = text(r)
    assert "只读" in page and COMMENT in page
    row = page.split('<tr data-element-id="leader_sign"')[1].split("</tr>")[0]
    assert "分管领导签阅" in row
    assert '<td data-label="办理组">信访科 <code>xfk</code></td>' in row
    assert "${route_due_at}" in row
    assert 'id="form-petition_leader_sign"' in page
    detail = api.get("sjy1", "/api/v1/definitions/petition/versions/1").get_json()
    task = next(t for t in detail["tasks"] if t["element_id"] == "leader_sign")
    assert task == {"element_id": "leader_sign", "name": "分管领导签阅", "lane": "办公室分管领导",
                    "candidate_groups": "office_leader", "assignee": None,
                    "form_key": "petition_leader_sign", "due_date": "${route_due_at}"}
    assert detail["snapshotted"] is True
    assert "petition_leader_sign" in {f["form_key"] for f in detail["forms"]}


def test_a_versions_diagram_is_served_to_designers(api: ApiClient) -> None:
    two_versions(api)
    client = pages(api, "sjy1")
    r = client.get("/definitions/petition/v2/xml")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    assert 'id="propose_draft"' in text(r)
    download = client.get("/definitions/petition/v1/xml?download=1")
    assert download.headers["Content-Disposition"] == 'attachment; filename="petition_v1.bpmn"'
    assert 'id="propose"' in text(download)


def test_diff_page_shows_the_changed_task_and_its_group_before_and_after(api: ApiClient) -> None:
    two_versions(api)
    r = pages(api, "sjy1").get("/definitions/petition/diff?a=1&b=2")
    assert r.status_code == 200
    page = text(r)
    row = page.split('<tr data-element-id="leader_sign" data-change="changed"')[1].split("</tr>")[0]
    assert "办理组" in row and "<code>office_leader</code>" in row and "<code>xfk</code>" in row
    assert '<tr data-element-id="propose" data-change="removed"' in page
    assert '<tr data-element-id="propose_draft" data-change="added"' in page


@pytest.mark.parametrize("path", ["/definitions/no_such/versions", "/definitions/petition/v9",
                                  "/definitions/petition/v9/xml", "/definitions/petition/diff?a=1&b=9"])
def test_unknown_procedure_or_version_is_a_404_page(api: ApiClient, path: str) -> None:
    r = pages(api, "sjy1").get(path)
    assert r.status_code == 404
    assert "流程版本不存在" in text(r)


@pytest.mark.parametrize("path", ["/api/v1/definitions/no_such/versions", "/api/v1/definitions/petition/versions/9"])
def test_unknown_procedure_or_version_is_a_404_in_the_api(api: ApiClient, path: str) -> None:
    r = api.get("sjy1", path)
    assert r.status_code == 404
    assert r.get_json() == {"error": "not_found", "message": "流程版本不存在", "details": []}


def test_diff_page_of_a_version_with_itself_is_422(api: ApiClient) -> None:
    r = pages(api, "sjy1").get("/definitions/petition/diff?a=1&b=1")
    assert r.status_code == 422
    assert "请选择两个不同的版本进行比较" in text(r)


@pytest.mark.parametrize("path", ["/definitions/petition/versions", "/definitions/petition/v1",
                                  "/definitions/petition/v1/xml", "/definitions/petition/diff?a=1&b=2"])
def test_pages_are_refused_to_whoever_is_not_a_designer(api: ApiClient, path: str) -> None:
    r = pages(api, "xfk1").get(path)
    assert r.status_code == 403
    assert "只有系统管理员和流程设计员可以查看流程版本" in text(r)


@pytest.mark.parametrize("path", ["/api/v1/definitions/petition/versions", "/api/v1/definitions/petition/versions/1"])
def test_api_is_refused_to_whoever_is_not_a_designer(api: ApiClient, path: str) -> None:
    r = api.get("bgs", path)
    assert r.status_code == 403
    assert r.get_json()["message"] == "只有系统管理员和流程设计员可以查看流程版本"


def test_admin_sees_the_versions_with_a_link_to_migrate_each_versions_cases(api: ApiClient) -> None:
    assert api.get("admin", "/api/v1/definitions/petition/versions").status_code == 200
    r = pages(api, "admin").get("/definitions/petition/versions")
    assert r.status_code == 200
    if "migration_pages.index" in api.app.view_functions:  # the migration page (built beside this one)
        assert 'href="/admin/migrations?key=petition&amp;version=1">迁移案件</a>' in text(r)
