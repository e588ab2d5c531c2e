"""Links between an emergency (突发事件应急处置) and the cases that start it (issue 12 item 5, API.md
"Collective petitions", `dispute_case` `escalate`): a petition registered with at least the
petition setting `collective_threshold` people (5) starts an emergency of type 群体性事件 with
`petition_instance_id`, proposed `general`, or `major` from `collective_major_threshold` (30); a
dispute whose 调处 says `escalate` starts one with `dispute_instance_id`, once; both cases carry an
`emergency` link to each other; and the emergency started from a petition shows the petitioner's
personal data to nobody the petition's confidentiality rule would not show it to."""

from __future__ import annotations

from typing import Any

from conftest import PETITION, ApiClient


def _id_number(serial: int) -> str:
    """A valid 18-digit ID number (GB 11643 check digit) born 1990-01-01 with this serial."""
    body = f"53010219900101{serial:03d}"
    total = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    return body + "10X98765432"[total % 11]


# Distinct ID numbers keep every petition of a test apart (the same petitioner would be 重复信访).
IDS = iter(_id_number(n) for n in range(1, 1000))
NAME, ID_NUMBER, PHONE = (PETITION[k] for k in ("petitioner_name", "petitioner_id_number", "petitioner_phone"))
DISPUTE = {"parties": "张三、李四", "type": "土地纠纷", "place": "临翔区忙畔街道某村",
           "summary": "两户村民因承包地边界发生争执，多次调解未果", "risk": "较大"}
ESCALATED = {"result": "双方聚集对峙，已稳控现场", "resolved": False, "escalate": True, "people_count": 12}


def _settings(api: ApiClient) -> dict[str, Any]:
    return {s["key"]: s["value"] for g in api.get("admin", "/api/v1/settings").get_json() for s in g["settings"]}


def _petition(api: ApiClient, people: int, **changes: Any) -> dict[str, Any]:
    data = {**PETITION, "channel": "来访", "people_count": people, "petitioner_id_number": next(IDS), **changes}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _emergency_links(api: ApiClient, user: str, iid: int) -> list[dict[str, Any]]:
    return [link for link in api.instance(user, iid)["links"] if link["relation"] == "emergency"]


def _emergencies(api: ApiClient) -> list[dict[str, Any]]:
    r = api.get("zzb1", "/api/v1/instances?process=emergency_response")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_collective_petition_thresholds_are_the_petition_settings_4_5_29_30(api: ApiClient) -> None:
    settings = _settings(api)
    low, major = settings["petition.collective_threshold"], settings["petition.collective_major_threshold"]
    assert (low, major) == (5, 30)
    four = _petition(api, low - 1)
    assert _emergency_links(api, "xfk1", four["id"]) == [] and _emergencies(api) == []
    found: dict[int, dict[str, Any]] = {}
    for people in (low, major - 1, major):
        petition = _petition(api, people)
        [link] = _emergency_links(api, "xfk1", petition["id"])
        assert link["process"] == "emergency_response" and link["business_key"].startswith("YJ-2026-")
        emergency = api.instance("zzb1", link["id"])
        data = emergency["data"]
        assert data["type"] == "群体性事件" and data["petition_instance_id"] == petition["id"]
        assert data["people_count"] == people and data["cause"] == PETITION["subject"]
        assert emergency["links"] == [{"relation": "emergency", "process": "petition", "id": petition["id"],
                                       "business_key": petition["business_key"]}]
        assert [t["bpmn_id"] for t in emergency["open_tasks"]] == ["verify"]
        found[people] = data
    assert {people: d["proposed_level"] for people, d in found.items()} == {
        low: "general", major - 1: "general", major: "major"}
    assert sorted(e["business_key"] for e in _emergencies(api)) == ["YJ-2026-0001", "YJ-2026-0002", "YJ-2026-0003"]


def test_changed_thresholds_apply_to_the_next_petition(api: ApiClient) -> None:
    for key, value in (("collective_threshold", 8), ("collective_major_threshold", 10)):
        r = api.client.put(f"/api/v1/settings/petition.{key}", json={"value": value}, headers=api.headers("admin"))
        assert r.status_code == 200, r.get_json()
    assert _emergency_links(api, "xfk1", _petition(api, 7)["id"]) == []
    [link] = _emergency_links(api, "xfk1", _petition(api, 8)["id"])
    assert api.instance("zzb1", link["id"])["data"]["proposed_level"] == "general"
    [link] = _emergency_links(api, "xfk1", _petition(api, 10)["id"])
    assert api.instance("zzb1", link["id"])["data"]["proposed_level"] == "major"


def _assigned_dispute(api: ApiClient, **changes: Any) -> dict[str, Any]:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_case", "data": {**DISPUTE, **changes}})
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    done = api.complete("zzb1", case["id"], "assign", {"handling_group": "dept_fgw", "basis": "归口管理"})
    assert done.status_code == 200, done.get_json()
    return case


def test_escalated_dispute_starts_one_linked_emergency_and_a_second_escalation_is_refused(api: ApiClient) -> None:
    dispute = _assigned_dispute(api)
    r = api.complete("fgw1", dispute["id"], "handle", ESCALATED)
    assert r.status_code == 200, r.get_json()
    [link] = _emergency_links(api, "zzb1", dispute["id"])
    emergency = api.instance("zzb1", link["id"])
    assert emergency["business_key"] == "YJ-2026-0001" and link["business_key"] == "YJ-2026-0001"
    data = emergency["data"]
    assert data["dispute_instance_id"] == dispute["id"] and "petition_instance_id" not in data
    assert data["type"] == "群体性事件" and data["people_count"] == 12 and data["place"] == DISPUTE["place"]
    assert data["proposed_level"] == "general"
    assert emergency["links"] == [{"relation": "emergency", "process": "dispute_case", "id": dispute["id"],
                                   "business_key": dispute["business_key"]}]
    assert [t["bpmn_id"] for t in emergency["open_tasks"]] == ["verify"]
    # the dispute goes on to 督查回访; 不满意 sends it back to 调处, where escalating again is refused
    assert [t["bpmn_id"] for t in api.instance("zzb1", dispute["id"])["open_tasks"]] == ["follow_up"]
    r = api.complete("zzb1", dispute["id"], "follow_up", {"visited_at": "2026-12-01", "satisfaction": "不满意",
                                                          "opinions": "仍有聚集苗头"})
    assert r.status_code == 200, r.get_json()
    again = api.complete("fgw1", dispute["id"], "handle", ESCALATED)
    assert again.status_code == 422, again.get_json()
    assert again.get_json()["details"] == [{"field": "escalate", "message": "本案已升级为突发事件应急处置，不能重复启动"}]
    assert [e["business_key"] for e in _emergencies(api)] == ["YJ-2026-0001"]
    assert len(_emergency_links(api, "zzb1", dispute["id"])) == 1


def test_a_dispute_handled_without_escalation_starts_no_emergency(api: ApiClient) -> None:
    dispute = _assigned_dispute(api)
    r = api.complete("fgw1", dispute["id"], "handle", {"result": "经调解，双方同意按原承包合同确定边界",
                                                         "resolved": True, "escalate": False})
    assert r.status_code == 200, r.get_json()
    assert _emergency_links(api, "zzb1", dispute["id"]) == [] and _emergencies(api) == []


def _clear_values(body: str) -> list[str]:
    return [value for value in (NAME, ID_NUMBER, PHONE, PETITION["petitioner_address"]) if value in body]


def test_an_emergency_from_a_petition_shows_the_petitioner_only_as_the_petition_rule_allows(
        api: ApiClient) -> None:
    """综治办 (zzb1) runs the emergency but is outside the petition's chain (第九条(二)): the
    emergency carries none of the petitioner's personal data, and the petition itself stays closed
    to zzb1; 秘书长 (msz), in both the chain and the leading group, reads the petitioner in clear."""
    from conftest import login, text

    from service.policy import mask

    petition = _petition(api, 6, petitioner_id_number=PETITION["petitioner_id_number"])
    [link] = _emergency_links(api, "xfk1", petition["id"])
    eid = link["id"]
    emergency = api.get("zzb1", f"/api/v1/instances/{eid}")
    assert emergency.status_code == 200
    assert _clear_values(emergency.get_data(as_text=True)) == []
    assert not {"petitioner_name", "petitioner_id_number", "petitioner_phone"} & set(emergency.get_json()["data"])
    situation = api.get("zzb1", f"/api/v1/emergencies/{eid}/situation")
    assert situation.status_code == 200 and situation.get_json()["business_key"] == link["business_key"]
    assert _clear_values(situation.get_data(as_text=True)) == []
    # the petition: zzb1 may follow the link but not open the case, in the API, the list and the pages
    opened = api.get("zzb1", f"/api/v1/instances/{petition['id']}")
    assert opened.status_code == 403 and opened.get_json()["message"] == "您无权查看此案件"
    assert api.get("zzb1", "/api/v1/instances?process=petition").get_json() == []
    api.app.config["WTF_CSRF_ENABLED"] = False
    pages = login(api.app, "zzb1")
    for path in (f"/instances/{eid}", f"/emergencies/{eid}/situation", f"/emergencies/{eid}/situation/fragment"):
        page = pages.get(path)
        assert page.status_code == 200, path
        assert _clear_values(text(page)) == [], path
        assert petition["business_key"] in text(page), path  # the link is shown, by its number
    assert pages.get(f"/instances/{petition['id']}").status_code == 403
    # masked as the petition's rule masks (what lists and exports give outside the chain)
    masked = mask("petition", api.instance("xfk1", petition["id"])["data"])
    assert (masked["petitioner_name"], masked["petitioner_id_number"]) == ("张*", "5301**********1234")
    # in the chain: 秘书长 sees the petitioner in clear, and the emergency beside it
    clear = api.instance("msz", petition["id"])["data"]
    assert (clear["petitioner_name"], clear["petitioner_id_number"]) == (NAME, PETITION["petitioner_id_number"])
    assert api.instance("msz", eid)["data"]["petition_instance_id"] == petition["id"]
