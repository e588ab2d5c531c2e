"""矛盾纠纷排查 rounds (PROCEDURES.md §2a/§2b, API.md `dispute_screening_monthly`,
`dispute_screening_daily`, "Recurring rounds"), through the API as the demo users: the monthly
round starts on the 1st at 08:00 exactly once; one report task per department, each offered to
that department only; the deadline by the legal calendar (5th working day; 16:30 for the daily
round); 零报告 xor disputes; one 催报 per missing department at the deadline; then 研判 and 会议
(or 审阅) and one 矛盾纠纷调处 case per dispute reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import ApiClient, pin_clock

MONTHLY = "dispute_screening_monthly"
DAILY = "dispute_screening_daily"
# The demo departments (dept_*) and a member of each.
MEMBERS = {"dept_cjw": "cjw1", "dept_fgw": "fgw1", "dept_jsw": "jsw1"}
DISPUTE = {"parties": "张三、李四", "type": "土地纠纷", "place": "临翔区忙畔街道某村",
           "summary": "两户因宅基地界址发生争执，已有肢体冲突苗头。", "risk": "较大"}
WAGES = {"parties": "某建筑公司、王五等12人", "type": "劳资纠纷", "place": "临翔区南屏路某工地",
         "summary": "12名务工人员反映工资拖欠三个月。", "risk": "重大"}


def at(text: str) -> datetime:
    from service import clock

    return clock.parse_datetime(text)


def runtime(api: ApiClient) -> Any:
    return api.app.extensions["govflow"].runtime


def run_due(api: ApiClient, moment: str) -> int:
    """The scheduler's poll at `moment`: starts the rounds whose moment has come; returns how many
    screening rounds it started (other procedures' rounds, e.g. 网站稿件月度统计, start too)."""
    from sqlalchemy import func, select

    from service import schedule
    from service.store.models import Instance

    def screening() -> int:
        with api.app.extensions["govflow"].db.read() as session:
            return int(session.scalar(select(func.count(Instance.id)).where(
                Instance.process_key.in_((MONTHLY, DAILY)))) or 0)

    pin_clock(at(moment))
    before = screening()
    schedule.run_due(runtime(api))
    return screening() - before


def fire(api: ApiClient, moment: str) -> int:
    """The timer job at `moment`: due rounds, then due timers."""
    from service.timers import fire_all_due

    pin_clock(at(moment))
    return fire_all_due(runtime(api))


def start(api: ApiClient, process: str, **data: Any) -> int:
    r = api.post("zzb1", "/api/v1/instances", json={"process": process, "data": data})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def rounds(api: ApiClient, process: str) -> list[dict[str, Any]]:
    rows = api.get("zzb1", f"/api/v1/instances?process={process}").get_json()
    return sorted(rows, key=lambda row: row["id"])


def report(api: ApiClient, iid: int, group: str, data: dict[str, Any]) -> Any:
    return api.complete(MEMBERS[group], iid, "report", data)


def chases(api: ApiClient, username: str, iid: int) -> list[str]:
    """The 催报 texts `username` has for the round `iid`."""
    r = api.get(username, "/api/v1/notices")
    assert r.status_code == 200, r.get_json()
    return [n["text"] for n in r.get_json() if n["kind"] == "chase_report" and n["instance_id"] == iid]


def handling_groups(api: ApiClient, iid: int) -> list[str]:
    from sqlalchemy import select

    from service.store.models import InstanceGroup

    with api.app.extensions["govflow"].db.read() as session:
        return sorted(session.scalars(select(InstanceGroup.group_key).where(InstanceGroup.instance_id == iid)))


def all_zero(api: ApiClient, iid: int, *groups: str) -> None:
    for group in groups or tuple(MEMBERS):
        r = report(api, iid, group, {"zero_report": True})
        assert r.status_code == 200, (group, r.get_json())


# ---- starting: once per period, at its moment --------------------------------------------------


def test_monthly_round_starts_on_the_first_at_0800_once_and_a_second_start_is_duplicate_period(
        api: ApiClient) -> None:
    # bpmn/ was deployed when the app was made (2026-12-01 10:00, after December's moment)
    assert run_due(api, "2027-01-01T07:59:00+08:00") == 0
    assert rounds(api, MONTHLY) == []
    assert run_due(api, "2027-01-01T08:00:05+08:00") == 1
    [row] = rounds(api, MONTHLY)
    assert row["business_key"] == "PC-2027-01" and row["started_at"].startswith("2027-01-01T08:00:05")
    case = api.instance("zzb1", row["id"])
    assert case["data"]["period"] == "2027-01"
    assert case["data"]["groups"] == ["dept_cjw", "dept_fgw", "dept_jsw"]
    assert case["data"]["title"] == "2027年1月矛盾纠纷排查"
    assert run_due(api, "2027-01-01T08:00:06+08:00") == 0
    assert run_due(api, "2027-01-31T23:00:00+08:00") == 0
    r = api.post("zzb1", "/api/v1/instances", json={"process": MONTHLY, "data": {"period": "2027-01"}})
    assert r.status_code == 409 and r.get_json()["error"] == "duplicate_period", r.get_json()
    assert [x["business_key"] for x in rounds(api, MONTHLY)] == ["PC-2027-01"]
    # only 综治办 starts a round by hand
    r = api.post("fgw1", "/api/v1/instances", json={"process": MONTHLY, "data": {"period": "2027-02"}})
    assert r.status_code == 403, r.get_json()


def test_one_report_task_per_department_each_offered_to_that_department_only(api: ApiClient) -> None:
    iid = start(api, MONTHLY, period="2026-12")
    case = api.instance("zzb1", iid)
    assert sorted((t["bpmn_id"], tuple(t["candidate_groups"])) for t in case["open_tasks"]) == [
        ("report", ("dept_cjw",)), ("report", ("dept_fgw",)), ("report", ("dept_jsw",))]
    for group, user in MEMBERS.items():
        [task] = api.tasks(user, iid)
        assert task["bpmn_id"] == "report" and task["candidate_groups"] == [group]
        assert task["due_at"] == "2026-12-07T23:59:59+08:00"
    assert api.tasks("zzb1", iid) == [] and api.tasks("xfk1", iid) == []
    # a department cannot file another's report
    other = api.tasks("fgw1", iid)[0]
    r = api.post("cjw1", f"/api/v1/tasks/{other['id']}/complete", json={"data": {"zero_report": True}})
    assert r.status_code == 403, r.get_json()


def test_a_department_added_later_reports_from_the_next_round(api: ApiClient) -> None:
    from service.auth import ensure_group

    first = start(api, MONTHLY, period="2026-12")
    with api.app.extensions["govflow"].db.write() as session:
        ensure_group(session, "dept_wjw", "外事侨务工作委员会")
        ensure_group(session, "office_x", "某办公室")  # not a department: never reports
    assert api.instance("zzb1", first)["data"]["groups"] == ["dept_cjw", "dept_fgw", "dept_jsw"]
    assert len(api.instance("zzb1", first)["open_tasks"]) == 3
    assert run_due(api, "2027-01-01T08:00:00+08:00") == 1
    nxt = rounds(api, MONTHLY)[-1]
    case = api.instance("zzb1", nxt["id"])
    assert case["data"]["groups"] == ["dept_cjw", "dept_fgw", "dept_jsw", "dept_wjw"]
    assert sorted(t["candidate_groups"][0] for t in case["open_tasks"]) == case["data"]["groups"]


def test_the_reporting_units_are_a_setting(api: ApiClient) -> None:
    r = api.client.put(f"/api/v1/settings/{MONTHLY}.reporting_groups", headers=api.headers("admin"),
                       json={"value": "dept_fgw, county_linxiang, nobody"})
    assert r.status_code == 200, r.get_json()
    iid = start(api, MONTHLY, period="2026-12")
    # unknown keys are left out; listed non-departments report too
    assert api.instance("zzb1", iid)["data"]["groups"] == ["county_linxiang", "dept_fgw"]
    assert [t["candidate_groups"] for t in api.tasks("linxiang1", iid)] == [["county_linxiang"]]


# ---- deadlines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("period", "due"), [
    ("2026-12", "2026-12-07T23:59:59+08:00"),  # Tue 1 … Fri 4, Mon 7
    # 国庆节: 1–7 October off; 8, 9, Saturday 10 (调休), 12, 13 are the five working days
    ("2026-10", "2026-10-13T23:59:59+08:00"),
    ("2027-01", "2027-01-08T23:59:59+08:00"),  # 元旦 Friday 1 January off; 4–8 January
])
def test_monthly_report_due_is_the_end_of_the_fifth_working_day(sqlite_api: ApiClient, period: str,
                                                                 due: str) -> None:
    iid = start(sqlite_api, MONTHLY, period=period)
    case = sqlite_api.instance("zzb1", iid)
    assert case["data"]["report_due_at"] == due
    assert {t["due_at"] for t in sqlite_api.tasks("fgw1", iid)} == {due}
    [row] = [x for x in rounds(sqlite_api, MONTHLY) if x["id"] == iid]
    assert row["due_at"] == due


def test_the_number_of_working_days_is_a_setting(sqlite_api: ApiClient) -> None:
    r = sqlite_api.client.put(f"/api/v1/settings/{MONTHLY}.report_working_days", headers=sqlite_api.headers("admin"),
                              json={"value": 3})
    assert r.status_code == 200, r.get_json()
    iid = start(sqlite_api, MONTHLY, period="2026-10")
    assert sqlite_api.instance("zzb1", iid)["data"]["report_due_at"] == "2026-10-10T23:59:59+08:00"


def test_daily_round_is_due_at_1630_that_day(api: ApiClient) -> None:
    iid = start(api, DAILY, period="2026-12-02", important_period="全国两会")
    case = api.instance("zzb1", iid)
    assert case["business_key"] == "RB-20261202"
    assert case["data"]["report_due_at"] == "2026-12-02T16:30:00+08:00"
    assert case["data"]["title"] == "2026年12月2日矛盾纠纷排查（全国两会）"
    assert {t["due_at"] for u in MEMBERS.values() for t in api.tasks(u, iid)} == {"2026-12-02T16:30:00+08:00"}
    r = api.post("zzb1", "/api/v1/instances", json={"process": DAILY, "data": {"period": "2026-12-02",
                                                                               "important_period": "全国两会"}})
    assert r.status_code == 409 and r.get_json()["error"] == "duplicate_period"


# ---- the report: 零报告 xor disputes -----------------------------------------------------------


def test_zero_report_with_disputes_or_neither_is_refused_in_chinese(api: ApiClient) -> None:
    iid = start(api, MONTHLY, period="2026-12")
    r = report(api, iid, "dept_fgw", {"zero_report": True, "disputes": [DISPUTE]})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "zero_report", "message":
                                        "零报告表示本期未发现矛盾纠纷，不能同时填报矛盾纠纷；请取消零报告或删除所填纠纷"}]
    for neither in ({}, {"zero_report": False}, {"zero_report": False, "disputes": []}):
        r = report(api, iid, "dept_fgw", neither)
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["details"] == [{"field": "disputes", "message":
                                            "请逐条填报排查发现的矛盾纠纷；未发现矛盾纠纷的，请选择零报告"}]
    # each dispute is complete: a row's missing or blank field is named by its row
    r = report(api, iid, "dept_fgw", {"disputes": [DISPUTE, {**DISPUTE, "place": "  ", "risk": "很大"}]})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "disputes.1.risk", "message": "请选择有效的选项"}]
    r = report(api, iid, "dept_fgw", {"disputes": [{**DISPUTE, "place": "  "}]})
    assert r.get_json()["details"] == [{"field": "disputes.0.place", "message": "此项为必填项"}]
    assert [t["bpmn_id"] for t in api.tasks("fgw1", iid)] == ["report"]  # nothing was filed
    assert report(api, iid, "dept_fgw", {"zero_report": True}).status_code == 200
    assert report(api, iid, "dept_cjw", {"zero_report": False, "disputes": [DISPUTE]}).status_code == 200


# ---- 催报 at the deadline ------------------------------------------------------------------------


def test_at_the_due_time_each_missing_department_gets_exactly_one_chase_report(api: ApiClient) -> None:
    assert run_due(api, "2027-01-01T08:00:00+08:00") == 1
    iid = rounds(api, MONTHLY)[-1]["id"]
    pin_clock(at("2027-01-04T09:00:00+08:00"))
    assert report(api, iid, "dept_fgw", {"zero_report": True}).status_code == 200
    assert handling_groups(api, iid) == ["dept_cjw", "dept_jsw"]  # still to report
    fire(api, "2027-01-08T23:59:00+08:00")
    assert all(chases(api, u, iid) == [] for u in MEMBERS.values())
    fire(api, "2027-01-09T00:00:05+08:00")
    for group, user in (("dept_cjw", "cjw1"), ("dept_jsw", "jsw1")):
        unit = {"dept_cjw": "财政经济委员会", "dept_jsw": "监察和司法委员会"}[group]
        assert chases(api, user, iid) == [
            f"【催报】2027年1月矛盾纠纷排查报告应于2027年1月8日前报送，{unit}尚未报送，请立即报送；"
            "没有发现矛盾纠纷的，请报送零报告。"], user
    assert chases(api, "fgw1", iid) == [] and chases(api, "zzb1", iid) == []
    # later polls send no second one; the late report still goes in
    fire(api, "2027-01-12T10:00:00+08:00")
    assert len(chases(api, "cjw1", iid)) == 1 and len(chases(api, "jsw1", iid)) == 1
    assert report(api, iid, "dept_cjw", {"zero_report": True}).status_code == 200
    assert handling_groups(api, iid) == ["dept_jsw"]
    assert report(api, iid, "dept_jsw", {"disputes": [DISPUTE]}).status_code == 200
    assert handling_groups(api, iid) == []
    case = api.instance("zzb1", iid)
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["analyse"]
    assert case["timers"] == []
    assert [row["due_at"] for row in rounds(api, MONTHLY) if row["id"] == iid] == [None]


def test_daily_chase_names_the_1630_deadline(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    pin_clock(at("2026-12-02T08:00:00+08:00"))
    iid = start(api, DAILY, period="2026-12-02", important_period="全国两会")
    all_zero(api, iid, "dept_cjw", "dept_jsw")
    fire(api, "2026-12-02T16:29:00+08:00")
    assert chases(api, "fgw1", iid) == []
    fire(api, "2026-12-02T16:30:01+08:00")
    assert chases(api, "fgw1", iid) == [
        "【催报】2026年12月2日矛盾纠纷排查（全国两会）报告应于2026年12月2日16:30前报送，法制工作委员会尚未报送，"
        "请立即报送；没有发现矛盾纠纷的，请报送零报告。"]
    assert chases(api, "cjw1", iid) == [] and chases(api, "jsw1", iid) == []
    fire(api, "2026-12-03T16:30:01+08:00")
    assert len(chases(api, "fgw1", iid)) == 1


def test_the_round_case_shows_the_departments_still_to_report_and_their_deadline(api: ApiClient) -> None:
    iid = start(api, MONTHLY, period="2026-12")
    assert handling_groups(api, iid) == ["dept_cjw", "dept_fgw", "dept_jsw"]
    [row] = [x for x in rounds(api, MONTHLY) if x["id"] == iid]
    assert row["due_at"] == "2026-12-07T23:59:59+08:00"
    all_zero(api, iid, "dept_cjw")
    assert handling_groups(api, iid) == ["dept_fgw", "dept_jsw"]
    # a department sees the round it has to report in
    assert api.get("fgw1", f"/api/v1/instances/{iid}").status_code == 200


# ---- after the reports: 研判, 会议 (审阅), one dispute case per dispute ------------------------------


def _cases_of(api: ApiClient, iid: int) -> list[dict[str, Any]]:
    links = [link for link in api.instance("zzb1", iid)["links"] if link["relation"] == "source"]
    return [api.instance("zzb1", link["id"]) for link in links]


def test_after_every_report_analyse_and_meeting_start_one_dispute_case_per_dispute(api: ApiClient) -> None:
    iid = start(api, MONTHLY, period="2026-12")
    assert report(api, iid, "dept_fgw", {"zero_report": True}).status_code == 200
    assert report(api, iid, "dept_cjw", {"disputes": [DISPUTE, WAGES]}).status_code == 200
    assert api.tasks("zzb1", iid) == []  # 研判 waits for every department
    assert report(api, iid, "dept_jsw", {"zero_report": False, "disputes": [WAGES]}).status_code == 200
    reports = api.instance("zzb1", iid)["data"]["reports"]
    assert [(r["group"], r["completed_by"], len(r.get("disputes") or [])) for r in reports] == [
        ("dept_fgw", "fgw1", 0), ("dept_cjw", "cjw1", 2), ("dept_jsw", "jsw1", 1)]
    r = api.complete("zzb1", iid, "analyse", {"summary": "本月排查发现矛盾纠纷3件，其中重大1件。"})
    assert r.status_code == 200, r.get_json()
    r = api.complete("zzb1", iid, "meeting", {"held_at": "2026-12-01T09:30:00+08:00", "minutes": "逐件明确责任单位。"})
    assert r.status_code == 200, r.get_json()
    case = api.instance("zzb1", iid)
    assert case["status"] == "completed" and case["open_tasks"] == []
    started = _cases_of(api, iid)
    assert [c["process"] for c in started] == ["dispute_case"] * 3
    assert [(c["data"]["type"], c["data"]["reported_by"], c["data"]["source_instance_id"]) for c in started] == [
        ("土地纠纷", "dept_cjw", iid), ("劳资纠纷", "dept_cjw", iid), ("劳资纠纷", "dept_jsw", iid)]
    assert all(c["business_key"].startswith("JF-2026-") for c in started)
    assert started[0]["data"]["summary"] == DISPUTE["summary"] and started[0]["data"]["risk"] == "较大"
    for linked in started:
        assert {"relation": "source", "process": MONTHLY, "id": iid,
                "business_key": "PC-2026-12"} in linked["links"]


def test_daily_round_review_starts_the_cases_and_completes(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = start(api, DAILY, period="2026-12-01", important_period="全国两会")
    all_zero(api, iid, "dept_fgw", "dept_jsw")
    assert report(api, iid, "dept_cjw", {"disputes": [DISPUTE]}).status_code == 200
    assert [t["bpmn_id"] for t in api.tasks("zzb1", iid)] == ["review"]
    r = api.complete("zzb1", iid, "review", {"summary": "今日报送齐全，发现土地纠纷1件。"})
    assert r.status_code == 200, r.get_json()
    assert api.instance("zzb1", iid)["status"] == "completed"
    [case] = _cases_of(api, iid)
    assert case["process"] == "dispute_case" and case["data"]["reported_by"] == "dept_cjw"
    assert case["data"]["source_instance_id"] == iid


def test_a_round_of_zero_reports_only_starts_no_case_and_completes(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid = start(api, MONTHLY, period="2026-12")
    all_zero(api, iid)
    assert api.complete("zzb1", iid, "analyse", {"summary": "本月各委室均为零报告。"}).status_code == 200
    r = api.complete("zzb1", iid, "meeting", {"held_at": "2026-12-01T09:30:00+08:00", "minutes": "无议定事项。"})
    assert r.status_code == 200, r.get_json()
    case = api.instance("zzb1", iid)
    assert case["status"] == "completed" and case["links"] == []


# ---- the daily round's schedule: every working day inside an important period ----------------------


def test_daily_rounds_start_every_working_day_inside_an_important_period(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    r = api.post("zzb1", "/api/v1/important-periods",
                 json={"name": "元旦", "first_day": "2026-12-31", "last_day": "2027-01-05"})
    assert r.status_code == 201, r.get_json()
    for day in ("2026-12-31", "2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04", "2027-01-05"):
        run_due(api, f"{day}T08:00:01+08:00")
    started = rounds(api, DAILY)
    # 1–3 January are rest days (元旦 and the weekend): no round
    assert [x["business_key"] for x in started] == ["RB-20261231", "RB-20270104", "RB-20270105"]
    case = api.instance("zzb1", started[0]["id"])
    assert case["data"]["important_period"] == "元旦"
    assert case["data"]["report_due_at"] == "2026-12-31T16:30:00+08:00"


def test_a_report_removes_only_its_own_department_from_the_handling_groups(sqlite_api: ApiClient) -> None:
    """The case's handling groups are kept in step by the groups that changed: a report drops its
    department's row and leaves the others' rows as they were (not 50 deleted and 49 written again)."""
    from sqlalchemy import text

    def rows(iid: int) -> dict[str, int]:
        with sqlite_api.app.extensions["govflow"].db.read() as session:
            return {g: r for r, g in session.execute(
                text("SELECT rowid, group_key FROM instance_groups WHERE instance_id = :id"), {"id": iid})}

    assert run_due(sqlite_api, "2027-01-01T08:00:00+08:00") == 1
    iid = rounds(sqlite_api, MONTHLY)[-1]["id"]
    before = rows(iid)
    assert sorted(before) == ["dept_cjw", "dept_fgw", "dept_jsw"]
    pin_clock(at("2027-01-04T09:00:00+08:00"))
    assert report(sqlite_api, iid, "dept_fgw", {"zero_report": True}).status_code == 200
    assert rows(iid) == {g: r for g, r in before.items() if g != "dept_fgw"}
