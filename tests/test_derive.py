"""Derived keys (`Procedure.derive`) and starters by pattern (`Starters.patterns`).

A deriver adds keys to a step's submitted data once its form and validator passed, from the case
data before the step and the acting user's own groups: the added keys are in the workflow data and
in the history row's data_after; a deriver's Invalid is a 422 that writes nothing. The procedure is
tests/derive_procedure.py (diagram tests/bpmn/derive_line.bpmn)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient, login, text
from derive_procedure import KEY, REFUSAL, REFUSED_TITLE, installed


@pytest.fixture
def dapp(app: Any, tmp_path: Path) -> Iterator[Any]:
    with installed(app, tmp_path / "forms"):
        yield app


@pytest.fixture
def dapi(dapp: Any) -> ApiClient:
    return ApiClient(dapp)


def _counts(app: Any) -> tuple[int, int]:
    from sqlalchemy import func, select

    from service.store.models import History, Instance

    with app.extensions["govflow"].db.read() as session:
        return (int(session.scalar(select(func.count()).select_from(Instance)) or 0),
                int(session.scalar(select(func.count()).select_from(History)) or 0))


def _start(api: ApiClient, user: str, title: str = "县区稿件") -> Any:
    return api.post(user, "/api/v1/instances", json={"process": KEY, "data": {"title": title}})


# ----- Starters.patterns ------------------------------------------------------------------------


def test_a_group_matching_the_starters_pattern_may_start_and_its_unit_may_not(dapi: ApiClient) -> None:
    from service import policy
    from service.actors import Actor

    county_web = Actor("lxweb1", groups=frozenset({"county_linxiang_web"}))
    county_unit = Actor("linxiang1", groups=frozenset({"county_linxiang"}))
    assert policy.may_start(county_web, KEY)
    assert not policy.may_start(county_unit, KEY)
    assert KEY in [p.key for p in policy.startable(county_web)]
    assert KEY not in [p.key for p in policy.startable(county_unit)]
    assert _start(dapi, "lxweb1").status_code == 201
    refused = _start(dapi, "linxiang1")
    assert refused.status_code == 403 and refused.get_json()["message"] == "您无权发起此流程"


def test_the_start_page_and_nav_link_follow_the_pattern(dapp: Any) -> None:
    dapp.config["WTF_CSRF_ENABLED"] = False
    county_web = login(dapp, "lxweb1")
    assert county_web.get(f"/instances/new/{KEY}").status_code == 200
    assert "测试登记" in text(county_web.get("/tasks"))
    county_unit = login(dapp, "linxiang1")
    assert county_unit.get(f"/instances/new/{KEY}").status_code == 403
    assert "测试登记" not in text(county_unit.get("/tasks"))


# ----- derive on the start ----------------------------------------------------------------------


def test_start_derivation_lands_in_the_case_data_the_task_and_the_history(dapi: ApiClient) -> None:
    r = _start(dapi, "lxweb1")
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    assert [t["candidate_groups"] for t in r.get_json()["open_tasks"]] == [["county_linxiang_web"]]
    case = dapi.instance("lxweb1", iid)
    assert case["data"]["handler_group"] == "county_linxiang_web"
    assert case["data"]["register_groups"] == ["county_linxiang_web"]
    assert case["data"]["seen_instance"] == {}  # the start's instance is empty
    started = [h for h in case["history"] if h["action"] == "start"]
    assert len(started) == 1
    assert started[0]["data"]["handler_group"] == "county_linxiang_web"
    assert started[0]["data"]["title"] == "县区稿件"
    # an office start goes to web_admin: the same rule, other groups
    office = _start(dapi, "web1")
    assert [t["candidate_groups"] for t in office.get_json()["open_tasks"]] == [["web_admin"]]


def test_a_derived_key_wins_over_a_submitted_one(dapi: ApiClient) -> None:
    """The deriver's key is the rule's: a start posting its own handler_group does not choose."""
    from derive_procedure import FORMS

    schema = FORMS["test_derive_start"]
    assert "handler_group" not in schema["properties"]  # the form refuses it outright …
    r = dapi.post("lxweb1", "/api/v1/instances", json={"process": KEY, "data": {"title": "稿", "handler_group": "x"}})
    assert r.status_code == 422
    # … and the runtime merges derived keys last (a form that allowed the key would not help)
    from service.runtime.derive import derive_keys

    merged = derive_keys(KEY, "start", {"title": "稿", "handler_group": "web_admin"}, {},
                          frozenset({"county_linxiang_web"}))
    assert merged["handler_group"] == "county_linxiang_web"


def test_a_refusing_start_deriver_gives_422_and_writes_no_case_and_no_history(dapp: Any, dapi: ApiClient) -> None:
    _start(dapi, "web1")  # something in the tables already
    before = _counts(dapp)
    r = _start(dapi, "lxweb1", REFUSED_TITLE)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["details"] == [{"field": "title", "message": REFUSAL}]
    assert _counts(dapp) == before


def test_a_system_start_derives_with_the_system_actors_groups(dapp: Any) -> None:
    """Scheduled and linked starts run as SYSTEM: the deriver sees SYSTEM's groups."""
    from service.actors import SYSTEM

    runtime = dapp.extensions["govflow"].runtime
    result = runtime.start(KEY, {"title": "定时"}, SYSTEM)
    assert [t["candidate_groups"] for t in result["open_tasks"]] == [["web_admin"]]
    case = ApiClient(dapp).instance("admin", result["id"])
    assert case["data"]["register_groups"] == sorted(SYSTEM.groups)


# ----- derive on a task -------------------------------------------------------------------------


def test_task_derivation_sees_the_case_data_and_the_users_groups_and_is_in_data_after(dapi: ApiClient) -> None:
    iid = _start(dapi, "lxweb1", "第一稿").get_json()["id"]
    r = dapi.complete("lxweb1", iid, "handle", {"comment": "已核"})
    assert r.status_code == 200, r.get_json()
    case = dapi.instance("lxweb1", iid)
    assert case["data"]["handled_title"] == "第一稿"
    assert case["data"]["handled_by_groups"] == ["county_linxiang_web"]
    assert case["data"]["comment_length"] == 2
    handled = [h for h in case["history"] if h["task"] == "handle"]
    assert len(handled) == 1
    assert handled[0]["data"] == {"comment": "已核", "handled_title": "第一稿",
                                  "handled_by_groups": ["county_linxiang_web"], "comment_length": 2}
    look = dapi.task("lxweb1", iid, "look")
    assert look["candidate_groups"] == ["county_linxiang_web"]


def test_a_refusing_task_deriver_gives_422_and_leaves_the_task_open_and_the_history_unchanged(
        dapp: Any, dapi: ApiClient) -> None:
    iid = _start(dapi, "web1").get_json()["id"]
    before = _counts(dapp)
    r = dapi.complete("web1", iid, "handle", {"comment": REFUSED_TITLE})
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "comment", "message": REFUSAL}]
    assert _counts(dapp) == before
    assert dapi.task("web1", iid, "handle")  # still open, still web_admin's
    case = dapi.instance("web1", iid)
    assert "handled_title" not in case["data"]


def test_a_delegate_derives_with_the_delegators_groups(dapi: ApiClient) -> None:
    """委托: the step is the delegator's, so the deriver sees the delegator's groups."""
    made = dapi.post("lxweb1", "/api/v1/me/delegations",
                     json={"delegate": "xfk1", "starts_at": "2026-12-01", "ends_at": "2026-12-05"})
    assert made.status_code == 201, made.get_json()
    iid = _start(dapi, "lxweb1").get_json()["id"]
    r = dapi.complete("xfk1", iid, "handle", {"comment": "代办"})
    assert r.status_code == 200, r.get_json()
    assert dapi.instance("lxweb1", iid)["data"]["handled_by_groups"] == ["county_linxiang_web"]
