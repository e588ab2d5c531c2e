"""The 督办 pages, the notice centre and the virtual-clock page (server-rendered, Flask test client)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import ROAD_PETITION as PETITION
from conftest import login, text

PASSWORD = "govflow-demo"


@pytest.fixture
def app(page_app: Any) -> Any:
    return page_app


def actor(username: str, *groups: str) -> Any:
    from service.actors import Actor

    return Actor(username=username, name=username, groups=frozenset(groups))


def open_task(svc: Any, instance_id: int, bpmn_id: str) -> str:
    from sqlalchemy import select

    from service.store.models import HumanTask

    with svc.db.read() as session:
        return session.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id,
            HumanTask.state == "open")).one()


def handling_case(app: Any, group: str = "dept_fgw") -> dict[str, Any]:
    """A petition received now, at 办理 with `group`."""
    from service import clock

    svc = app.extensions["govflow"]
    data = {**PETITION, "received_at": clock.now().isoformat(timespec="seconds")}
    case = svc.runtime.start("petition", data, actor("xfk1", "xfk"))
    for who, bpmn_id, form in [
        (actor("xfk1", "xfk"), "classify", {"category": "行政", "route": "dept", "handling_group": group}),
        (actor("xfk1", "xfk"), "propose", {"proposal": "建议交办"}),
        (actor("bgs", "office_leader"), "leader_sign", {"decision": "approve"}),
        (actor("msz", "secretary_general"), "sg_approve", {"decision": "approve"}),
    ]:
        svc.runtime.complete(open_task(svc, case["id"], bpmn_id), form, who)
    return case


def flashes(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip() for m in re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', html)]


def unread_badge(html: str) -> int:
    found = re.search(r'id="unread-count">(\d+)<', html)
    return int(found.group(1)) if found else 0


def test_board_renders_for_supervisors_with_departments_and_chart(app: Any) -> None:
    from service import clock

    case = handling_case(app)
    clock.advance(timedelta(days=70))
    client = login(app, "zr")
    response = client.get("/supervision")
    assert response.status_code == 200
    html = text(response)
    assert 'href="/supervision"' in html and ">督办</a>" in html  # nav item
    assert "法制工作委员会" in html
    assert 'id="supervision-chart"' in html and "vendor/echarts/echarts.min.js" in html
    assert 'id="board-data"' in html
    row = re.search(rf'<tr[^>]*data-business-key="{case["business_key"]}".*?</tr>', html, re.S)
    assert row is not None
    assert re.search(r'class="days-overdue">\d+ 天<', row.group(0))
    assert "办理" in row.group(0) and "督办操作" in row.group(0)
    # The department table and the default N.
    assert 'id="dept-dept_fgw"' in html and 'name="stalled_days"' in html and 'value="15"' in html
    # N from the form.
    assert 'value="200"' in text(client.get("/supervision?stalled_days=200"))


def test_board_is_forbidden_to_others_and_hidden_from_their_nav(app: Any) -> None:
    client = login(app, "fgw1")
    response = client.get("/supervision")
    assert response.status_code == 403
    assert "只有督办人员" in text(response)
    assert 'href="/supervision"' not in text(client.get("/tasks"))
    assert client.post("/supervision/urge/1", data={"comment": "x"}).status_code == 403


def test_empty_board_says_so(app: Any) -> None:
    html = text(login(app, "msz").get("/supervision"))
    assert "目前没有超期、停滞或挂牌督办的在办案件" in html
    assert "echarts.min.js" not in html


def test_manual_urge_from_the_board_reaches_the_unit_and_the_header_badge(app: Any) -> None:
    case = handling_case(app)
    fgw = login(app, "fgw1")
    assert unread_badge(text(fgw.get("/tasks"))) == 1  # the 新待办 of its 办理 task (test_task_notices.py)
    assert fgw.post("/notices/read", data={}).status_code == 302
    assert unread_badge(text(fgw.get("/tasks"))) == 0

    msz = login(app, "msz")
    response = msz.post(f"/supervision/urge/{case['id']}", data={"comment": "请于三日内报送办理结果",
                                                                  "next": "/supervision"})
    assert response.status_code == 302 and response.headers["Location"] == "/supervision"
    assert "已发出催办通知，送达：法制工作委员会" in flashes(text(msz.get("/supervision")))

    html = text(fgw.get("/tasks"))
    assert unread_badge(html) == 1
    page = text(fgw.get("/notices"))
    assert unread_badge(page) == 1
    assert "人工催办" in page and case["business_key"] in page and "请于三日内报送办理结果" in page
    assert "未读" in page and "全部标为已读" in page
    notice_id = int(re.search(r'data-notice-id="(\d+)"', page).group(1))
    assert f'href="/instances/{case["id"]}"' in page

    response = fgw.post("/notices/read", data={"id": str(notice_id)})
    assert response.status_code == 302
    page = text(fgw.get("/notices"))
    assert unread_badge(page) == 0 and "已读于" in page
    assert "没有未读通知" in text(fgw.get("/notices?unread=1"))

    # The history on the case page shows the 催办.
    html = text(msz.get(f"/instances/{case['id']}"))
    assert 'class="tl-item tl-urge"' in html and "请于三日内报送办理结果" in html


def test_mark_all_read(app: Any) -> None:
    case = handling_case(app)
    msz = login(app, "msz")
    for comment in ("第一次催办", "第二次催办"):
        msz.post(f"/supervision/urge/{case['id']}", data={"comment": comment})
    fgw = login(app, "fgw1")
    assert unread_badge(text(fgw.get("/tasks"))) == 3  # two 催办 and the 新待办 of 办理
    response = fgw.post("/notices/read", follow_redirects=True)
    assert "已将 3 条通知标为已读" in flashes(text(response))
    assert unread_badge(text(response)) == 0


def test_urge_without_comment_is_refused_with_a_chinese_message(app: Any) -> None:
    case = handling_case(app)
    msz = login(app, "msz")
    response = msz.post(f"/supervision/urge/{case['id']}", data={"comment": " "}, follow_redirects=True)
    assert "请填写催办意见" in flashes(text(response))
    assert msz.post("/supervision/urge/99999", data={"comment": "x"}).status_code == 404


def test_listed_mark_shows_in_inbox_instance_list_and_case_page(app: Any) -> None:
    case = handling_case(app)
    key = case["business_key"]
    fgw = login(app, "fgw1")
    assert "badge-listed" not in text(fgw.get("/tasks"))

    zr = login(app, "zr")
    back = f"/instances/{case['id']}"
    response = zr.post(f"/supervision/listed/{case['id']}", data={"listed": "1", "next": back})
    assert response.status_code == 302 and response.headers["Location"] == back
    page = text(zr.get(back))
    assert "已挂牌督办" in " ".join(flashes(page))
    assert 'class="listed-banner"' in page
    assert 'class="tl-item tl-listed"' in page and ">挂牌督办</span>" in page

    inbox = text(fgw.get("/tasks"))
    row = re.search(rf'<tr[^>]*data-business-key="{key}".*?</tr>', inbox, re.S)
    assert row is not None and "badge-listed" in row.group(0) and "row-listed" in row.group(0)
    listing = text(login(app, "xfk1").get("/instances"))
    row = re.search(rf'<tr[^>]*data-business-key="{key}".*?</tr>', listing, re.S)
    assert row is not None and "挂牌督办" in row.group(0)
    # A listed case is on the board even when neither overdue nor stalled.
    board = text(zr.get("/supervision"))
    assert key in board and "撤销挂牌" in board
    # The unit is told.
    assert "挂牌督办" in text(fgw.get("/notices"))

    zr.post(f"/supervision/listed/{case['id']}", data={"listed": "0"})
    assert "listed-banner" not in text(zr.get(back))
    assert "badge-listed" not in text(fgw.get("/tasks"))
    assert 'class="tl-item tl-unlisted"' in text(zr.get(back))


def test_reassign_from_the_case_page(app: Any) -> None:
    svc = app.extensions["govflow"]
    case = handling_case(app)
    task_id = open_task(svc, case["id"], "handle")
    msz = login(app, "msz")
    back = f"/instances/{case['id']}"
    page = text(msz.get(back))
    assert 'id="supervise"' in page and f'action="/supervision/reassign/{task_id}"' in page
    assert 'id="supervise"' not in text(login(app, "xfk1").get(back))

    response = msz.post(f"/supervision/reassign/{task_id}", data={"group": "", "user": "", "next": back},
                        follow_redirects=True)
    assert "请选择改派的办理组或办理人" in flashes(text(response))
    response = msz.post(f"/supervision/reassign/{task_id}", data={"group": "dept_cjw", "next": back},
                        follow_redirects=True)
    assert "已改派给 财政经济委员会" in flashes(text(response))
    assert 'class="tl-item tl-reassign"' in text(response)
    assert case["business_key"] in text(login(app, "cjw1").get("/tasks"))
    assert case["business_key"] not in text(login(app, "fgw1").get("/tasks"))

    response = msz.post(f"/supervision/reassign/{task_id}", data={"group": "dept_fgw", "user": "jsw1"},
                        follow_redirects=True)
    assert "已改派给 监察和司法委员会" in flashes(text(response))  # jsw1's display name
    assert case["business_key"] in text(login(app, "jsw1").get("/tasks"))


def test_clock_page_is_404_unless_virtual(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVFLOW_CLOCK", raising=False)
    client = login(app, "admin")
    assert client.get("/admin/clock").status_code == 404
    assert "模拟时钟" not in text(client.get("/tasks"))


def test_clock_page_advances_the_virtual_clock(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from service import clock

    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    assert login(app, "msz").get("/admin/clock").status_code == 403
    client = login(app, "admin")
    page = text(client.get("/admin/clock"))
    assert "当前模拟时间" in page and 'class="clock-badge"' in page
    response = client.post("/admin/clock", data={"advance": "P1D"}, follow_redirects=True)
    assert clock.offset() == timedelta(days=1)
    (message,) = flashes(text(response))
    assert message.startswith("时钟已拨至 ") and message.endswith("触发 0 个定时器")
    response = client.post("/admin/clock", data={"advance": "明天"})
    assert response.status_code == 422 and "时长格式不正确" in text(response)
    client.post("/admin/clock", data={"quick": "PT2H", "advance": ""})
    assert clock.offset() == timedelta(days=1, hours=2)
    # Everyone sees the virtual time in the header.
    assert "模拟时钟" in text(login(app, "fgw1").get("/tasks"))
