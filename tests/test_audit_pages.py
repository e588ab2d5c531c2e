"""审计日志 for the administrator: /admin/audit with filters (类别, 用户, 来源地址, 结果, 期间, 文字) and
paging, its Excel export (which is itself an audit row), GET /api/v1/admin/audit; nobody else may
read it."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from audit_support import audit_rows, from_address
from conftest import ApiClient, login, text
from identity_support import move_wall_clock

ADDR = "10.20.30.40"


def _seed(app: Any) -> None:
    """Rows on three days: 2026-11-29 (a lock from 10.0.0.7), 2026-11-30 (a setting), and today
    2026-12-01 (the logins of the test's clients)."""
    from service import audit

    db = app.extensions["govflow"].db
    move_wall_clock(timedelta(days=-2))
    audit.write(db, audit.LOGIN_FAILED, target="zhangsan", username="zhangsan", address="10.0.0.7",
                result=audit.FAILURE, detail="密码验证失败")
    audit.write(db, audit.LOCK, target="zhangsan", username="zhangsan", address="10.0.0.7",
                detail="账户连续登录失败 5 次")
    move_wall_clock(timedelta(days=1))
    audit.write(db, audit.SETTING, target="tasks.warn_days", username="admin", address="10.0.0.1",
                detail="到期提醒天数：3 → 5")
    move_wall_clock(timedelta(days=1))


@pytest.fixture
def seeded(page_app: Any) -> Any:
    _seed(page_app)
    return page_app


def _admin(app: Any) -> Any:
    client = from_address(app.test_client(), ADDR)
    assert client.post("/login", data={"username": "admin", "password": "govflow-demo"}).status_code == 302
    return client


def test_only_the_administrator_reads_the_page_the_export_and_the_api(seeded: Any) -> None:
    admin = _admin(seeded)
    assert admin.get("/admin/audit").status_code == 200
    clerk = login(seeded, "xfk1")
    for path in ("/admin/audit", "/admin/audit/export"):
        refused = clerk.get(path)
        assert refused.status_code == 403 and "只有系统管理员可以查看和导出审计日志" in text(refused)
    api = ApiClient(seeded)
    assert api.get("admin", "/api/v1/admin/audit").status_code == 200
    r = api.get("xfk1", "/api/v1/admin/audit")
    assert r.status_code == 403 and r.get_json()["message"] == "只有系统管理员可以查看和导出审计日志"
    assert seeded.test_client().get("/api/v1/admin/audit").status_code == 401


def test_the_page_lists_rows_newest_first_with_chinese_labels(seeded: Any) -> None:
    admin = _admin(seeded)
    page = text(admin.get("/admin/audit"))
    assert "审计日志" in page and "至少保留 180 天" in page
    assert re.findall(r'data-kind="([a-z_]+)"', page)[:1] == ["login"]  # newest first: admin's login just now
    assert f"<td class=\"au-addr\" data-label=\"来源地址\">{ADDR}</td>" in page
    page = text(admin.get("/admin/audit?since=2026-11-29&until=2026-11-30"))
    assert re.findall(r'data-kind="([a-z_]+)"', page) == ["setting", "lock", "login_failed"]
    for label in ("登录失败", "锁定", "参数设置", "成功", "失败", "10.0.0.7", "到期提醒天数：3 → 5", "zhangsan"):
        assert label in page
    assert "<script>" not in page.split('id="audit-filters"')[1] and not re.search(r"\son[a-z]+=", page)


def test_filters_by_kind_user_address_result_period_and_text(seeded: Any) -> None:
    admin = _admin(seeded)

    def kinds(query: str) -> list[str]:
        r = admin.get(f"/admin/audit?{query}")
        assert r.status_code == 200, text(r)
        return re.findall(r'data-kind="([a-z_]+)"', text(r))

    assert kinds("kind=lock") == ["lock"]
    assert kinds("user=zhangsan") == ["lock", "login_failed"]
    assert kinds("address=10.0.0.7&result=failure") == ["login_failed"]
    assert kinds("since=2026-11-30&until=2026-11-30") == ["setting"]
    assert kinds("until=2026-11-29") == ["lock", "login_failed"]
    assert kinds("q=warn_days") == ["setting"]  # the target
    assert kinds("q=连续登录失败") == ["lock"]  # the details
    assert kinds("q=100%") == []  # wildcards are text
    r = admin.get("/admin/audit?since=2026-13-01&kind=nothing")
    assert r.status_code == 422
    assert "起始日期应为日期" in text(r) and "没有“nothing”这一类审计事件" in text(r)


def test_the_api_filters_and_pages(seeded: Any) -> None:
    from service import audit

    db = seeded.extensions["govflow"].db
    for n in range(60):
        audit.write(db, audit.EXPORT, target=f"台账{n}", username="bgs", address="10.0.0.2")
    api = ApiClient(seeded)
    first = api.get("admin", "/api/v1/admin/audit?kind=export&limit=25").get_json()
    assert first["total"] == 60 and len(first["rows"]) == 25 and first["rows"][0]["target"] == "台账59"
    row = first["rows"][0]
    assert {k: row[k] for k in ("username", "address", "kind", "kind_label", "result", "result_label")} == {
        "username": "bgs", "address": "10.0.0.2", "kind": "export", "kind_label": "数据导出",
        "result": "success", "result_label": "成功"}
    assert row["at"].startswith("2026-12-01T10:0") and row["at"].endswith("+08:00")
    last = api.get("admin", "/api/v1/admin/audit?kind=export&limit=25&offset=50").get_json()
    assert [r["target"] for r in last["rows"]] == [f"台账{n}" for n in range(9, -1, -1)]
    bad = api.get("admin", "/api/v1/admin/audit?result=maybe&until=2026-11-01&since=2026-12-01")
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.get_json()["details"]}
    assert fields == {"result", "until"}
    # the page pages by 50
    admin = _admin(seeded)
    page = text(admin.get("/admin/audit?kind=export"))
    assert page.count('data-kind="export"') == 50 and "下一页" in page
    second = text(admin.get("/admin/audit?kind=export&offset=50"))
    assert second.count('data-kind="export"') == 10 and "上一页" in second and "下一页" not in second


def test_the_excel_export_holds_the_filtered_rows_with_the_filter_and_period_and_is_itself_a_row(
        seeded: Any) -> None:
    from openpyxl import load_workbook

    admin = _admin(seeded)
    r = admin.get("/admin/audit/export?user=zhangsan&since=2026-11-01&until=2026-11-30")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert re.match(r'attachment; filename="audit-20261201-10\d\d\.xlsx"', r.headers["Content-Disposition"])
    sheet = load_workbook(io.BytesIO(r.get_data())).active
    values = [[c for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
    header = " ".join(str(v) for row in values[:4] for v in row)
    assert "安全审计日志" in header and "2026-11-01 至 2026-11-30" in header and "用户：zhangsan" in header
    titles = values[4]
    assert titles == ["记录号", "时间", "用户", "来源地址", "类别", "对象", "详情", "结果"]
    body = values[5:]
    assert [(row[2], row[3], row[4], row[7]) for row in body] == [("zhangsan", "10.0.0.7", "登录失败", "失败"),
                                                                  ("zhangsan", "10.0.0.7", "锁定", "成功")]
    export = audit_rows(seeded, "export")[-1]
    assert export[:5] == ("admin", ADDR, "export", "安全审计日志", "success")
    assert "2026-11-01 至 2026-11-30" in export.detail and "用户：zhangsan" in export.detail and "2 条" in export.detail
    refused = admin.get("/admin/audit/export?since=yesterday")
    assert refused.status_code == 422 and "起始日期应为日期" in text(refused)
    assert len(audit_rows(seeded, "export")) == 1
