"""The rules of 突发事件应急处置 (PROCEDURES.md §4, API.md `emergency_response`): 迟报 after 15
minutes, the minute-exact deadlines of 核实 (15 minutes), 向上级报告 (2 hours) and 专题报告 (the end
of the 7th day after the end), each with one 催办; the hourly 续报 cycle that stops at 应急结束 and
closes the reports still open, in the history; the general and the major path end to end."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ApiClient, done, pin_clock, start
from sqlalchemy import select

from service import clock, config_store
from service.store.models import HumanTask
from service.timers import fire_all_due

PROCESS = "emergency_response"
T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=clock.BEIJING)
REPORT = {"type": "群体性事件", "occurred_at": "2026-12-01T09:30:00+08:00",
          "discovered_at": "2026-12-01T09:50:00+08:00", "place": "机关大院门口", "people_count": 12,
          "cause": "施工方拖欠工资，工人聚集讨薪", "demands": "当天支付拖欠的工资", "measures_taken": "门卫劝导",
          "trend": "人数在增加", "drill": False}
VERIFIED = {"facts": "经电话核实，约12名工人聚集", "handling_group": "dept_fgw"}


def at(moment: datetime) -> None:
    pin_clock(moment)


def report(api: ApiClient, user: str = "cjw1", **changes: Any) -> int:
    r = api.post(user, "/api/v1/instances", json={"process": PROCESS, "data": {**REPORT, **changes}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def fire(api: ApiClient, moment: datetime) -> int:
    """Move the clock to `moment` and fire everything due, as the timer job does."""
    at(moment)
    fired = fire_all_due(api.app.extensions["govflow"].runtime)
    api._tokens.clear()  # tokens expire by the (moved) clock
    return fired


def notices(api: ApiClient, user: str, iid: int, kind: str) -> list[dict[str, Any]]:
    return [n for n in api.get(user, "/api/v1/notices").get_json() if n["instance_id"] == iid and n["kind"] == kind]


def open_ids(api: ApiClient, iid: int) -> list[str]:
    return sorted(t["bpmn_id"] for t in api.instance("zzb1", iid)["open_tasks"])


def decided(api: ApiClient, level: str, when: datetime = T0) -> int:
    """An emergency reported at `when`, verified and decided at that very minute."""
    at(when)
    iid = report(api)
    done(api, "zzb1", iid, "verify", {**VERIFIED, "proposed_level": level})
    done(api, "msz", iid, "decide_level", {"level": level, "commander": "秘书长"})
    return iid


# ---------------------------------------------------------------- 接警: 迟报, the first notices


def test_a_report_more_than_15_minutes_after_discovery_is_late_and_not_at_14_59(api: ApiClient) -> None:
    at(T0)
    on_time = report(api, discovered_at="2026-12-01T09:45:01+08:00")  # 14 min 59 s
    exactly = report(api, discovered_at="2026-12-01T09:45:00+08:00")  # 15 min: still on time
    late = report(api, discovered_at="2026-12-01T09:44:59+08:00")  # 15 min 1 s
    flags = [api.instance("zzb1", i)["data"]["report_late"] for i in (on_time, exactly, late)]
    assert flags == [False, False, True]
    start_row = [h for h in api.instance("zzb1", late)["history"] if h["action"] == "start"][0]
    assert start_row["data"]["report_late"] is True and start_row["data"]["reported_at"] == "2026-12-01T10:00:00+08:00"
    [late_notice] = notices(api, "zzb1", late, "emergency_report")
    [on_time_notice] = notices(api, "zzb1", on_time, "emergency_report")
    assert "迟报" in late_notice["text"] and "迟报" not in on_time_notice["text"]


def test_the_report_minutes_setting_moves_the_late_mark(sqlite_api: ApiClient) -> None:
    db = sqlite_api.app.extensions["govflow"].db
    with db.write() as session:
        config_store.put(session, f"{PROCESS}.report_minutes", 20)
    try:
        at(T0)
        iid = report(sqlite_api, discovered_at="2026-12-01T09:44:00+08:00")  # 16 minutes
        assert sqlite_api.instance("zzb1", iid)["data"]["report_late"] is False
        iid = report(sqlite_api, discovered_at="2026-12-01T09:39:59+08:00")  # 20 min 1 s
        assert sqlite_api.instance("zzb1", iid)["data"]["report_late"] is True
    finally:
        with db.write() as session:
            config_store.put(session, f"{PROCESS}.report_minutes", 15)


def test_anyone_reports_and_the_office_and_the_leading_group_are_told_at_once(api: ApiClient) -> None:
    at(T0)
    iid = report(api, "jsw1")
    case = api.instance("zzb1", iid)
    assert case["business_key"] == "YJ-2026-0001" and case["title"] == "群体性事件（机关大院门口）"
    for user in ("zzb1", "msz", "zr"):  # 综治办, and both members of 应急领导小组
        [notice] = notices(api, user, iid, "emergency_report")
        assert notice["text"] == ("【突发事件报告】YJ-2026-0001 群体性事件（机关大院门口），涉及12人，发现于12月1日09:50，"
                                  "报告于12月1日10:00。请应急办在12月1日10:15前核实并提出响应级别建议，应急领导小组做好决策准备。")
    groups = sorted(n["recipient_group"] for n in notices(api, "zzb1", iid, "emergency_report")
                    + notices(api, "msz", iid, "emergency_report"))
    assert groups == ["emergency_group", "zzb"]
    assert notices(api, "fgw1", iid, "emergency_report") == []


def test_a_drill_is_marked_in_its_notices_and_on_the_case(sqlite_api: ApiClient) -> None:
    at(T0)
    iid = report(sqlite_api, drill=True)
    assert sqlite_api.instance("zzb1", iid)["drill"] is True
    [notice] = notices(sqlite_api, "zzb1", iid, "emergency_report")
    assert notice["text"].startswith("【演练】【突发事件报告】YJ-2026-0001")


def test_a_discovery_in_the_future_or_an_occurrence_after_it_is_refused_and_nothing_is_stored(
        sqlite_api: ApiClient) -> None:
    at(T0)
    r = sqlite_api.post("cjw1", "/api/v1/instances", json={"process": PROCESS, "data": {
        **REPORT, "occurred_at": "2026-12-01T09:55:00+08:00", "discovered_at": "2026-12-01T09:50:00+08:00"}})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "occurred_at", "message": "发生时间不能晚于发现时间"}]
    r = sqlite_api.post("cjw1", "/api/v1/instances", json={"process": PROCESS, "data": {
        **REPORT, "discovered_at": "2026-12-01T10:30:00+08:00"}})
    assert r.status_code == 422 and r.get_json()["details"][0]["field"] == "discovered_at"
    assert sqlite_api.get("zzb1", f"/api/v1/instances?process={PROCESS}").get_json() == []


def test_every_deadline_and_the_cycle_follow_their_settings(sqlite_api: ApiClient) -> None:
    """核实 10 minutes, 向上级报告 45 minutes, 续报 every 30 minutes, 专题报告 3 days (settings)."""
    api = sqlite_api
    for key, value in (("verify_minutes", 10), ("upward_minutes", 45), ("progress_minutes", 30),
                       ("special_report_days", 3)):
        r = api.client.put(f"/api/v1/settings/{PROCESS}.{key}", json={"value": value}, headers=api.headers("admin"))
        assert r.status_code == 200, r.get_json()
    at(T0)
    iid = report(api)
    assert api.task("zzb1", iid, "verify")["due_at"] == "2026-12-01T10:10:00+08:00"
    done(api, "zzb1", iid, "verify", {**VERIFIED, "proposed_level": "major"})
    done(api, "msz", iid, "decide_level", {"level": "major", "commander": "秘书长"})
    assert api.task("zzb1", iid, "report_upward")["due_at"] == "2026-12-01T10:45:00+08:00"
    fire(api, T0 + timedelta(minutes=95))
    assert len(api.tasks("zzb1", iid, "progress_report")) == 3  # 10:30, 11:00, 11:30
    done(api, "msz", iid, "declare_end", {"ended_at": "2026-12-01T11:40:00+08:00", "summary": "事态平息"})
    for step, form in (("command", {"members": "秘书长", "location": "门卫室"}),
                       ("report_upward", {"reported_to": "市委政法委", "reported_at": "2026-12-01T11:00:00+08:00",
                                          "content": "已报告"}),
                       ("call_services", {"called": "none"})):
        done(api, "msz" if step == "command" else "zzb1", iid, step, form)
    assert api.task("zzb1", iid, "special_report")["due_at"] == "2026-12-04T23:59:59+08:00"


# ---------------------------------------------------------------- deadlines and their single 催办


def test_verify_is_due_15_minutes_after_the_report_and_urges_zzb_once(api: ApiClient) -> None:
    at(T0)
    iid = report(api)
    task = api.task("zzb1", iid, "verify")
    # the pinned clock still ticks: the report's own moment (within a second of T0) plus 15 minutes
    reported = datetime.fromisoformat(api.instance("zzb1", iid)["data"]["reported_at"])
    assert timedelta(0) <= reported - T0 < timedelta(seconds=1)
    assert datetime.fromisoformat(task["due_at"]) == reported.replace(microsecond=0) + timedelta(minutes=15)
    assert api.instance("zzb1", iid)["due_at"] == task["due_at"]
    fire(api, T0 + timedelta(minutes=14, seconds=59))
    assert notices(api, "zzb1", iid, "urge") == []
    assert fire(api, T0 + timedelta(minutes=15, seconds=1)) == 1
    fire(api, T0 + timedelta(hours=2))
    [urge] = notices(api, "zzb1", iid, "urge")
    assert urge["recipient_group"] == "zzb"
    assert urge["text"] == "【催办】YJ-2026-0001 突发事件核实已超过时限（12月1日10:15），请立即核实"
    assert api.task("zzb1", iid, "verify")["due_state"] == "overdue"  # shown red
    assert notices(api, "msz", iid, "urge") == []


def test_report_upward_is_due_two_hours_after_a_major_decision_and_urges_once(api: ApiClient) -> None:
    at(T0)
    iid = report(api)
    done(api, "zzb1", iid, "verify", {**VERIFIED, "proposed_level": "major"})
    at(T0 + timedelta(minutes=20))
    done(api, "msz", iid, "decide_level", {"level": "major", "commander": "秘书长"})
    assert api.task("zzb1", iid, "report_upward")["due_at"] == "2026-12-01T12:20:00+08:00"
    data = api.instance("zzb1", iid)["data"]
    assert data["decided_at"] == "2026-12-01T10:20:00+08:00" and data["upward_due_at"] == "2026-12-01T12:20:00+08:00"
    assert api.instance("zzb1", iid)["due_at"] == "2026-12-01T12:20:00+08:00"
    fire(api, T0 + timedelta(hours=2, minutes=19, seconds=59))
    assert notices(api, "zzb1", iid, "urge") == []
    fire(api, T0 + timedelta(hours=2, minutes=20, seconds=1))
    fire(api, T0 + timedelta(hours=5))
    urges = notices(api, "zzb1", iid, "urge")
    assert [u["text"] for u in urges] == ["【催办】YJ-2026-0001 向上级报告已超过时限（12月1日12:20），请立即向上级主管部门报告"]


def test_special_report_is_due_at_the_end_of_the_seventh_day_after_the_end_and_urges_once(api: ApiClient) -> None:
    iid = decided(api, "general")
    done(api, "fgw1", iid, "onsite", {"findings": "拖欠工资属实", "measures": "协调施工方当场支付"})
    at(T0 + timedelta(hours=1))
    done(api, "msz", iid, "declare_end", {"ended_at": "2026-12-01T10:50:00+08:00", "summary": "人员已散去"})
    task = api.task("zzb1", iid, "special_report")
    assert task["due_at"] == "2026-12-08T23:59:59+08:00"
    assert api.instance("zzb1", iid)["due_at"] == "2026-12-08T23:59:59+08:00"
    fire(api, datetime(2026, 12, 8, 23, 59, 58, tzinfo=clock.BEIJING))
    assert notices(api, "zzb1", iid, "urge") == []
    fire(api, datetime(2026, 12, 9, 0, 0, 0, tzinfo=clock.BEIJING))
    fire(api, datetime(2026, 12, 12, 9, 0, 0, tzinfo=clock.BEIJING))
    assert [u["text"] for u in notices(api, "zzb1", iid, "urge")] == [
        "【催办】YJ-2026-0001 专题报告已超过时限（12月8日23:59），请立即提交处置情况专题报告"]


# ---------------------------------------------------------------- the hourly 续报


def _progress_rows(api: ApiClient, iid: int) -> dict[str, str]:
    with api.app.extensions["govflow"].db.read() as session:
        return {t.id: t.state for t in session.scalars(select(HumanTask).where(
            HumanTask.instance_id == iid, HumanTask.bpmn_id == "progress_report"))}


def test_the_hourly_cycle_opens_one_progress_report_per_hour_and_stops_at_the_end(api: ApiClient) -> None:
    iid = decided(api, "major")
    assert "declare_end" in open_ids(api, iid)  # open from the decision on
    fire(api, T0 + timedelta(minutes=59, seconds=59))
    assert api.tasks("zzb1", iid, "progress_report") == []
    fire(api, T0 + timedelta(hours=1, seconds=1))
    assert len(api.tasks("zzb1", iid, "progress_report")) == 1
    for minutes in (90, 121, 150, 181, 210):  # the timer job's polls until 3 h 30 min
        fire(api, T0 + timedelta(minutes=minutes))
    reports = api.tasks("zzb1", iid, "progress_report")
    assert len(reports) == 3
    r = api.post("zzb1", f"/api/v1/tasks/{reports[0]['id']}/complete", json={"data": {"situation": "人数减少"}})
    assert r.status_code == 200, r.get_json()
    assert len(api.tasks("zzb1", iid, "progress_report")) == 2
    done(api, "msz", iid, "declare_end", {"ended_at": "2026-12-01T13:25:00+08:00", "summary": "事态平息"})
    assert api.tasks("zzb1", iid, "progress_report") == []
    states = sorted(_progress_rows(api, iid).values())
    assert states == ["cancelled", "cancelled", "completed"]
    closed = [h for h in api.instance("zzb1", iid)["history"] if h["action"] == "cancelled"]
    assert [(h["task"], h["task_name"], h["comment"], h["user"]) for h in closed] == [
        ("progress_report", "续报", "应急结束，续报任务关闭", "system")] * 2
    fire(api, T0 + timedelta(hours=6))
    assert len(_progress_rows(api, iid)) == 3  # no further 续报 after the end


def test_a_clock_jump_of_three_and_a_half_hours_opens_three_progress_reports(sqlite_api: ApiClient) -> None:
    iid = decided(sqlite_api, "major")
    fire(sqlite_api, T0 + timedelta(hours=3, minutes=30))
    assert len(sqlite_api.tasks("zzb1", iid, "progress_report")) == 3


# ---------------------------------------------------------------- the two paths end to end


def test_the_general_path_goes_on_site_without_progress_reports_to_the_end(api: ApiClient) -> None:
    iid = decided(api, "general")
    assert open_ids(api, iid) == ["onsite"]
    case = api.instance("zzb1", iid)
    assert case["handling_group"] == "dept_fgw" and case["due_at"] is None
    assert case["data"]["upward_due_at"] is None
    done(api, "fgw1", iid, "onsite", {"findings": "拖欠工资属实", "measures": "协调施工方当场支付"})
    assert open_ids(api, iid) == ["declare_end"]
    fire(api, T0 + timedelta(hours=3))
    assert open_ids(api, iid) == ["declare_end"]  # no 续报 in the general path
    done(api, "zr", iid, "declare_end", {"ended_at": "2026-12-01T12:30:00+08:00", "summary": "已平息"})
    done(api, "zzb1", iid, "special_report", {"facts": "基本情况", "handling": "处置情况", "cause_analysis": "原因",
                                               "aftermath": "善后", "prevention": "防范措施"})
    done(api, "zzb1", iid, "rectification", {"plan": "整改方案", "summary": "总结"})
    case = api.instance("zzb1", iid)
    assert case["status"] == "completed" and case["open_tasks"] == [] and case["due_at"] is None
    assert [h["action"] for h in case["history"]][-2:] == ["complete", "end"]


def test_the_major_path_runs_in_parallel_and_joins_after_command_upward_report_calls_and_the_end(
        api: ApiClient) -> None:
    iid = decided(api, "major")
    assert open_ids(api, iid) == ["call_services", "command", "declare_end", "report_upward"]
    done(api, "msz", iid, "command", {"members": "秘书长（指挥长）、综治办、法工委", "location": "机关大院门卫室"})
    done(api, "zzb1", iid, "report_upward", {"reported_to": "市委政法委", "reported_at": "2026-12-01T10:00:00+08:00",
                                              "content": "已报告事件情况"})
    done(api, "msz", iid, "declare_end", {"ended_at": "2026-12-01T10:00:00+08:00", "summary": "已平息"})
    assert open_ids(api, iid) == ["call_services"]  # the join waits for it
    case = api.instance("zzb1", iid)
    assert case["data"]["reported_at"] == "2026-12-01T10:00:00+08:00"  # still the report to the office
    assert case["data"]["upward_reported_at"] == "2026-12-01T10:00:00+08:00"
    assert case["data"]["members"].startswith("秘书长") and case["due_at"] == "2026-12-08T23:59:59+08:00"
    r = api.complete("zzb1", iid, "call_services", {"called": "110"})
    assert r.status_code == 422  # 拨打的须写明时间和拨打人
    done(api, "zzb1", iid, "call_services", {"called": "110", "called_at": "2026-12-01T10:00:00+08:00",
                                              "caller": "综治办 张三"})
    assert open_ids(api, iid) == ["special_report"]
    assert api.instance("zzb1", iid)["due_at"] == "2026-12-08T23:59:59+08:00"
    done(api, "zzb1", iid, "special_report", {"facts": "基本情况", "handling": "处置情况", "cause_analysis": "原因",
                                               "aftermath": "善后", "prevention": "防范措施"})
    done(api, "zzb1", iid, "rectification", {"plan": "整改方案"})  # API.md's key; the 总结 is optional
    assert api.instance("zzb1", iid)["status"] == "completed"


def test_only_the_emergency_group_decides_and_only_the_office_verifies(sqlite_api: ApiClient) -> None:
    at(T0)
    iid = report(sqlite_api)
    assert sqlite_api.tasks("msz", iid, "verify") == []
    done(sqlite_api, "zzb1", iid, "verify", {**VERIFIED, "proposed_level": "general"})
    assert sqlite_api.tasks("zzb1", iid, "decide_level") == []
    assert len(sqlite_api.tasks("zr", iid, "decide_level")) == 1


@pytest.mark.parametrize("group, message", [("xfk", "处置部门须为本级有关部门或县（区）人大常委会"),
                                            ("dept_nowhere", "处置部门 dept_nowhere 不存在")])
def test_verify_names_an_existing_department_to_go_on_site(sqlite_api: ApiClient, group: str, message: str) -> None:
    at(T0)
    iid = report(sqlite_api)
    r = sqlite_api.complete("zzb1", iid, "verify", {**VERIFIED, "proposed_level": "general", "handling_group": group})
    assert r.status_code == 422
    assert message in [d["message"] for d in r.get_json()["details"]]


# ---------------------------------------------------------------- linked starts validate


def test_a_collective_petition_starts_an_emergency_that_its_start_form_accepts(api: ApiClient) -> None:
    pid = start(api, people_count=30)
    [link] = api.instance("xfk1", pid)["links"]
    emergency = api.instance("zzb1", link["id"])
    assert emergency["process"] == PROCESS and emergency["business_key"] == "YJ-2026-0001"
    data = emergency["data"]
    assert data["petition_instance_id"] == pid and data["type"] == "群体性事件"
    assert data["proposed_level"] == "major" and data["verify_due_at"]
    assert [t["bpmn_id"] for t in emergency["open_tasks"]] == ["verify"]
