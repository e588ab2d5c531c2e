"""The browser modeler in Chromium (Playwright): `admin` opens /definitions/petition/edit; the
palette and context pad speak Chinese; selecting the 分管领导签阅 (`leader_sign`) user task shows the
GovFlow panel (办理组 / 表单 / 办理期限); the 办理组 picker changes `camunda:candidateGroups` in the
XML (read from the page's modeler); the change autosaves; removing the form key shows the lint
warning; 检查 lists the server's 「办理组 … 不存在」 and clicking it selects and highlights the task.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import browser_app, serve

pytestmark = pytest.mark.browser

PASSWORD = "govflow-demo"
# what a palette / context pad entry says (diagram-js 15 writes aria-label, older ones title)
LABELS = "els => els.map(e => e.getAttribute('aria-label') || e.getAttribute('title')).filter(Boolean)"
DESELECT = "() => window.GovFlowModeler.get('selection').select(null)"
CJK = re.compile(r"[\u4e00-\u9fff]")
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"


def login(page: Any, base: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")


def modeler_xml(page: Any) -> Any:
    from lxml import etree

    xml = page.evaluate("() => window.GovFlowModeler.saveXML({format: true}).then(r => r.xml)")
    return etree.fromstring(xml.encode("utf-8"))


def task_attr(root: Any, task_id: str, name: str) -> str | None:
    task = root.find(f".//{BPMN}userTask[@id='{task_id}']")
    assert task is not None
    return task.get(f"{CAMUNDA}{name}")


def test_admin_edits_the_leader_sign_task_in_the_chinese_modeler(tmp_path: Path, page: Any, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "modeler")
    running = _case_at_classify(app)
    with serve(app) as base:
        login(page, base, "admin")
        page.goto(f"{base}/definitions/petition/edit")
        expect(page.locator("#modeler.modeler-ready")).to_be_attached()
        expect(page.locator(".page-head h1")).to_have_text("编辑流程：信访件办理")
        expect(page.locator("#based-on")).to_have_text(re.compile(r"^基于 v\d+$"))

        # the palette in Chinese
        palette = page.locator(".djs-palette .entry")
        assert palette.count() >= 10
        expect(page.locator(".djs-palette [data-action='create.start-event']")).to_have_attribute("aria-label", "新建开始事件")
        expect(page.locator(".djs-palette [data-action='hand-tool']")).to_have_attribute("aria-label", "抓手工具（移动画布）")
        titles = palette.evaluate_all(LABELS)
        assert titles and all(CJK.search(t) for t in titles), titles
        page.screenshot(path=str(artifacts_dir / "modeler_01_opened.png"))

        # select 分管领导签阅: the context pad and the panel in Chinese
        page.locator(".djs-element[data-element-id='leader_sign']").click()
        expect(page.locator(".djs-context-pad [data-action='append.append-task']")).to_have_attribute("title", "追加任务")
        expect(page.locator(".djs-context-pad [data-action='delete']")).to_have_attribute("title", "删除")
        pad = page.locator(".djs-context-pad .entry").evaluate_all(
            LABELS)
        assert pad and all(CJK.search(t) for t in pad), pad
        panel = page.locator("#modeler-panel")
        expect(panel.locator(".bio-properties-panel-header-type")).to_have_text("用户任务")
        expect(panel.locator(".bio-properties-panel-header-label")).to_have_text("分管领导签阅")
        for label in ("办理组", "办理人", "表单", "办理期限", "常用期限"):
            expect(panel.locator("label.bio-properties-panel-label", has_text=re.compile(f"^{label}$"))).to_have_count(1)
        picker = panel.locator("select#bio-properties-panel-candidateGroups")
        expect(picker).to_have_value("office_leader")
        expect(picker.locator("option[value='leadership']")).to_have_text(re.compile(r"（leadership）· \d+ 人$"))
        page.screenshot(path=str(artifacts_dir / "modeler_02_leader_sign_panel.png"))

        # 办理组 with the picker → the XML names the new group; the change autosaves
        picker.select_option("leadership")
        assert task_attr(modeler_xml(page), "leader_sign", "candidateGroups") == "leadership"
        expect(page.locator("#draft-status")).to_have_text("有未保存的修改")
        assert page.evaluate("""() => { const ev = new Event('beforeunload', {cancelable: true});
                                        window.dispatchEvent(ev); return ev.defaultPrevented; }""")
        expect(page.locator("#draft-status")).to_have_text(re.compile(r"^已自动保存 \d\d:\d\d"), timeout=10_000)
        assert not page.evaluate("""() => { const ev = new Event('beforeunload', {cancelable: true});
                                            window.dispatchEvent(ev); return ev.defaultPrevented; }""")
        assert 'camunda:candidateGroups="leadership"' in _draft_xml(app, "petition")

        # 办理期限 from a preset: 「N 个工作日」 with N = 10
        panel.locator("#gf-due-preset").select_option(label="N 个工作日")
        panel.locator("#gf-due-days").fill("10")
        panel.locator(".gf-due-apply").click()
        assert task_attr(modeler_xml(page), "leader_sign", "dueDate") == '${add_days(now(), 10, "working")}'

        # remove the form → the lint warns on the canvas and in the list
        panel.locator("select#bio-properties-panel-formKey").select_option("")
        assert task_attr(modeler_xml(page), "leader_sign", "formKey") is None
        row = page.locator("#lint-list li[data-element-id='leader_sign']")
        expect(row).to_contain_text("用户任务没有表单：请在「表单」中选择一个表单")
        expect(row.locator(".gf-issue-element")).to_have_text("分管领导签阅")
        expect(row.locator(".gf-issue-level")).to_have_text("警告")
        expect(page.locator(".djs-overlays[data-container-id='leader_sign'] .bjsl-overlay")).to_have_count(1)
        page.screenshot(path=str(artifacts_dir / "modeler_03_lint_warning.png"))

        # an unknown group: 检查 lists the server's error; clicking it selects and highlights the task
        page.locator(".djs-element[data-element-id='start']").first.click()
        expect(panel.locator(".bio-properties-panel-header-type")).to_have_text("开始事件")
        row.click()  # a lint row selects its element (the task is small: its lint icon covers it)
        expect(panel.locator(".bio-properties-panel-header-label")).to_have_text("分管领导签阅")
        field = panel.locator("input#bio-properties-panel-candidateGroupsText")
        field.fill("no_such_group")
        field.press("Tab")
        assert task_attr(modeler_xml(page), "leader_sign", "candidateGroups") == "no_such_group"
        page.click("#btn-check")
        error = page.locator("#check-list li[data-element-id='leader_sign']", has_text="办理组 no_such_group 不存在")
        expect(error).to_contain_text("办理组 no_such_group 不存在")
        expect(error.locator(".gf-issue-element")).to_have_text("分管领导签阅")
        expect(page.locator("#check-summary")).to_contain_text("检查未通过")
        page.evaluate(DESELECT)
        error.click()
        selected = page.evaluate("() => window.GovFlowModeler.get('selection').get().map(e => e.id)")
        assert selected == ["leader_sign"]
        expect(page.locator(".djs-element[data-element-id='leader_sign']").first).to_have_class(
            re.compile(r"\bgf-issue-error\b"))
        page.screenshot(path=str(artifacts_dir / "modeler_04_check_error_selected.png"))

        # deploy (admin): refused while the group is unknown (the same list), then v2
        page.click("#btn-deploy")
        page.fill("#deploy-comment", "分管领导签阅改由领导班子办理")
        page.locator("#deploy-dialog button[value='ok']").click()
        refused = page.locator("#check-list li[data-element-id='leader_sign']", has_text="办理组 no_such_group 不存在")
        expect(refused).to_have_count(1)
        expect(page.locator("#modeler-result")).to_contain_text("部署未成功")
        expect(page.locator("#based-on")).to_have_text("基于 v1")
        page.evaluate(DESELECT)
        refused.click()
        panel.locator("select#bio-properties-panel-candidateGroups").select_option("leadership")
        panel.locator("select#bio-properties-panel-formKey").select_option("petition_leader_sign")
        page.click("#btn-deploy")
        page.fill("#deploy-comment", "分管领导签阅改由领导班子办理")
        page.locator("#deploy-dialog button[value='ok']").click()
        expect(page.locator("#based-on")).to_have_text("基于 v2")
        expect(page.locator("#versions-link")).to_have_attribute("href", "/definitions/petition/versions")
        page.screenshot(path=str(artifacts_dir / "modeler_05_deployed_v2.png"))
        missing = page.evaluate("() => Array.from(window.GovFlowTranslate.missing)")
        assert missing == [], f"untranslated labels: {missing}"
        modeler_errors = list(page.js_errors)

        # the version list shows v2 with its comment; the running case is still on v1
        page.click("#versions-link")
        expect(page.locator("tr[data-version='2']")).to_contain_text("分管领导签阅改由领导班子办理")
        page.screenshot(path=str(artifacts_dir / "modeler_06_versions.png"), full_page=True)

        # migrate the running case from v1 to v2 (dry run first), then it completes 归纳分类 on v2
        page.goto(f"{base}/admin/migrations?key=petition&version=1&target=2")
        row = page.locator(f"tr[data-business-key='{running['business_key']}']")
        expect(row.locator(".mg-change-cell")).to_contain_text("当前环节无变化")
        row.get_by_role("button", name="迁移到 v2").click()
        expect(page.locator(".flash-success")).to_contain_text(f"已将 {running['business_key']} 迁移到 v2")
        page.screenshot(path=str(artifacts_dir / "modeler_07_migrated.png"), full_page=True)
        assert _case_version(app, running["id"]) == 2

        assert modeler_errors == []


def _case_at_classify(app: Any) -> dict[str, Any]:
    """A petition registered by xfk1 on v1, waiting at 归纳分类."""
    from conftest import PETITION

    from service import clock
    from service.actors import Actor

    svc = app.extensions["govflow"]
    return svc.runtime.start("petition", {**PETITION, "received_at": clock.now().isoformat(timespec="minutes")},
                             Actor(username="xfk1", name="xfk1", groups=frozenset({"xfk"})))


def _draft_xml(app: Any, key: str) -> str:
    from sqlalchemy import select

    from service.store.designer_models import DefinitionDraft

    with app.extensions["govflow"].db.read() as session:
        return str(session.scalars(select(DefinitionDraft.bpmn_xml).where(DefinitionDraft.key == key)).one())


def _case_version(app: Any, instance_id: int) -> int:
    from service.store.models import Definition, Instance

    with app.extensions["govflow"].db.read() as session:
        return int(session.get(Definition, session.get(Instance, instance_id).definition_id).version)


def test_modeler_stacks_the_panel_on_a_phone_and_prints_the_diagram_only(tmp_path: Path, chromium_path: str,
                                                                        artifacts_dir: Path) -> None:
    from conftest import browser_page
    from playwright.sync_api import expect

    app = browser_app(tmp_path, "modeler_phone")
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    with serve(app) as base, browser_page(chromium_path, **phone) as page:
        login(page, base, "admin")
        page.goto(f"{base}/definitions/petition/edit")
        expect(page.locator("#modeler.modeler-ready")).to_be_attached()
        canvas = page.locator("#modeler-canvas").bounding_box()
        panel = page.locator("#modeler-panel").bounding_box()
        assert canvas and panel
        assert panel["y"] >= canvas["y"] + canvas["height"] - 1  # the panel below the canvas
        assert canvas["width"] <= 390 and panel["width"] <= 390
        page.screenshot(path=str(artifacts_dir / "modeler_phone.png"), full_page=True)

        page.emulate_media(media="print")
        expect(page.locator("#modeler-canvas svg").first).to_be_visible()
        for hidden in ("#modeler-panel", ".modeler-toolbar", ".modeler-issues", ".djs-palette", ".topbar"):
            expect(page.locator(hidden).first).to_be_hidden()
        assert page.js_errors == []
