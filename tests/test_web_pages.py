"""The Chinese web pages (server-rendered): login, 我的待办, task forms, case view, masking."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ROAD_PETITION as PETITION
from conftest import login, text

PASSWORD = "govflow-demo"


@pytest.fixture
def app(page_app: Any) -> Any:
    return page_app


@pytest.fixture
def svc(app: Any) -> Any:
    return app.extensions["govflow"]


def actor(username: str, *groups: str) -> Any:
    from service.actors import Actor

    return Actor(username=username, name=username, groups=frozenset(groups))


XFK = ("xfk1", "xfk")


def start_petition(svc: Any) -> dict[str, Any]:
    return svc.runtime.start("petition", dict(PETITION), actor(*XFK))


def open_task(svc: Any, instance_id: int, bpmn_id: str) -> str:
    from sqlalchemy import select

    from service.store.models import HumanTask

    with svc.db.read() as session:
        return session.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id,
            HumanTask.state == "open")).one()


def test_login_with_bad_password_shows_chinese_error(app: Any) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": "xfk1", "password": "wrong"})
    assert response.status_code == 401
    assert "用户名或密码错误" in text(response)


def test_login_redirects_to_next_but_never_off_site(app: Any) -> None:
    client = app.test_client()
    response = client.get("/instances")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.post("/login?next=/instances", data={"username": "xfk1", "password": PASSWORD})
    assert response.headers["Location"] == "/instances"
    client = app.test_client()
    response = client.post("/login?next=//evil.example/x", data={"username": "xfk1", "password": PASSWORD})
    assert response.headers["Location"] == "/tasks"


def test_post_without_csrf_token_is_refused(app: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/login", data={"username": "xfk1", "password": PASSWORD})
    assert response.status_code == 400
    assert "页面已过期" in text(response)
    page = text(client.get("/login"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "xfk1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_root_redirects_to_inbox_and_header_shows_user(app: Any) -> None:
    client = login(app, "xfk1")
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks")
    page = text(client.get("/tasks"))
    assert "GovFlow" in page and "信访科 张科员" in page and "退出" in page
    assert "登记信访" in page and "流程定义" not in page
    assert "登记信访" not in text(login(app, "fgw1").get("/tasks"))
    assert "流程定义" in text(login(app, "admin").get("/tasks"))


def test_inbox_lists_classify_task_for_xfk_not_for_dept(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    page = text(login(app, "xfk1").get("/tasks"))
    assert started["business_key"] in page
    assert "归纳分类" in page and "信访件办理" in page
    assert "签收" in page and "办理" in page
    other = text(login(app, "fgw1").get("/tasks"))
    assert started["business_key"] not in other
    assert "暂无待办任务" in other


def test_claim_and_unclaim_from_inbox(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    task_id = open_task(svc, started["id"], "classify")
    client = login(app, "xfk1")
    response = client.post(f"/tasks/{task_id}/claim", follow_redirects=True)
    page = text(response)
    assert "已签收" in page and "退回签收" in page
    # xfk2 no longer sees it; claiming it anyway is refused with a message.
    other = login(app, "xfk2")
    assert started["business_key"] not in text(other.get("/tasks"))
    assert "已由 xfk1 签收" in text(other.post(f"/tasks/{task_id}/claim", follow_redirects=True))
    page = text(client.post(f"/tasks/{task_id}/unclaim", follow_redirects=True))
    assert "已退回签收" in page
    assert started["business_key"] in text(other.get("/tasks"))


def test_task_page_renders_selects_with_chinese_labels(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    task_id = open_task(svc, started["id"], "classify")
    response = login(app, "xfk1").get(f"/tasks/{task_id}")
    assert response.status_code == 200
    page = text(response)
    assert '<select id="f_route" name="route"' in page
    assert '<option value="dept">本级监督一般事项（交办有关部门）</option>' in page
    assert '<option value="dept_fgw">法制工作委员会</option>' in page
    assert '<option value="county_linxiang">临翔区人大常委会</option>' in page
    assert '<option value="xfk">' not in page  # x-group-prefix: only dept_ / county_ groups
    # 案件情况 beside the form: labels from the register form, personal data for the chain.
    assert "信访人姓名" in page and "张三" in page and "来源渠道" in page
    assert "办理记录" in page and "登记" in page


def test_register_form_widgets(app: Any, svc: Any) -> None:
    page = text(login(app, "xfk1").get("/petitions/new"))
    assert 'type="datetime-local"' in page and 'name="received_at"' in page
    assert '<textarea id="f_content" name="content"' in page
    assert 'type="number"' in page and 'min="1"' in page
    assert '信访人姓名<span class="req">*</span>' in page


def test_invalid_classify_returns_422_with_error_next_to_field(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    task_id = open_task(svc, started["id"], "classify")
    client = login(app, "xfk1")
    response = client.post(f"/tasks/{task_id}", data={"category": "行政", "route": "dept"})
    assert response.status_code == 422
    page = text(response)
    field = re.search(r'<div class="field has-error" data-field="handling_group".*?</div>\s*</div>', page, re.S)
    assert field is not None, page
    assert 'class="field-error"' in field.group(0)
    assert "此项为必填项" in field.group(0) or "请选择办理单位" in field.group(0)
    # the entered values are kept
    assert '<option value="dept" selected>' in page
    assert '<option value="行政" selected>' in page


def test_valid_classify_completes_and_moves_on(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    task_id = open_task(svc, started["id"], "classify")
    client = login(app, "xfk1")
    response = client.post(f"/tasks/{task_id}",
                           data={"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/tasks")
    page = text(client.get("/tasks"))
    assert "已办理" in page and "拟办意见" in page
    # the history shows what was decided, with the form's labels
    case = text(client.get(f"/instances/{started['id']}"))
    assert re.search(r'class="tl-data">.*?<b>分流方式</b>：本级监督一般事项（交办有关部门）', case, re.S)
    assert "<b>办理单位</b>：法制工作委员会" in case
    # posting the same task again: 409 with the Chinese message
    again = client.post(f"/tasks/{task_id}", data={"category": "行政", "route": "own"})
    assert again.status_code == 409
    assert "该任务已办理" in text(again)


def test_dept_user_gets_403_on_another_groups_task(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    task_id = open_task(svc, started["id"], "classify")
    client = login(app, "cjw1")
    assert client.get(f"/tasks/{task_id}").status_code == 403
    response = client.post(f"/tasks/{task_id}", data={"category": "行政", "route": "own"})
    assert response.status_code == 403
    assert "无权" in text(response)


def test_outside_the_chain_sees_petitioner_masked(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    path = f"/instances/{started['id']}"
    inside = text(login(app, "xfk1").get(path))
    assert "张三" in inside and "530102199001071234" in inside
    # admin sees every case (supervisor) but is not in the petition's chain
    response = login(app, "admin").get(path)
    assert response.status_code == 200
    outside = text(response)
    assert "张*" in outside and "张三" not in outside
    assert "5301**********1234" in outside and "530102199001071234" not in outside
    # a department that takes no part in the case does not see it at all
    assert login(app, "cjw1").get(path).status_code == 403


def test_instance_page_shows_case_tasks_history_and_diagram(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    client = login(app, "xfk1")
    page = text(client.get(f"/instances/{started['id']}"))
    assert started["business_key"] in page and "办理中" in page
    assert "当前待办" in page and "归纳分类" in page and "办理记录" in page
    assert 'id="diagram"' in page and "bpmn-navigated-viewer.production.min.js" in page
    assert "2026-01-05 09:00" in page  # Beijing time, YYYY-MM-DD HH:MM
    xml = client.get(f"/definitions/{svc_definition_id(svc)}/xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert b"petition" in xml.data


def svc_definition_id(svc: Any) -> int:
    from service import definitions

    with svc.db.read() as session:
        return definitions.latest(session, "petition").id


def test_register_petition_through_the_page(app: Any, svc: Any) -> None:
    client = login(app, "xfk1")
    bad = client.post("/petitions/new", data={**PETITION, "petitioner_phone": "12", "subject": ""})
    assert bad.status_code == 422
    page = text(bad)
    assert re.search(r'data-field="petitioner_phone".*?class="field-error"[^>]*>格式不正确', page, re.S)
    assert 'value="张三"' in page
    response = client.post("/petitions/new", data=PETITION)
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert re.search(r"已登记，编号 XF-\d{4}-\d{6}", page)
    assert "小区道路破损长期未修" in page


def test_only_xfk_and_admin_register_petitions(app: Any) -> None:
    assert login(app, "fgw1").get("/petitions/new").status_code == 403
    assert login(app, "fgw1").post("/petitions/new", data=PETITION).status_code == 403
    assert login(app, "admin").get("/petitions/new").status_code == 200


def test_case_search_filters(app: Any, svc: Any) -> None:
    started = start_petition(svc)
    client = login(app, "xfk1")
    page = text(client.get("/instances"))
    assert started["business_key"] in page and "小区道路破损长期未修" in page and "信访件办理" in page
    assert "已超期" in page  # received 2026-01-05: 60 days have passed
    assert started["business_key"] in text(client.get("/instances?overdue=1&process=petition&status=running"))
    assert started["business_key"] not in text(client.get("/instances?status=completed"))
    assert started["business_key"] not in text(client.get("/instances?q=XF-1999"))
    assert "没有符合条件的案件" in text(login(app, "cjw1").get("/instances"))


def test_definitions_page_admin_only_and_reports_errors(app: Any, svc: Any) -> None:
    import io

    assert login(app, "xfk1").get("/definitions").status_code == 403
    client = login(app, "admin")
    page = text(client.get("/definitions"))
    assert "petition" in page and "v1" in page
    bad = client.post("/definitions", data={"file": (io.BytesIO(b"<bpmn:definitions"), "bad.bpmn")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422
    assert "行号" in text(bad) and "XML" in text(bad)
    source = (Path(__file__).resolve().parent.parent / "bpmn" / "petition.bpmn").read_text(encoding="utf-8")
    xml = source.replace('name="信访件办理"', 'name="信访件办理（修订）"', 1).encode()
    ok = client.post("/definitions", data={"file": (io.BytesIO(xml), "petition.bpmn")},
                     content_type="multipart/form-data", follow_redirects=True)
    assert ok.status_code == 200
    assert "已部署 petition v2" in text(ok)
