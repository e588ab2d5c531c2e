"""已办 and 办结 (the tabs beside 我的待办): the tasks one completed with what one decided, and the
finished cases of one's groups, over the JSON API (SQLite and PostgreSQL) and the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import ApiClient, done, login, refused_and_replied, start, text

from service import clock

ROUTE_DEPT = "本级监督一般事项（交办有关部门）"


def signed(api: ApiClient) -> int:
    """xfk1 classifies (to 法制工作委员会) and proposes, bgs signs."""
    iid = start(api)
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交有关单位办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    return iid


def finished(api: ApiClient) -> int:
    """A petition not accepted (reject → reply), archived when the 30-day 复查 window ends."""
    from service.timers import fire_all_due

    iid = refused_and_replied(api, category="行政")
    clock.advance(timedelta(days=31))
    api._tokens.clear()
    fire_all_due(api.app.extensions["govflow"].runtime)
    assert api.instance("xfk1", iid)["status"] == "completed"
    return iid


def get_ok(api: ApiClient, user: str, path: str) -> list[dict[str, Any]]:
    r = api.get(user, path)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_done_tasks_list_what_each_user_decided(api: ApiClient) -> None:
    iid = signed(api)
    mine = get_ok(api, "xfk1", "/api/v1/tasks/done")
    assert [(t["bpmn_id"], t["instance_id"]) for t in mine] == [("propose", iid), ("classify", iid)]
    classify = mine[1]
    assert classify["decision"]["route"] == "dept"
    assert classify["decision"]["handling_group"] == "dept_fgw"
    assert classify["completed_by"] == "xfk1" and classify["completed_at"] and classify["state"] == "completed"
    assert classify["business_key"] == api.instance("xfk1", iid)["business_key"]
    assert mine[0]["decision"]["proposal"] == "建议交有关单位办理"

    signed_by_bgs = get_ok(api, "bgs", "/api/v1/tasks/done")
    assert [(t["bpmn_id"], t["decision"]["decision"]) for t in signed_by_bgs] == [("leader_sign", "approve")]
    assert get_ok(api, "fgw1", "/api/v1/tasks/done") == []


def test_done_tasks_filters(api: ApiClient) -> None:
    first, second = signed(api), signed(api)
    key = api.instance("xfk1", first)["business_key"]
    by_key = get_ok(api, "xfk1", f"/api/v1/tasks/done?q={key.lower()}")
    assert {t["instance_id"] for t in by_key} == {first}
    assert len(get_ok(api, "xfk1", "/api/v1/tasks/done")) == 4
    assert len(get_ok(api, "xfk1", "/api/v1/tasks/done?since=2026-12-01&until=2026-12-01&process=petition")) == 4
    assert get_ok(api, "xfk1", "/api/v1/tasks/done?until=2026-11-30") == []
    assert get_ok(api, "xfk1", "/api/v1/tasks/done?since=2026-12-02") == []
    assert get_ok(api, "xfk1", "/api/v1/tasks/done?process=nothing") == []
    paged = get_ok(api, "xfk1", "/api/v1/tasks/done?limit=3&offset=2")
    assert len(paged) == 2 and {t["instance_id"] for t in paged} == {first}  # newest (second) first
    assert second != first
    r = api.get("xfk1", "/api/v1/tasks/done?since=2026-13-01")
    assert r.status_code == 400 and "YYYY-MM-DD" in r.get_json()["message"]


def test_finished_cases_of_my_groups(api: ApiClient) -> None:
    running = signed(api)
    iid = finished(api)
    mine = get_ok(api, "xfk1", "/api/v1/cases/finished")
    assert [c["id"] for c in mine] == [iid]
    assert mine[0]["status"] == "completed" and mine[0]["completed_at"]
    assert running not in [c["id"] for c in mine]
    assert get_ok(api, "fgw1", "/api/v1/cases/finished") == []

    key = mine[0]["business_key"]
    assert [c["id"] for c in get_ok(api, "xfk1", f"/api/v1/cases/finished?q={key}")] == [iid]
    assert get_ok(api, "xfk1", "/api/v1/cases/finished?q=XF-1999") == []
    today = clock.now().date().isoformat()
    assert [c["id"] for c in get_ok(api, "xfk1", f"/api/v1/cases/finished?since={today}&until={today}")] == [iid]
    assert get_ok(api, "xfk1", "/api/v1/cases/finished?until=2026-12-31") == []
    r = api.get("xfk1", "/api/v1/cases/finished?until=tomorrow")
    assert r.status_code == 400 and "until" in r.get_json()["message"]
    # and the done tasks of the finished case are in 已办 of whoever did them
    assert {t["bpmn_id"] for t in get_ok(api, "xfk1", f"/api/v1/tasks/done?q={key}")} == {"classify", "reply"}


def test_pages_show_the_tabs_and_the_labelled_decisions(page_app: Any) -> None:
    api = ApiClient(page_app)
    iid = signed(api)
    key = api.instance("xfk1", iid)["business_key"]
    client = login(page_app, "xfk1")
    for path in ("/tasks", "/tasks/done", "/cases/finished"):
        r = client.get(path)
        assert r.status_code == 200, path
        page = text(r)
        assert 'class="tabs work-tabs"' in page and "已办</a>" in page and "办结</a>" in page
        assert 'class="active">我的待办</a>' in page  # the nav's 我的待办 stays active
    page = text(client.get("/tasks/done"))
    assert key in page and ROUTE_DEPT in page and "法制工作委员会" in page and "建议交有关单位办理" in page
    assert 'class="table table-cards" id="done-tasks"' in page and 'data-label="办理情况"' in page
    listed = page.split('id="done-tasks"')[1].split("</table>")[0]
    assert f"<b>分流方式</b>：{ROUTE_DEPT}" in listed and "dept_fgw" not in listed  # labels, never raw keys
    assert key not in text(client.get("/tasks/done?q=XF-1999"))
    assert key not in text(client.get("/tasks/done?until=2026-11-30"))
    bad = client.get("/tasks/done?since=not-a-date", follow_redirects=True)
    assert bad.status_code == 200 and "格式有误" in text(bad)
    assert "没有符合条件的办结案件" in text(client.get("/cases/finished"))

    leader = text(login(page_app, "bgs").get("/tasks/done"))
    assert key in leader and "<b>签阅意见</b>：同意" in leader and "approve" not in leader

    done_iid = finished(api)
    done_key = api.instance("xfk1", done_iid)["business_key"]
    client = login(page_app, "xfk1")
    page = text(client.get("/cases/finished"))
    assert done_key in page and 'id="finished-cases"' in page and 'data-label="办结时间"' in page
    assert done_key not in text(login(page_app, "fgw1").get("/cases/finished"))


def test_pages_need_a_login(page_app: Any) -> None:
    client = page_app.test_client()
    for path in ("/tasks/done", "/cases/finished"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    for path in ("/api/v1/tasks/done", "/api/v1/cases/finished"):
        assert client.get(path).status_code == 401, path
