"""矛盾纠纷调处 (PROCEDURES.md §2c, API.md `dispute_case`) through the JSON API as the demo users:
统一编号 JF-<year>-<4 digits>, gap-free; 分流指派 to one department; 30 days from registration on
the legal calendar; the petition's 督办 ladder (same mechanism, same texts but for the noun, sent
once per deadline also when the case comes back to 调处); 报告市维稳办 beside 调处 for 重大 disputes
only, and the case closes only once it is done; 督查回访 不满意 → 调处 again; 升级 starts an emergency
case, once (refused while that procedure is not installed); the parties masked outside 综治办, the
leaders and the unit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import ApiClient, pin_clock
from sqlalchemy import select

from service import calendar, clock
from service.store.models import Notice

CASE = {
    "parties": "张三、李四",
    "type": "土地纠纷",
    "place": "临翔区忙畔街道某村",
    "summary": "两户村民因承包地边界发生争执，多次调解未果",
    "risk": "较大",
}
SUBJECT = CASE["summary"]  # short enough to be the case's subject as it is
DUE = "2026-12-31T23:59:59+08:00"  # registered 2026-12-01 10:00 (the suite's clock) + 30 days
HANDLED = {"result": "经调解，双方同意按原承包合同确定边界", "resolved": True}


# ---------------------------------------------------------------- helpers


def register(api: ApiClient, **changes: Any) -> tuple[int, str]:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": {**CASE, **changes}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"]), r.get_json()["business_key"]


def done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def assigned(api: ApiClient, group: str = "dept_fgw", **changes: Any) -> tuple[int, str]:
    iid, key = register(api, **changes)
    done(api, "zzb1", iid, "assign", {"handling_group": group, "basis": "归口管理"})
    return iid, key


def open_tasks(api: ApiClient, iid: int) -> list[str]:
    return sorted(t["bpmn_id"] for t in api.instance("zzb1", iid)["open_tasks"])


def follow_up(api: ApiClient, iid: int, satisfaction: str, opinions: str = "") -> None:
    data = {"visited_at": "2026-12-01", "satisfaction": satisfaction}
    done(api, "zzb1", iid, "follow_up", {**data, "opinions": opinions} if opinions else data)


def plus(iso: str, days: int) -> str:
    return (datetime.fromisoformat(iso) + timedelta(days=days)).isoformat()


def advance_past(api: ApiClient, moment: str, minutes: int = 1) -> int:
    """Move the clock to `minutes` after `moment` and fire what is due; how many timers fired."""
    clock.advance(datetime.fromisoformat(moment) + timedelta(minutes=minutes) - clock.now())
    return int(api.app.extensions["govflow"].runtime.fire_due_timers())


def notices(api: ApiClient, iid: int) -> list[tuple[str, str | None, str]]:
    """(kind, recipient group, text) of the case's notices but the 新待办 of its tasks."""
    with api.app.extensions["govflow"].db.read() as session:
        rows = session.scalars(select(Notice).where(Notice.instance_id == iid, Notice.kind != "task_assigned")
                               .order_by(Notice.id))
        return [(n.kind, n.recipient_group, n.text) for n in rows]


def kinds(api: ApiClient, iid: int) -> list[tuple[str, str | None]]:
    return [(kind, group) for kind, group, _text in notices(api, iid)]


@pytest.fixture
def emergency_missing(app: Any) -> Iterator[None]:
    """The system as it was before the emergency procedure was installed."""
    from service import procedure
    from service.bootstrap import install_procedures

    before = procedure.registry()
    install_procedures([p for p in before if p.key != "emergency_response"], before.organisation)
    yield
    install_procedures(list(before), before.organisation)


# ---------------------------------------------------------------- registration and assignment


def test_numbers_are_gap_free_per_year_and_a_refused_start_takes_none(api: ApiClient) -> None:
    first, key = register(api)
    assert key == "JF-2026-0001"
    no_risk = {k: v for k, v in CASE.items() if k != "risk"}
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": no_risk})
    assert r.status_code == 422 and [d["field"] for d in r.get_json()["details"]] == ["risk"]
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case",
                                                    "data": {**CASE, "reported_by": "xfk"}})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "reported_by",
                                        "message": "报告单位须为本级有关部门或县（区）人大常委会"}]
    r = api.post("fgw1", "/api/v1/instances", json={"process": "dispute_case", "data": CASE})
    assert r.status_code == 403 and "综治办" in r.get_json()["message"]
    second, key = register(api, reported_by="dept_cjw", source_instance_id=7)
    assert key == "JF-2026-0002" and second != first
    data = api.instance("zzb1", second)["data"]
    assert data["reported_by"] == "dept_cjw" and data["source_instance_id"] == 7
    assert data["registered_at"].startswith("2026-12-01T10:0") and data["subject"] == SUBJECT


def test_handling_is_due_at_the_end_of_the_thirtieth_day_after_registration(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid, _key = register(api)
    detail = api.instance("zzb1", iid)
    assert detail["data"]["handling_days"] == 30
    assert detail["data"]["due_at"] == DUE == detail["due_at"]  # 2026-12-31, a Thursday: no roll-over
    # registered a day later, day 30 is 2027-01-01 (元旦) and the weekend follows: Monday 2027-01-04
    pin_clock(datetime.fromisoformat("2026-12-02T10:00:00+08:00"))
    assert not calendar.is_working_day("2027-01-01") and not calendar.is_working_day("2027-01-03")
    later, _key = register(api)
    assert api.instance("zzb1", later)["data"]["due_at"] == "2027-01-04T23:59:59+08:00"
    # after a calendar change the deadline is counted again with the period the case started with
    from workflows.dispute_case import PROCEDURE

    assert PROCEDURE.recompute is not None
    assert PROCEDURE.recompute({"registered_at": "2026-12-01T10:00:00+08:00", "handling_days": 30},
                               calendar.add_days) == {"due_at": DUE}
    assert PROCEDURE.recompute({"registered_at": "2026-12-01T10:00:00+08:00", "handling_days": 31},
                               calendar.add_days) == {"due_at": "2027-01-04T23:59:59+08:00"}


def test_assign_offers_handling_to_the_chosen_department_only(api: ApiClient) -> None:
    iid, _key = register(api)
    assert api.instance("zzb1", iid)["handling_group"] is None
    r = api.complete("zzb1", iid, "assign", {"handling_group": "xfk", "basis": "属地管理"})
    assert r.status_code == 422 and r.get_json()["details"][0]["field"] == "handling_group"
    r = api.complete("zzb1", iid, "assign", {"handling_group": "dept_nowhere", "basis": "属地管理"})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "handling_group", "message": "调处单位 dept_nowhere 不存在"}]
    done(api, "zzb1", iid, "assign", {"handling_group": "dept_fgw", "basis": "归口管理"})

    handle = api.task("fgw1", iid, "handle")
    assert handle["candidate_groups"] == ["dept_fgw"] and handle["name"] == "调处"
    assert handle["form_key"] == "dispute_case_handle" and handle["due_at"] == DUE
    assert api.tasks("cjw1", iid) == [] and api.tasks("zzb1", iid, "handle") == []
    detail = api.instance("zzb1", iid)
    assert detail["handling_group"] == "dept_fgw" and detail["data"]["basis"] == "归口管理"
    assert open_tasks(api, iid) == ["handle"]  # 较大: no report to the stability office


# ---------------------------------------------------------------- 报告市维稳办 and closing


def test_report_to_the_stability_office_opens_beside_handling_only_for_major_disputes(
        sqlite_api: ApiClient) -> None:
    api = sqlite_api
    major, _key = assigned(api, risk="重大")
    assert open_tasks(api, major) == ["handle", "report_stability"]
    report = api.task("zzb1", major, "report_stability")
    assert report["candidate_groups"] == ["zzb"] and report["name"] == "报告市维稳办"
    for risk in ("一般", "较大"):
        other, _key = assigned(api, risk=risk)
        assert open_tasks(api, other) == ["handle"], risk


@pytest.mark.parametrize("report_first", [False, True])
def test_major_case_completes_only_once_the_stability_report_is_done(api: ApiClient, report_first: bool) -> None:
    iid, _key = assigned(api, risk="重大")
    report = {"sent_at": "2026-12-01T10:00:00+08:00", "content": "已将纠纷情况和风险研判报告市维稳办"}
    if report_first:
        done(api, "zzb1", iid, "report_stability", report)
        assert open_tasks(api, iid) == ["handle"]
    done(api, "fgw1", iid, "handle", HANDLED)
    follow_up(api, iid, "满意")
    detail = api.instance("zzb1", iid)
    if not report_first:
        assert detail["status"] == "running" and open_tasks(api, iid) == ["report_stability"]
        assert "closed_at" not in detail["data"]
        done(api, "zzb1", iid, "report_stability", report)
        detail = api.instance("zzb1", iid)
    assert detail["status"] == "completed" and detail["open_tasks"] == []
    data = detail["data"]
    assert data["closed_at"].startswith("2026-12-01T10:0") and data["satisfaction"] == "满意"
    assert data["content"] == report["content"] and data["resolved"] is True and data["escalate"] is False


def test_a_report_dated_before_the_registration_is_refused(sqlite_api: ApiClient) -> None:
    iid, _key = assigned(sqlite_api, risk="重大")
    r = sqlite_api.complete("zzb1", iid, "report_stability", {"sent_at": "2026-11-30T09:00:00+08:00",
                                                               "content": "报告"})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "sent_at", "message": "报送时间不能早于登记日期"}]


def test_dissatisfied_follow_up_sends_the_case_back_to_handling_with_the_same_deadline(api: ApiClient) -> None:
    iid, _key = assigned(api)
    done(api, "fgw1", iid, "handle", {"result": "已组织双方调解", "resolved": False})
    detail = api.instance("zzb1", iid)
    assert open_tasks(api, iid) == ["follow_up"] and detail["due_at"] is None  # reported: no deadline runs
    r = api.complete("zzb1", iid, "follow_up", {"visited_at": "2026-12-01", "satisfaction": "不满意"})
    assert r.status_code == 422 and r.get_json()["details"][0]["field"] == "opinions"
    follow_up(api, iid, "不满意", "当事人认为边界仍未划清")

    detail = api.instance("zzb1", iid)
    assert detail["status"] == "running" and open_tasks(api, iid) == ["handle"]
    assert detail["due_at"] == DUE and detail["data"]["reopened"] == 1
    assert api.task("fgw1", iid, "handle")["due_at"] == DUE
    done(api, "fgw1", iid, "handle", HANDLED)
    follow_up(api, iid, "基本满意")
    detail = api.instance("zzb1", iid)
    assert detail["status"] == "completed" and detail["data"]["satisfaction"] == "基本满意"


# ---------------------------------------------------------------- the 督办 ladder


def test_ladder_reminds_urges_and_asks_for_a_report_like_the_petitions(api: ApiClient) -> None:
    iid, key = assigned(api)
    assert [t["name"] for t in api.instance("zzb1", iid)["timers"]] == [
        "期限前10日提醒", "到期催办", "超期7日要求汇报", "超期15日建议联合调查"]
    assert advance_past(api, plus(DUE, -11)) == 0

    assert advance_past(api, plus(DUE, -10)) == 1
    assert notices(api, iid) == [("reminder", "dept_fgw",
                                  f"【提醒】矛盾纠纷案件 {key}（{SUBJECT}）由法制工作委员会办理，办理期限为2026年12月31日，"
                                  "距期限还有9天，请抓紧办理。")]

    assert advance_past(api, DUE) == 1
    urge = f"【催办】矛盾纠纷案件 {key}（{SUBJECT}）已到办理期限2026年12月31日，法制工作委员会尚未报送办理结果，请立即办理并报送。"
    assert notices(api, iid)[1:] == [("urge", "dept_fgw", urge), ("urge", "zzb", urge)]

    assert advance_past(api, plus(DUE, 7)) == 1
    report = f"【要求汇报】矛盾纠纷案件 {key}（{SUBJECT}）已超期7天（办理期限2026年12月31日），请法制工作委员会书面汇报未按期办结的原因。"
    assert notices(api, iid)[3:] == [("report_required", "dept_fgw", report), ("report_required", "zzb", report)]
    assert open_tasks(api, iid) == ["explain", "handle"]
    explain = api.task("fgw1", iid, "explain")
    assert explain["candidate_groups"] == ["dept_fgw"] and explain["form_key"] == "dispute_case_explain"
    assert explain["name"] == "书面汇报超期原因" and explain["due_at"] == plus(DUE, 15)
    done(api, "fgw1", iid, "explain", {"explanation": "当事人外出务工，正在联系返乡后调解"})

    assert advance_past(api, plus(DUE, 15)) == 1
    proposal = (f"【建议联合调查】矛盾纠纷案件 {key}（{SUBJECT}）已超期15天（办理期限2026年12月31日，"
                "办理单位法制工作委员会），请综治办提出组成联合调查组的建议，报常委会领导审批。")
    assert notices(api, iid)[5:] == [("investigation", "zzb", proposal), ("investigation", "leadership", proposal)]
    assert api.instance("zzb1", iid)["timers"] == [] and open_tasks(api, iid) == ["handle"]


def test_back_to_handling_repeats_no_rung_already_sent_for_the_deadline(api: ApiClient) -> None:
    iid, _key = assigned(api)
    advance_past(api, plus(DUE, 7))
    sent = kinds(api, iid)
    assert sent == [("reminder", "dept_fgw"), ("urge", "dept_fgw"), ("urge", "zzb"),
                    ("report_required", "dept_fgw"), ("report_required", "zzb")]
    done(api, "fgw1", iid, "handle", HANDLED)
    assert open_tasks(api, iid) == ["explain", "follow_up"]
    follow_up(api, iid, "不满意", "协议未履行")
    advance_past(api, plus(DUE, 8))
    # the rungs passed before fire again on the new 调处 task but say nothing twice, and the unit
    # (its explanation still open) is not asked for a second one
    assert kinds(api, iid) == sent
    assert open_tasks(api, iid) == ["explain", "handle"]
    assert [t["name"] for t in api.instance("zzb1", iid)["timers"]] == ["超期15日建议联合调查"]
    assert advance_past(api, plus(DUE, 15)) == 1
    assert kinds(api, iid)[5:] == [("investigation", "zzb"), ("investigation", "leadership")]


def test_closing_the_case_ends_an_explanation_still_open(sqlite_api: ApiClient) -> None:
    """办结 closes the whole case: an unfiled 书面汇报 leaves no open task behind."""
    api = sqlite_api
    iid, _key = assigned(api)
    advance_past(api, plus(DUE, 7))
    done(api, "fgw1", iid, "handle", HANDLED)
    follow_up(api, iid, "满意")
    detail = api.instance("zzb1", iid)
    assert detail["status"] == "completed" and detail["open_tasks"] == [] and detail["timers"] == []
    assert api.tasks("fgw1", iid) == []
    assert detail["data"]["closed_at"] and detail["data"]["explain_requested_for"] == DUE


def test_back_to_handling_after_the_deadline_urges_at_once(sqlite_api: ApiClient) -> None:
    """Reported in time, sent back after the deadline: the rungs it never reached go out now
    (the reminder as late as it is), and the unit is asked for its explanation."""
    api = sqlite_api
    iid, key = assigned(api)
    done(api, "fgw1", iid, "handle", HANDLED)
    advance_past(api, plus(DUE, 8))
    assert notices(api, iid) == []  # nothing runs while the result is with 综治办
    follow_up(api, iid, "不满意", "协议未履行")
    advance_past(api, plus(DUE, 8), minutes=2)
    assert kinds(api, iid) == [("reminder", "dept_fgw"), ("urge", "dept_fgw"), ("urge", "zzb"),
                               ("report_required", "dept_fgw"), ("report_required", "zzb")]
    assert notices(api, iid)[0][2] == (f"【提醒】矛盾纠纷案件 {key}（{SUBJECT}）由法制工作委员会办理，"
                                      "办理期限2026年12月31日已到，请立即办理。")
    assert open_tasks(api, iid) == ["explain", "handle"]


def test_ladder_offsets_are_the_shared_settings_with_the_petitions_labels() -> None:
    from service import procedure

    def ladder(key: str) -> list[tuple[str, Any, str]]:
        declared = procedure.get(key)
        assert declared is not None and declared.ladder
        return [(s.key, s.default, s.label) for s in declared.settings if s.key.startswith("ladder.")]

    assert ladder("dispute_case") == ladder("petition") == [
        ("ladder.reminder_days_before", 10, "督办：办理期限前多少天发提醒"),
        ("ladder.urge_days", 0, "督办：期满后多少天发催办通知（0 = 期满当时）"),
        ("ladder.report_days", 7, "督办：期满后多少天要求办案单位书面汇报"),
        ("ladder.proposal_days", 15, "督办：期满后多少天建议组成联合调查组"),
    ]
    assert {s.key: s.default for s in procedure.get("dispute_case").settings}["handling_days"] == 30


# ---------------------------------------------------------------- 升级为突发事件


def test_escalation_is_refused_while_the_emergency_procedure_is_missing(api: ApiClient,
                                                                        emergency_missing: None) -> None:
    iid, _key = assigned(api)
    r = api.complete("fgw1", iid, "handle", {**HANDLED, "escalate": True, "people_count": 12})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "escalate", "message":
                                        "突发事件应急处置流程尚未启用，暂不能升级；情况紧急的，请立即电话报告综治办"}]
    assert open_tasks(api, iid) == ["handle"] and api.instance("zzb1", iid)["links"] == []
    done(api, "fgw1", iid, "handle", {**HANDLED, "escalate": False})
    assert open_tasks(api, iid) == ["follow_up"]


def test_escalation_starts_a_linked_emergency_case_and_the_case_goes_on(api: ApiClient) -> None:
    iid, key = assigned(api)
    done(api, "fgw1", iid, "handle", {"result": "双方聚集对峙，已稳控现场", "resolved": False, "escalate": True,
                                      "people_count": 12})
    links = api.instance("zzb1", iid)["links"]
    assert [(link["relation"], link["process"]) for link in links] == [("emergency", "emergency_response")]
    emergency = api.instance("zzb1", links[0]["id"])
    assert emergency["business_key"] == "YJ-2026-0001"
    data = emergency["data"]
    assert data["dispute_instance_id"] == iid and data["type"] == "群体性事件" and data["people_count"] == 12
    assert data["place"] == CASE["place"] and data["cause"] == CASE["summary"]
    assert data["proposed_level"] == "general" and data["discovered_at"].startswith("2026-12-01T10:0")
    assert emergency["links"] == [{"relation": "emergency", "process": "dispute_case", "id": iid, "business_key": key}]
    assert open_tasks(api, iid) == ["follow_up"]

    follow_up(api, iid, "不满意", "仍有聚集苗头")
    r = api.complete("fgw1", iid, "handle", {**HANDLED, "escalate": True, "people_count": 3})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "escalate", "message": "本案已升级为突发事件应急处置，不能重复启动"}]
    few, _key = assigned(api, risk="重大")
    done(api, "fgw1", few, "handle", {**HANDLED, "escalate": True, "people_count": 3})
    other = api.instance("zzb1", api.instance("zzb1", few)["links"][0]["id"])["data"]
    assert other["type"] == "其他" and other["proposed_level"] == "major"


def test_an_escalation_without_a_head_count_counts_the_registered_parties(api: ApiClient) -> None:
    """API.md's `handle` keys are result, resolved, escalate: the head count is optional, and the
    emergency then involves the parties registered (张三、李四、王五 → 3, below the 5 of 群体性事件)."""
    iid, _key = assigned(api, parties="张三、李四、王五")
    done(api, "fgw1", iid, "handle", {**HANDLED, "escalate": True})
    emergency = api.instance("zzb1", api.instance("zzb1", iid)["links"][0]["id"])["data"]
    assert emergency["people_count"] == 3 and emergency["type"] == "其他"
    assert emergency["dispute_instance_id"] == iid


# ---------------------------------------------------------------- the parties' confidentiality


def test_parties_are_clear_only_for_the_chain_and_the_handling_unit(sqlite_api: ApiClient) -> None:
    api = sqlite_api
    iid, key = register(api)
    assert api.get("fgw1", f"/api/v1/instances/{iid}").status_code in (403, 404)  # not its case yet
    done(api, "zzb1", iid, "assign", {"handling_group": "dept_fgw", "basis": "归口管理"})
    for user in ("zzb1", "zr", "msz", "bgs", "fgw1"):
        assert api.instance(user, iid)["data"]["parties"] == "张三、李四", user
    masked = api.instance("admin", iid)  # sees every case, but is no reader of personal data
    assert masked["data"]["parties"] == "张*、李*"
    assert [h["data"]["parties"] for h in masked["history"] if h["action"] == "start"] == ["张*、李*"]
    assert api.get("cjw1", f"/api/v1/instances/{iid}").status_code in (403, 404)
    rows = api.get("admin", "/api/v1/instances?process=dispute_case").get_json()
    assert [(row["business_key"], row["title"]) for row in rows] == [(key, SUBJECT)]  # no party in a list


def test_names_in_a_list_of_parties_are_masked_one_by_one() -> None:
    from workflows.personal_masks import mask_names

    assert mask_names("张三、李四") == "张*、李*"
    assert mask_names("欧阳娜娜，王五 与 赵六") == "欧***，王* 与 赵*"
    assert mask_names("张三与李四") == "张*与李*"
    assert mask_names("") == "" and mask_names(None) is None

