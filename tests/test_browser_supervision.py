"""The 督办 board in Chromium (Playwright): ECharts draws the chart, the actions work from the
popover, and the notice reaches the unit's header badge. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

PASSWORD = "govflow-demo"
SUBJECTS = ["拖欠农民工工资", "小区道路破损长期未修", "征地补偿标准有异议", "企业排污扰民", "学校周边交通安全",
            "物业服务纠纷", "医保报销问题", "农村饮水安全"]


def _actor(username: str, *groups: str) -> Any:
    from service.actors import Actor

    return Actor(username=username, name=username, groups=frozenset(groups))


def _handling_case(svc: Any, group: str, subject: str) -> dict[str, Any]:
    from sqlalchemy import select

    from service import clock
    from service.store.models import HumanTask

    data = {"received_at": clock.now().isoformat(timespec="seconds"), "channel": "来信", "people_count": 1,
            "petitioner_name": "张三", "petitioner_id_number": "530102199001071234",
            "petitioner_phone": "13812345678", "subject": subject, "content": f"反映{subject}，请求督促解决。"}
    case = svc.runtime.start("petition", data, _actor("xfk1", "xfk"))
    for who, bpmn_id, form in [
        (_actor("xfk1", "xfk"), "classify", {"category": "行政", "route": "dept", "handling_group": group}),
        (_actor("xfk1", "xfk"), "propose", {"proposal": "建议交办"}),
        (_actor("bgs", "office_leader"), "leader_sign", {"decision": "approve"}),
        (_actor("msz", "secretary_general"), "sg_approve", {"decision": "approve"}),
    ]:
        with svc.db.read() as session:
            task_id = session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == case["id"], HumanTask.bpmn_id == bpmn_id,
                HumanTask.state == "open")).one()
        svc.runtime.complete(task_id, form, who)
    return case


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The app with overdue (70 days), stalled (20 days) and fresh cases in three departments."""

    from service import clock

    app = browser_app(tmp_path)
    svc = app.extensions["govflow"]
    subjects = iter(SUBJECTS)
    cases = [_handling_case(svc, g, next(subjects)) for g in ("dept_fgw", "dept_fgw", "dept_cjw", "dept_jsw")]
    clock.advance(timedelta(days=50))
    cases += [_handling_case(svc, g, next(subjects)) for g in ("dept_fgw", "dept_cjw", "dept_cjw")]
    clock.advance(timedelta(days=20))
    cases += [_handling_case(svc, "dept_jsw", next(subjects))]
    from service import supervision

    supervision.set_listed(svc.db, cases[0]["id"], True, "主任批示", _actor("zr", "leadership"))
    supervision.set_listed(svc.db, cases[-1]["id"], True, None, _actor("zr", "leadership"))
    with serve(app) as base:
        yield base, cases


def _login(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")


def test_supervision_board_chart_and_urge(server: tuple[str, list[dict[str, Any]]], page: Any,
                                          artifacts_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playwright.sync_api import expect

    base, cases = server
    _login(page, base, "zr")
    page.click("nav >> text=督办")
    expect(page.locator("h1")).to_have_text("督办")
    expect(page.locator("#totals .stat-overdue .stat-num")).to_have_text("4")
    expect(page.locator("#totals .stat-stalled .stat-num")).to_have_text("7")
    expect(page.locator("#totals .stat-listed .stat-num")).to_have_text("2")
    expect(page.locator("#supervision-chart svg")).to_be_attached()
    chart = page.locator("#supervision-chart")
    for name in ("法制工作委员会", "财政经济委员会", "监察和司法委员会", "超期"):
        expect(chart).to_contain_text(name)
    expect(page.locator("section.dept")).to_have_count(3)
    page.screenshot(path=str(artifacts_dir / "supervision_board.png"), full_page=True)

    # 催办 from the popover of the first overdue case of 法制工作委员会
    key = cases[1]["business_key"]
    row = page.locator(f"tr[data-business-key='{key}']")
    expect(row.locator(".days-overdue")).to_contain_text("天")
    row.locator("summary", has_text="督办操作").click()
    row.locator("textarea[name=comment]").fill("请于三日内报送办理结果")
    page.screenshot(path=str(artifacts_dir / "supervision_board_popover.png"))
    row.get_by_role("button", name="发送催办").click()
    expect(page.locator(".flash-success")).to_contain_text("已发出催办通知，送达：法制工作委员会")
    expect(page.locator("h1")).to_have_text("督办")
    assert page.js_errors == []

    # The case page: the 「挂牌督办」 mark and the 督办 panel
    page.goto(f"{base}/instances/{cases[0]['id']}")
    expect(page.locator(".page-head .listed-banner")).to_have_text("挂牌督办")
    expect(page.locator("#supervise")).to_contain_text("撤销挂牌")
    expect(page.locator(".timeline")).to_contain_text("挂牌督办")
    page.screenshot(path=str(artifacts_dir / "supervision_case.png"), full_page=True)

    page.click(".userbox button:has-text('退出')")
    _login(page, base, "fgw1")
    expect(page.locator(f"tr[data-business-key='{cases[0]['business_key']}'] .badge-listed")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "supervision_inbox_listed.png"), full_page=True)
    # 挂牌督办 of cases[0], the 催办, and the 新待办 of the unit's three 办理 tasks
    expect(page.locator("#unread-count")).to_have_text("5")
    page.click(".notice-link")
    expect(page.locator("h1")).to_have_text("通知")
    expect(page.locator("#notices")).to_contain_text("请于三日内报送办理结果")
    page.screenshot(path=str(artifacts_dir / "notices.png"), full_page=True)
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.locator("#unread-count")).to_have_count(0)
    assert page.js_errors == []

    # 模拟时钟 (GOVFLOW_CLOCK=virtual): the admin moves it from the page; everyone sees the badge.
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    page.click(".userbox button:has-text('退出')")
    _login(page, base, "admin")
    page.click(".clock-badge")
    expect(page.locator("h1")).to_have_text("模拟时钟")
    page.get_by_role("button", name="+1 天").click()
    expect(page.locator(".flash-success")).to_contain_text("时钟已拨至")
    expect(page.locator(".flash-success")).to_contain_text("个定时器")
    page.screenshot(path=str(artifacts_dir / "virtual_clock.png"), full_page=True)
    assert page.js_errors == []
