"""The parties a department names in its screening report are personal data: 综治办 and the leaders
read them in clear on the round; another department that opens the round sees them masked."""

from __future__ import annotations

from typing import Any

from conftest import ApiClient

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
