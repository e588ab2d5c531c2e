"""Drills (演练, 应急预案 四(一); issue 12 item 6): a drill runs the same steps, is marked 演练 on its
pages, in the lists, its notices and the exports, and is left out of every figure — the 督办
board's overdue counts included. One real emergency and one drill, both left overdue at 核实."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from conftest import ApiClient, login, pin_clock, text

from service import clock
from service.timers import fire_all_due

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=clock.BEIJING)
REPORT = {"type": "自然灾害", "occurred_at": "2026-12-01T09:50:00+08:00", "discovered_at": "2026-12-01T09:55:00+08:00",
          "place": "机关大院", "people_count": 20, "cause": "地震应急疏散", "demands": "无", "measures_taken": "疏散",
          "trend": "平稳"}


def _report(api: ApiClient, drill: bool) -> dict[str, Any]:
    r = api.post("cjw1", "/api/v1/instances", json={"process": "emergency_response",
                                                    "data": {**REPORT, "drill": drill}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _overdue_pair(api: ApiClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A real emergency and a drill reported at 10:00, neither verified by 10:20 (due 10:15)."""
    pin_clock(T0)
    real, drill = _report(api, False), _report(api, True)
    pin_clock(T0 + timedelta(minutes=20))
    fire_all_due(api.app.extensions["govflow"].runtime)
    api._tokens.clear()  # tokens expire by the (moved) clock
    return real, drill


def test_an_overdue_drill_is_not_on_the_supervision_board_and_a_real_emergency_is(sqlite_api: ApiClient) -> None:
    real, drill = _overdue_pair(sqlite_api)
    assert sqlite_api.instance("zzb1", drill["id"])["due_at"] == "2026-12-01T10:15:00+08:00"  # overdue as well
    r = sqlite_api.get("msz", "/api/v1/supervision/board")
    assert r.status_code == 200, r.get_json()
    board = r.get_json()
    ids = [c["id"] for d in board["departments"] for c in d["cases"]]
    assert ids == [real["id"]]
    assert board["totals"] == {"overdue": 1, "stalled": 0, "listed": 0, "cases": 1}
    # both urged once: the drill runs the same steps, its 催办 marked 演练
    urges = {n["instance_id"]: n["text"] for n in sqlite_api.get("zzb1", "/api/v1/notices").get_json()
             if n["kind"] == "urge"}
    assert urges[drill["id"]].startswith("【演练】【催办】") and not urges[real["id"]].startswith("【演练】")


def test_the_supervision_page_counts_no_drill(page_app: Any) -> None:
    api = ApiClient(page_app)
    real, drill = _overdue_pair(api)
    page = text(login(page_app, "msz").get("/supervision"))
    assert real["business_key"] in page and drill["business_key"] not in page


def test_a_drill_is_marked_on_its_task_page_in_the_lists_and_in_the_case_export(page_app: Any) -> None:
    from openpyxl import load_workbook

    api = ApiClient(page_app)
    pin_clock(T0)
    real, drill = _report(api, False), _report(api, True)
    zzb = login(page_app, "zzb1")
    [task] = [t for t in api.get("zzb1", "/api/v1/tasks").get_json() if t["instance_id"] == drill["id"]]
    [other] = [t for t in api.get("zzb1", "/api/v1/tasks").get_json() if t["instance_id"] == real["id"]]
    head = text(zzb.get(f"/tasks/{task['id']}")).split('<div class="meta-bar">')[0]
    assert '<span class="tag tag-amber" title="演练案件：流程照常运行，不计入统计">演练</span>' in head
    assert "演练</span>" not in text(zzb.get(f"/tasks/{other['id']}")).split('<div class="meta-bar">')[0]
    inbox = text(zzb.get("/tasks"))
    row = inbox.split(drill["business_key"], 1)[1].split("</td>", 1)[0]
    assert '<span class="tag tag-amber">演练</span>' in row
    r = api.get("zzb1", "/api/v1/search?format=xlsx&process=emergency_response&sort=business_key&order=asc")
    assert r.status_code == 200, r.get_data(as_text=True)[:200]
    sheet = load_workbook(io.BytesIO(r.data)).worksheets[0]
    titles = {row[0]: row[1] for row in sheet.iter_rows(min_row=6, values_only=True) if row[0]}
    assert titles == {real["business_key"]: "自然灾害（机关大院）", drill["business_key"]: "【演练】自然灾害（机关大院）"}
