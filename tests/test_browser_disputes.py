"""A monthly screening round walked through the pages in Chromium (Playwright): 法制工作委员会 files
a 零报告, 财政经济委员会 files two disputes (rows added in the page), 综治办 sees the round's board
(blue, green, and red for 监察和司法委员会 still missing), then — once the last report is in — does
研判 and 会议, and finds the two new dispute cases linked to the round. Screenshots go to
tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import ApiClient, browser_app, serve

pytestmark = pytest.mark.browser

ROUND = "PC-2026-12"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    app = browser_app(tmp_path, "disputes")
    with serve(app) as base:
        yield app, base


def _fill_dispute(page: Any, index: int, parties: str, kind: str, place: str, summary: str, risk: str) -> None:
    page.fill(f"[name='disputes-{index}-parties']", parties)
    page.fill(f"[name='disputes-{index}-type']", kind)
    page.fill(f"[name='disputes-{index}-place']", place)
    page.fill(f"[name='disputes-{index}-summary']", summary)
    page.select_option(f"[name='disputes-{index}-risk']", risk)


def test_a_zero_report_and_two_disputes_reach_the_board_and_become_cases(
        served: tuple[Any, str], page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    app, base = served
    api = ApiClient(app)
    started = api.post("zzb1", "/api/v1/instances",
                       json={"process": "dispute_screening_monthly", "data": {"period": "2026-12"}})
    assert started.status_code == 201, started.get_json()
    assert started.get_json()["business_key"] == ROUND
    round_id = started.get_json()["id"]
    walk = Walk(page, base, artifacts_dir, "disputes", ROUND)

    # 法制工作委员会: 零报告 is a choice of its own
    walk.login("fgw1")
    walk.open_task("报送排查报告")
    walk.shot("fgw1_report_form")
    walk.page.check("input[type=checkbox][name='zero_report']")
    walk.submit()

    # 财政经济委员会: neither choice is refused in Chinese, then two disputes added in the page
    walk.login("cjw1")
    walk.open_task("报送排查报告")
    walk.page.click("button:has-text('提交办理')")
    expect(walk.page.locator(".field-error").first).to_contain_text("零报告")
    _fill_dispute(walk.page, 0, "张三、李四", "土地纠纷", "临翔区博尚镇", "两户因承包地界发生争执", "一般")
    walk.page.click("button:has-text('添加一行')")
    _fill_dispute(walk.page, 1, "王五", "劳资纠纷", "临翔区工业园区", "某企业拖欠十二名工人工资", "较大")
    walk.page.click("button:has-text('添加一行')")  # a third, left empty: not submitted
    walk.shot("cjw1_two_disputes")
    walk.submit()

    # 综治办 sees the board: blue, green and red (the deadline passed for nobody yet: 待报)
    walk.login("zzb1")
    walk.page.goto(f"{base}/rounds/{round_id}/reports")
    rows = walk.page.locator("#round-reports tr.db-row")
    expect(rows).to_have_count(3)
    expect(walk.page.locator("tr[data-group='dept_fgw']")).to_have_attribute("data-status", "zero_report")
    expect(walk.page.locator("tr[data-group='dept_cjw']")).to_have_attribute("data-status", "reported")
    expect(walk.page.locator("tr[data-group='dept_jsw']")).to_have_attribute("data-status", "missing")
    expect(walk.page.locator("tr[data-group='dept_cjw']")).to_contain_text("2")
    walk.shot("zzb1_round_board")
    expect(walk.page.locator(".db-actions a:has-text('重要时期')")).to_have_attribute("href", "/important-periods")
    board = api.get("zzb1", f"/api/v1/instances/{round_id}/reports").get_json()
    assert {r["group"]: (r["status"], r["disputes"]) for r in board} == {
        "dept_fgw": ("zero_report", 0), "dept_cjw": ("reported", 2), "dept_jsw": ("missing", 0)}

    # the last department reports; 综治办 does 研判 and 会议 in the page
    assert api.complete("jsw1", round_id, "report", {"zero_report": True}).status_code == 200
    walk.open_task("分析研判")
    walk.page.fill("[name='summary']", "本月排查发现两起矛盾纠纷，其中劳资纠纷风险较大，需重点关注。")
    walk.submit()
    walk.open_task("领导小组会议")
    walk.page.fill("[name='minutes']", "会议研究两起矛盾纠纷的调处责任单位和时限。")
    walk.submit()

    # the two disputes are dispute cases now, each linked to the round
    walk.page.goto(f"{base}/instances/{round_id}")
    expect(walk.page.locator("body")).to_contain_text("JF-2026-0001")
    expect(walk.page.locator("body")).to_contain_text("JF-2026-0002")
    walk.shot("zzb1_round_done_with_cases")
    links = api.instance("zzb1", round_id)["links"]
    assert sorted(link["business_key"] for link in links if link["relation"] == "source") == [
        "JF-2026-0001", "JF-2026-0002"]
    first = next(link["id"] for link in links if link["business_key"] == "JF-2026-0001")
    walk.page.goto(f"{base}/instances/{first}")
    expect(walk.page.locator("body")).to_contain_text("财政经济委员会")  # reported_by, by its name
    expect(walk.page.locator("body")).not_to_contain_text("dept_cjw")
    walk.page.goto(f"{base}/tasks")
    expect(walk.page.locator("tr[data-business-key='JF-2026-0002']")).to_have_count(1)
    # 综治办 starts three procedures: one 发起 menu in the top bar, which stays on one line
    walk.page.click("nav .nav-menu > summary")
    expect(walk.page.locator("nav .nav-menu a")).to_have_text(["发起月度排查", "发起每日排查", "登记矛盾纠纷"])
    expect(walk.page.locator("nav .nav-menu a").last).to_be_visible()
    bar = walk.page.locator(".topbar, header").first.bounding_box()
    assert bar is not None and bar["height"] < 80, bar
    walk.shot("zzb1_inbox_new_cases")
    walk.page.click("nav .nav-menu a:has-text('登记矛盾纠纷')")
    expect(walk.page.locator(".page-head h1")).to_be_visible()
    assert walk.page.url.endswith("/dispute-cases/new")
    assert page.js_errors == []
