"""The versions and their diff in Chromium (Playwright): a designer opens the version list, then
the diff of v1 and v2 — both diagrams drawn, the changed task amber on both, the removed one red
on the old, the added one green on the new — and clicking the table row outlines the task in both
viewers; a version opens read-only. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_walk import Walk
from conftest import browser_app, browser_page, serve
from test_version_diff import petition_v2, petition_xml

pytestmark = pytest.mark.browser

COMMENT = "分管领导签阅改由信访科办理"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The demo app with petition v2 deployed by admin with a comment."""
    from service.bootstrap import deploy_bytes

    app = browser_app(tmp_path, "versions")
    svc = app.extensions["govflow"]
    result = deploy_bytes(svc.runtime, petition_v2(petition_xml(app)), "petition.bpmn", "admin", comment=COMMENT)
    assert result["versions"]["petition"] == 2
    with serve(app) as base:
        yield base


def test_designer_sees_the_changed_task_coloured_on_both_diagrams(server: str, page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    walk = Walk(page, server, artifacts_dir, "version_diff")
    walk.login("sjy1")
    page.goto(f"{server}/definitions/petition/versions")
    expect(page.locator("h1")).to_contain_text("版本")
    expect(page.locator("tr[data-version='2'] .vd-comment")).to_have_text(COMMENT)
    walk.shot("versions")

    page.locator("tr[data-version='1']").get_by_role("link", name="与最新版本对比").click()
    expect(page.locator("h1")).to_contain_text("版本对比")
    expect(page.locator("#diff-a[data-ready='1']")).to_be_attached()
    expect(page.locator("#diff-b[data-ready='1']")).to_be_attached()
    changed_b = page.locator("#diff-b .djs-element.vd-changed[data-element-id='leader_sign']")
    changed_a = page.locator("#diff-a .djs-element.vd-changed[data-element-id='leader_sign']")
    expect(changed_b).to_have_count(1)
    expect(changed_a).to_have_count(1)
    expect(page.locator("#diff-a .djs-element.vd-removed[data-element-id='propose']")).to_have_count(1)
    expect(page.locator("#diff-b .djs-element.vd-added[data-element-id='propose_draft']")).to_have_count(1)
    # the colour itself: the task's shape is filled amber
    fill = changed_b.locator(".djs-visual > :nth-child(1)").evaluate("e => getComputedStyle(e).fill")
    assert fill == "rgb(255, 224, 178)", fill
    assert page.locator("#diff-b .djs-element.vd-changed").count() == 4  # the task, its boundary event, 2 flows
    expect(page.locator("#diff-b .djs-element.vd-lane-changed[data-element-id='Lane_xfk']")).to_have_count(1)
    walk.shot("diff")

    row = page.locator("#diff-table tr[data-element-id='leader_sign']")
    expect(row).to_contain_text("办理组")
    expect(row.locator(".vd-before")).to_have_text("office_leader")
    expect(row.locator(".vd-after")).to_have_text("xfk")
    row.click()
    expect(row).to_have_class("vd-selected")
    expect(page.locator("#diff-a .djs-element.vd-focus[data-element-id='leader_sign']")).to_have_count(1)
    expect(page.locator("#diff-b .djs-element.vd-focus[data-element-id='leader_sign']")).to_have_count(1)
    walk.shot("diff_focus")

    # clicking the added task on the diagram selects its row
    page.locator("#diff-b .djs-element[data-element-id='propose_draft']").click()
    expect(page.locator("#diff-table tr[data-element-id='propose_draft']")).to_have_class("vd-selected")
    assert page.js_errors == []

    page.goto(f"{server}/definitions/petition/v1")
    expect(page.locator("#version-diagram[data-ready='1']")).to_be_attached()
    expect(page.locator("#version-tasks tr[data-element-id='leader_sign']")).to_contain_text("办公室分管领导")
    page.locator("#version-tasks tr[data-element-id='leader_sign'] td").first.click()
    expect(page.locator("#version-diagram .djs-element.vd-focus[data-element-id='leader_sign']")).to_have_count(1)
    walk.shot("version_v1")
    assert page.js_errors == []


def test_diff_page_on_a_phone_stacks_the_diagrams(server: str, chromium_path: str, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    with browser_page(chromium_path, viewport={"width": 390, "height": 844}, is_mobile=True) as phone:
        walk = Walk(phone, server, artifacts_dir, "version_diff_phone")
        walk.login("sjy1")
        phone.goto(f"{server}/definitions/petition/diff?a=1&b=2")
        expect(phone.locator("#diff-b[data-ready='1']")).to_be_attached()
        a, b = phone.locator("#diff-a").bounding_box(), phone.locator("#diff-b").bounding_box()
        assert a and b and b["y"] > a["y"] + a["height"] - 1  # one under the other
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        walk.shot("diff")
        assert phone.js_errors == []
