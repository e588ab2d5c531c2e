"""案件迁移 in Chromium (Playwright): the administrator opens the migration page, picks the petition's
v1 and v2, reads the dry run of each running case (分管领导签阅 now offered to 秘书长), migrates one
case, then all the others; the case page records the move, and the page fits a phone. Screenshots
go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import ROAD_PETITION, browser_app, serve
from test_case_migration import regrouped

pytestmark = pytest.mark.browser


def _actor(username: str, *groups: str) -> Any:
    from service.actors import Actor

    return Actor(username=username, name=username, groups=frozenset(groups))


def _case(svc: Any, subject: str, steps: int) -> dict[str, Any]:
    """A petition registered by xfk1 and taken `steps` steps (classify, propose) down the dept route."""
    from sqlalchemy import select

    from service import clock
    from service.store.models import HumanTask

    received = clock.now().isoformat(timespec="minutes")  # today: the 15-day routing timer still waits
    case = svc.runtime.start("petition", {**ROAD_PETITION, "subject": subject, "received_at": received},
                             _actor("xfk1", "xfk"))
    for bpmn_id, form in [("classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
                          ("propose", {"proposal": "建议交办"})][:steps]:
        with svc.db.read() as session:
            task_id = session.scalars(select(HumanTask.id).where(
                HumanTask.instance_id == case["id"], HumanTask.bpmn_id == bpmn_id, HumanTask.state == "open")).one()
        svc.runtime.complete(task_id, form, _actor("xfk1", "xfk"))
    return case


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The demo app with three petitions on v1 (two at 分管领导签阅, one at 归纳分类) and a v2 whose
    分管领导签阅 is offered to 秘书长."""
    from service.bootstrap import deploy_bytes

    app = browser_app(tmp_path)
    svc = app.extensions["govflow"]
    cases = [_case(svc, "小区道路破损长期未修", 2), _case(svc, "学校周边交通安全", 2), _case(svc, "农村饮水安全", 0)]
    xml = (svc.settings.bpmn_dir / "petition.bpmn").read_text(encoding="utf-8")
    deployed = deploy_bytes(svc.runtime, regrouped(xml), "petition.bpmn", "admin", comment="分管领导签阅改由秘书长办理")
    assert deployed["versions"] == {"petition": 2}, deployed
    with serve(app) as base:
        yield base, cases


def test_admin_previews_and_migrates_running_petitions(server: tuple[str, list[dict[str, Any]]], page: Any,
                                                       artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    base, cases = server
    walk = Walk(page, base, artifacts_dir, "migration")
    walk.login("admin")
    page.goto(f"{base}/admin/migrations")
    expect(page.locator(".page-head h1")).to_have_text("案件迁移")
    page.select_option("#key", "petition")
    page.select_option("#version", "1")
    page.select_option("#target", "2")
    page.click("#preview")
    rows = page.locator("table.mg-cases tbody tr")
    expect(rows).to_have_count(3)
    first = page.locator(f"tr[data-business-key='{cases[0]['business_key']}']")
    expect(first.locator(".mg-change-cell")).to_contain_text("分管领导签阅：办理组 办公室分管领导→秘书长")
    expect(page.locator(f"tr[data-business-key='{cases[2]['business_key']}'] .mg-change-cell")) \
        .to_contain_text("当前环节无变化")
    expect(first.locator(".mg-kept")).to_contain_text("分流期限届满")
    expect(page.locator("#movable-count")).to_have_text("3")
    walk.shot("dry_run")

    first.get_by_role("button", name="迁移到 v2").click()
    expect(page.locator(".flash-success")).to_contain_text(f"已将 {cases[0]['business_key']} 迁移到 v2")
    expect(rows).to_have_count(2)
    walk.shot("one_migrated")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#migrate-all button")
    expect(page.locator(".flash-success")).to_contain_text("已迁移 2 件到 v2")
    expect(page.locator("#cases .empty")).to_have_text("v1 没有在办案件")
    walk.shot("all_migrated")

    page.goto(f"{base}/instances/{cases[0]['id']}")
    expect(page.locator(".tl-action").last).to_have_text("迁移版本")
    expect(page.locator("body")).to_contain_text("由 v1 迁移到 v2")
    walk.shot("case_history")
    assert page.js_errors == []

    phone_context = page.context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                                     locale="zh-CN")
    try:
        phone = phone_context.new_page()
        Walk(phone, base, artifacts_dir, "migration_phone").login("admin")
        phone.goto(f"{base}/admin/migrations?key=petition&version=2&target=1")
        expect(phone.locator(".page-head h1")).to_have_text("案件迁移")
        expect(phone.locator("table.mg-cases tbody tr")).to_have_count(3)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        phone.screenshot(path=str(artifacts_dir / "migration_phone_01_dry_run.png"), full_page=True)
    finally:
        phone_context.close()
