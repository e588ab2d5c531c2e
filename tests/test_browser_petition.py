"""One petition walked through the web pages in Chromium (Playwright), from 登记 to 答复.

xfk1 registers and classifies (交办 法制工作委员会) and proposes; bgs signs; msz approves;
fgw1 handles; xfk1 reviews and replies.  The case then waits in the 30-day 复查 window.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

PASSWORD = "govflow-demo"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with serve(browser_app(tmp_path)) as base:
        yield base


class Walk:
    """The steps a user takes, as small helpers; one screenshot per major step."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page, self.base, self.shots, self.n = page, base, shots, 0

    def shot(self, name: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(self.shots / f"petition_{self.n:02d}_{name}.png"), full_page=True)

    def login(self, username: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/login")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        expect(self.page.locator("h1")).to_have_text("我的待办")

    def logout(self) -> None:
        from playwright.sync_api import expect

        self.page.click(".userbox button:has-text('退出')")
        expect(self.page.locator(".login-card")).to_be_visible()

    def inbox_row(self, business_key: str, task_name: str) -> Any:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/tasks")
        row = self.page.locator(f"tr[data-business-key='{business_key}']").filter(has_text=task_name)
        expect(row).to_have_count(1)
        return row

    def open_task(self, business_key: str, task_name: str) -> None:
        from playwright.sync_api import expect

        self.inbox_row(business_key, task_name).get_by_role("link", name="办理").click()
        expect(self.page.locator(".page-head h1")).to_have_text(task_name)

    def submit(self) -> None:
        from playwright.sync_api import expect

        self.page.click("button:has-text('提交办理')")
        expect(self.page.locator(".flash-success")).to_contain_text("已办理")


def test_petition_from_registration_to_reply(server: str, page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    from service import clock

    walk = Walk(page, server, artifacts_dir)
    today = clock.now()
    received = (today - timedelta(days=2)).strftime("%Y-%m-%dT09:30")
    replied = today.strftime("%Y-%m-%d")  # a reply date may not lie in the future (forms/petition_reply.json)

    # 1 登记 (xfk1)
    walk.login("xfk1")
    page.click("nav >> text=登记信访")
    expect(page.locator("h1")).to_have_text("信访件登记")
    page.fill("#f_received_at", received)
    page.select_option("#f_channel", "来信")
    page.fill("#f_people_count", "1")
    page.fill("#f_petitioner_name", "张三")
    page.fill("#f_petitioner_id_number", "530102199001071234")
    page.fill("#f_petitioner_phone", "13812345678")
    page.fill("#f_petitioner_address", "云南省临沧市临翔区南塘街1号")
    page.fill("#f_subject", "小区道路破损长期未修")
    page.fill("#f_content", "反映所住小区道路破损严重，多次向有关部门反映未解决，请求督促维修。")
    walk.shot("register_form")
    page.click("button:has-text('登记')")
    flash = page.locator(".flash-success")
    expect(flash).to_contain_text("已登记，编号 XF-")
    business_key = re.search(r"XF-\d{4}-\d{6}", flash.inner_text()).group(0)
    expect(page.locator(".page-head h1")).to_have_text(business_key)
    walk.shot("registered")

    # 2 归纳分类 (xfk1): 办理单位 appears only for 交办/转交, with departments only for 交办
    walk.open_task(business_key, "归纳分类")
    expect(page.locator(".field[data-field='handling_group']")).to_be_hidden()
    page.select_option("#f_category", "行政")
    page.select_option("#f_route", "dept")
    expect(page.locator(".field[data-field='handling_group']")).to_be_visible()
    expect(page.locator("#f_handling_group option[value='county_linxiang']")).to_be_disabled()
    page.select_option("#f_handling_group", "dept_fgw")
    expect(page.locator(".col-side")).to_contain_text("张三")
    walk.shot("classify")
    walk.submit()

    # 3 拟办意见 (xfk1)
    walk.open_task(business_key, "拟办意见")
    page.fill("#f_proposal", "拟交法制工作委员会调查处理，60日内办结并报送结果。")
    walk.submit()
    walk.logout()

    # 4 分管领导签阅 (bgs)
    walk.login("bgs")
    walk.inbox_row(business_key, "分管领导签阅")
    walk.shot("inbox_office_leader")
    walk.open_task(business_key, "分管领导签阅")
    page.select_option("#f_decision", "approve")
    page.fill("#f_comment", "同意拟办意见。")
    walk.submit()
    walk.logout()

    # 5 秘书长审批 (msz)
    walk.login("msz")
    walk.open_task(business_key, "秘书长审批")
    page.select_option("#f_decision", "approve")
    walk.submit()
    walk.logout()

    # 6 办理 (fgw1, the unit chosen in 归纳分类): sees the petitioner unmasked
    walk.login("fgw1")
    walk.inbox_row(business_key, "办理").get_by_role("button", name="签收").click()
    expect(page.locator(".flash-success")).to_contain_text("已签收")
    walk.open_task(business_key, "办理")
    expect(page.locator(".col-side")).to_contain_text("张三")
    page.select_option("#f_outcome", "done")
    expect(page.locator(".field[data-field='extension_days']")).to_be_hidden()
    page.fill("#f_result", "经核查，道路破损属实，已协调住建部门于本月内完成维修。")
    walk.shot("handle")
    walk.submit()
    walk.logout()

    # 7 审核办理结果 and 答复信访人 (xfk1)
    walk.login("xfk1")
    walk.open_task(business_key, "审核办理结果")
    page.select_option("#f_decision", "accept")
    walk.submit()
    walk.open_task(business_key, "答复信访人")
    page.fill("#f_reply_text", "您反映的小区道路破损问题已核查属实，有关部门将于本月内完成维修。")
    page.fill("#f_replied_at", replied)
    page.select_option("#f_delivery", "邮寄")
    walk.shot("reply")
    walk.submit()
    expect(page.locator(f"tr[data-business-key='{business_key}']")).to_have_count(0)

    # 8 The case waits in the 复查 window: status, timer, history, diagram with markers
    page.goto(f"{server}/instances?q={business_key}")
    page.get_by_role("link", name=business_key).click()
    expect(page.locator(".page-head .badge")).to_have_text("办理中")
    expect(page.locator("#timers")).to_contain_text("复查申请期满")
    expect(page.get_by_role("button", name="登记复查申请")).to_be_visible()
    history = page.locator(".timeline")
    for step in ("归纳分类", "拟办意见", "分管领导签阅", "秘书长审批", "办理", "审核办理结果", "答复信访人"):
        expect(history).to_contain_text(step)
    expect(page.locator("#diagram svg").first).to_be_attached()
    expect(page.locator("#diagram.diagram-ready")).to_be_attached()
    expect(page.locator("#diagram .djs-element.done").first).to_be_attached()
    assert page.locator("#diagram .djs-element.done").count() >= 8
    walk.shot("waiting_review_window")
    assert page.js_errors == []
