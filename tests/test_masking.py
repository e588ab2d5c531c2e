"""Confidentiality of the petitioner (PROCEDURES.md §1, 第九条(二)): personal data is shown only
to 信访科, the leaders of the approval chain and the unit handling that petition; everyone else
who may see the case sees it masked (张*, 5301**********1234), and the rest may not see it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from conftest import PETITION, ApiClient

from service import clock

CLEAR = {
    "petitioner_name": "张三",
    "petitioner_id_number": "530102199001071234",
    "petitioner_phone": "13812345678",
    "petitioner_address": "云南省临沧市临翔区南塘街1号",
}
MASKED = {
    "petitioner_name": "张*",
    "petitioner_id_number": "5301**********1234",
    "petitioner_phone": "138****5678",
    "petitioner_address": "云南省临沧市****",
}
CHAIN = ("xfk1", "xfk2", "bgs", "msz", "zr")
OUTSIDERS = ("cjw1", "jsw1", "linxiang1", "zzb1", "web1")


@pytest.fixture(autouse=True)
def _march_2026() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=clock.BEIJING)
    clock.set_offset(at - (clock.now() - clock.offset()))


def done(api: ApiClient, user: str, iid: int, bpmn_id: str, data: dict[str, Any]) -> None:
    r = api.complete(user, iid, bpmn_id, data)
    assert r.status_code == 200, (bpmn_id, r.get_json())


def handed_to_fgw(api: ApiClient) -> int:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    assert r.status_code == 201, r.get_json()
    iid = int(r.get_json()["id"])
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    done(api, "xfk1", iid, "propose", {"proposal": "建议交法制工作委员会办理"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    return iid


def personal(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in CLEAR}


def start_entry(detail: dict[str, Any]) -> dict[str, Any]:
    entries = [h for h in detail["history"] if h["action"] == "start"]
    assert len(entries) == 1
    return entries[0]["data"]


def no_clear_text(body: Any) -> bool:
    text = json.dumps(body, ensure_ascii=False)
    return not any(value in text for value in CLEAR.values())


def test_chain_and_handling_unit_see_personal_data_in_clear(api: ApiClient) -> None:
    iid = handed_to_fgw(api)
    for user in (*CHAIN, "fgw1"):
        detail = api.instance(user, iid)
        assert personal(detail["data"]) == CLEAR, user
        assert personal(start_entry(detail)) == CLEAR, user


def test_admin_outside_the_chain_sees_personal_data_masked(api: ApiClient) -> None:
    iid = handed_to_fgw(api)
    detail = api.instance("admin", iid)
    assert personal(detail["data"]) == MASKED
    assert personal(start_entry(detail)) == MASKED
    assert no_clear_text(detail)
    # the rest of the case is shown as it is
    assert detail["data"]["subject"] == PETITION["subject"]
    assert detail["data"]["handling_group"] == "dept_fgw"


def test_task_view_masks_personal_data_outside_the_chain(api: ApiClient) -> None:
    iid = handed_to_fgw(api)
    handle = api.task("fgw1", iid, "handle")
    r = api.get("fgw1", f"/api/v1/tasks/{handle['id']}")
    assert r.status_code == 200
    assert personal(r.get_json()["data"]) == CLEAR
    r = api.get("bgs", f"/api/v1/tasks/{handle['id']}")  # a leader of the chain, supervising
    assert r.status_code == 200
    assert personal(r.get_json()["data"]) == CLEAR
    r = api.get("admin", f"/api/v1/tasks/{handle['id']}")
    assert r.status_code == 200
    assert personal(r.get_json()["data"]) == MASKED
    assert no_clear_text(r.get_json())


def test_users_outside_the_case_may_not_see_it_at_all(api: ApiClient) -> None:
    iid = handed_to_fgw(api)
    handle = api.task("fgw1", iid, "handle")
    for user in OUTSIDERS:
        r = api.get(user, f"/api/v1/instances/{iid}")
        assert r.status_code == 403, user
        assert r.get_json()["error"] == "forbidden"
        assert no_clear_text(r.get_json())
        assert api.get(user, f"/api/v1/tasks/{handle['id']}").status_code == 403, user
        assert api.get(user, "/api/v1/instances").get_json() == [], user


def test_the_unit_sees_no_task_of_the_chain_before_or_after_handling(api: ApiClient) -> None:
    iid = handed_to_fgw(api)
    done(api, "fgw1", iid, "handle", {"outcome": "done", "result": "已办结"})
    review = api.task("xfk1", iid, "review_result")
    assert api.get("fgw1", f"/api/v1/tasks/{review['id']}").status_code == 403
    # it still takes part in the case and keeps seeing the data it handled
    assert personal(api.instance("fgw1", iid)["data"]) == CLEAR


@pytest.mark.parametrize(("route", "group", "user"), [("legal", None, "jsw1"),
                                                      ("county", "county_linxiang", "linxiang1")])
def test_forwarded_unit_sees_personal_data_in_clear(api: ApiClient, route: str, group: str | None,
                                                    user: str) -> None:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = int(r.get_json()["id"])
    form: dict[str, Any] = {"category": "司法", "route": route}
    if group:
        form["handling_group"] = group
    done(api, "xfk1", iid, "classify", form)
    done(api, "xfk1", iid, "propose", {"proposal": "建议转办"})
    done(api, "bgs", iid, "leader_sign", {"decision": "approve"})
    done(api, "msz", iid, "sg_approve", {"decision": "approve"})
    assert personal(api.instance(user, iid)["data"]) == CLEAR
    assert api.get("fgw1", f"/api/v1/instances/{iid}").status_code == 403


def test_chosen_unit_gets_no_personal_data_before_the_petition_is_handed_over(api: ApiClient) -> None:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = int(r.get_json()["id"])
    done(api, "xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
    # 交办 happens only after 分管领导 and 秘书长 have signed; until then fgw1 has no part in it
    r = api.get("fgw1", f"/api/v1/instances/{iid}")
    assert r.status_code == 403, personal(r.get_json().get("data", {}))


def test_masking_rules_mask_each_field_as_documented() -> None:
    from workflows.petition import mask_personal

    assert mask_personal({**CLEAR, "subject": "拖欠工资"}) == {**MASKED, "subject": "拖欠工资"}
    assert mask_personal({"petitioner_name": "欧阳娜娜"})["petitioner_name"] == "欧***"
    assert mask_personal({"petitioner_id_number": "53010219900108123X"})["petitioner_id_number"] == \
        "5301**********123X"
    assert mask_personal({"petitioner_phone": "0883-2123456"})["petitioner_phone"] == "088*****3456"
