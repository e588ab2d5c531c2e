"""Linked starts and relations between cases: 重复信访 (a second running petition of the same
petitioner) and 集体访 (five people or more start an emergency case — the real 突发事件应急处置 —, none
while that procedure is not installed), both shown on the two cases, in lists and in the inbox; a
linked start to a procedure that is declared but not deployed is refused with a Chinese error and
writes nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"


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
def emergency_missing(app: Any) -> Iterator[None]:
    """The system as it was before the emergency procedure was installed (its diagram may stay
    deployed: `procedure_exists` asks the installed procedures)."""
    from service import procedure
    from service.bootstrap import install_procedures

    before = procedure.registry()
    install_procedures([p for p in before if p.key != "emergency_response"], before.organisation)
    yield
    install_procedures(list(before), before.organisation)


def test_collective_petition_starts_a_linked_emergency_case(api: ApiClient) -> None:
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


def test_collective_petition_without_the_emergency_procedure_starts_no_case(api: ApiClient,
                                                                           emergency_missing: None) -> None:
    from service.store.models import Instance

    petition = _start(api, people_count=8, channel="来访")
    assert api.instance("xfk1", petition["id"])["links"] == []
    with api.app.extensions["govflow"].db.read() as session:
        assert [i.process_key for i in session.query(Instance)] == ["petition"]


def test_linked_start_of_an_undeployed_procedure_is_refused_and_writes_nothing(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Declared but not deployed (every diagram of bpmn/ but the emergency's): the petition is not
    registered, its number not used."""
    from conftest import make_app

    from service import procedure
    from service.store.models import Instance

    diagrams = tmp_path / "bpmn"
    diagrams.mkdir()
    for path in BPMN_DIR.glob("*.bpmn"):
        if path.name != "emergency_response.bpmn":
            shutil.copy(path, diagrams / path.name)
    monkeypatch.setenv("GOVFLOW_BPMN_DIR", str(diagrams))
    app = make_app(db_url)
    try:
        assert procedure.get("emergency_response") is not None  # declared, installed
        api = ApiClient(app)
        r = api.post("xfk1", "/api/v1/instances",
                     json={"process": "petition", "data": {**PETITION, "people_count": 6}})
        assert r.status_code == 422, r.get_json()
        assert "尚未部署" in r.get_json()["message"] and "emergency_response" in r.get_json()["message"]
        with app.extensions["govflow"].db.read() as session:
            assert session.query(Instance).count() == 0
        assert _start(api)["business_key"] == "XF-2026-000001"  # the refused start took no number
    finally:
        app.extensions["govflow"].db.dispose()
