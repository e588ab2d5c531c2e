"""What a round hands on beyond its tasks: the parties a department names are personal data (综治办
and the leaders read them in clear on the round, another department sees them masked), and 催报
reaches the missing department's members by SMS and e-mail too."""

from __future__ import annotations

from typing import Any

from conftest import ApiClient, pin_clock

DISPUTE = {"parties": "张三、李四", "type": "土地纠纷", "place": "临翔区博尚镇", "summary": "承包地界争执",
           "risk": "一般"}


def _round(api: ApiClient) -> int:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_screening_monthly",
                                                    "data": {"period": "2026-12"}})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


def _parties(view: dict[str, Any], group: str) -> list[str]:
    report = next(r for r in view["data"]["reports"] if r["group"] == group)
    return [d["parties"] for d in report["disputes"]]


def test_the_parties_of_a_report_are_masked_for_another_department(api: ApiClient) -> None:
    iid = _round(api)
    assert api.complete("fgw1", iid, "report", {"zero_report": True}).status_code == 200
    assert api.complete("cjw1", iid, "report", {"zero_report": False, "disputes": [DISPUTE]}).status_code == 200
    assert _parties(api.instance("zzb1", iid), "dept_cjw") == ["张三、李四"]
    assert _parties(api.instance("zr", iid), "dept_cjw") == ["张三、李四"]
    assert _parties(api.instance("fgw1", iid), "dept_cjw") == ["张*、李*"]


def test_a_chase_report_is_also_sent_by_sms_and_email_to_the_missing_department_only(api: ApiClient) -> None:
    """催报 goes through the existing senders: an outbox row per address of each member of the
    department still missing at the deadline, none for the department that reported."""
    from sqlalchemy import select

    from service import clock, timers
    from service.store.models import Delivery, Notice, User

    app = api.app
    with app.extensions["govflow"].db.write() as session:
        for username, email, phone in (("fgw1", "fgw1@example.org", "13800000001"),
                                       ("jsw1", "jsw1@example.org", "13800000003")):
            user = session.scalar(select(User).where(User.username == username))
            user.email, user.phone = email, phone
    iid = _round(api)  # 2026-12: due at the end of 7 December
    assert api.complete("fgw1", iid, "report", {"zero_report": True}).status_code == 200
    assert api.complete("cjw1", iid, "report", {"zero_report": True}).status_code == 200
    pin_clock(clock.parse_datetime("2026-12-08T00:00:05+08:00"))
    timers.fire_all_due(app.extensions["govflow"].runtime)
    with app.extensions["govflow"].db.read() as session:
        sent = sorted(session.execute(
            select(Notice.recipient_group, Delivery.channel, Delivery.address)
            .join(Delivery, Delivery.notice_id == Notice.id)
            .where(Notice.instance_id == iid, Notice.kind == "chase_report")).all())
    assert sent == [("dept_jsw", "email", "jsw1@example.org"), ("dept_jsw", "sms", "13800000003")]
