"""Linked starts and relations between cases: 重复信访 (a second running petition of the same
petitioner) and 集体访 (five people or more start an emergency case, once that procedure exists),
both shown on the two cases, in lists and in the inbox; a linked start to a procedure that is
not deployed is refused with a Chinese error and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient

STUB = Path(__file__).resolve().parent / "bpmn" / "emergency_stub.bpmn"


def _start(api: ApiClient, **changes: Any) -> dict[str, Any]:
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": {**PETITION, **changes}})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_second_running_petition_of_the_same_petitioner_is_a_linked_duplicate(api: ApiClient) -> None:
    first = _start(api)
    second = _start(api, subject="再次反映拖欠工资")
    other = _start(api, petitioner_id_number="530102198001055678")
    a, b = api.instance("xfk1", first["id"]), api.instance("xfk1", second["id"])
    assert b["data"]["duplicate_of"] == first["business_key"]
    assert "duplicate_of" not in a["data"]
    assert b["links"] == [{"relation": "duplicate", "process": "petition", "id": first["id"],
                           "business_key": first["business_key"]}]
    assert a["links"] == [{"relation": "duplicate", "process": "petition", "id": second["id"],
                           "business_key": second["business_key"]}]
    assert api.instance("xfk1", other["id"])["links"] == []
    rows = {r["id"]: r for r in api.get("xfk1", "/api/v1/instances?process=petition").get_json()}
    assert [link["relation"] for link in rows[second["id"]]["links"]] == ["duplicate"]
    assert rows[other["id"]]["links"] == [] and rows[other["id"]]["drill"] is False


def test_duplicate_petition_is_marked_in_the_inbox_and_on_the_case(page_app: Any) -> None:
    api = ApiClient(page_app)
    first = _start(api)
    second = _start(api)
    client = page_app.test_client()
    client.post("/login", data={"username": "xfk1", "password": "govflow-demo"})
    inbox = client.get("/tasks").get_data(as_text=True)
    row = inbox[inbox.index(f'data-business-key="{second["business_key"]}"'):]
    assert "重复信访" in row[:row.index("</tr>")]
    case = client.get(f"/instances/{second['id']}").get_data(as_text=True)
    assert 'id="case-links"' in case and first["business_key"] in case and "重复信访" in case
    listing = client.get("/instances").get_data(as_text=True)
    row = listing[listing.index(f'data-business-key="{second["business_key"]}"'):]
    assert "重复信访" in row[:row.index("</tr>")]


@pytest.fixture
def emergency_installed(app: Any) -> Iterator[None]:
    """A stand-in emergency procedure declared and deployed (the real one is not built yet)."""
    from service import procedure
    from service.bootstrap import deploy_bytes, install_procedures
    from service.procedure import ANY_LOGGED_IN_USER, Numbering, Procedure

    before = procedure.registry()
    stub = Procedure("emergency_response", "突发事件应急处置", Numbering("YJ", 4), starters=ANY_LOGGED_IN_USER,
                     owners=frozenset({"zzb"}))
    install_procedures([*before, stub], before.organisation)
    deploy_bytes(app.extensions["govflow"].runtime, STUB.read_bytes(), "emergency_stub.bpmn", "admin")
    yield
    install_procedures(list(before), before.organisation)


def test_collective_petition_starts_a_linked_emergency_case(api: ApiClient, emergency_installed: None) -> None:
    petition = _start(api, people_count=6, channel="来访")
    links = api.instance("xfk1", petition["id"])["links"]
    assert [(link["relation"], link["process"]) for link in links] == [("emergency", "emergency_response")]
    emergency = api.instance("zzb1", links[0]["id"])
    assert emergency["business_key"].startswith("YJ-2026-")
    assert emergency["data"]["petition_instance_id"] == petition["id"]
    assert emergency["data"]["type"] == "群体性事件" and emergency["data"]["proposed_level"] == "general"
    assert emergency["data"]["people_count"] == 6
    assert emergency["links"] == [{"relation": "emergency", "process": "petition", "id": petition["id"],
                                   "business_key": petition["business_key"]}]
    assert [t["bpmn_id"] for t in emergency["open_tasks"]] == ["verify"]
    big = _start(api, people_count=30, channel="来访", petitioner_id_number="530102198001055678")
    linked = api.instance("xfk1", big["id"])["links"][0]["id"]
    assert api.instance("zzb1", linked)["data"]["proposed_level"] == "major"
    # four people is not a collective visit
    small = _start(api, people_count=4, petitioner_id_number="530102197001039999")
    assert api.instance("xfk1", small["id"])["links"] == []


def test_collective_petition_without_the_emergency_procedure_starts_no_case(api: ApiClient) -> None:
    petition = _start(api, people_count=8, channel="来访")
    assert api.instance("xfk1", petition["id"])["links"] == []


def test_linked_start_of_an_undeployed_procedure_is_refused_and_writes_nothing(app: Any) -> None:
    """Declared but not deployed: the petition is not registered, its number not used."""
    from service import procedure
    from service.bootstrap import install_procedures
    from service.procedure import Numbering, Procedure
    from service.store.models import Instance

    api = ApiClient(app)
    before = procedure.registry()
    install_procedures([*before, Procedure("emergency_response", "突发事件应急处置", Numbering("YJ", 4))],
                       before.organisation)
    try:
        r = api.post("xfk1", "/api/v1/instances",
                     json={"process": "petition", "data": {**PETITION, "people_count": 6}})
    finally:
        install_procedures(list(before), before.organisation)
    assert r.status_code == 422, r.get_json()
    assert "尚未部署" in r.get_json()["message"] and "emergency_response" in r.get_json()["message"]
    with app.extensions["govflow"].db.read() as session:
        assert session.query(Instance).count() == 0
    assert _start(api)["business_key"] == "XF-2026-000001"  # the refused start took no number
