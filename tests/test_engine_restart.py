"""A process that did not run a case's earlier steps (after a restart, or another node) parses
the definition afresh and restores the state: a multi-instance activity must still merge the
children created before (one report task per department, API.md `dispute_screening_monthly`),
so the round goes on to 研判 once every department has reported."""

from __future__ import annotations

from typing import Any

from conftest import ApiClient

from service import definitions


def _as_a_fresh_process(app: Any) -> None:
    """What a new process holds: no parsed definition, no kept workflow."""
    runtime = app.extensions["govflow"].runtime
    runtime.models = definitions.ModelCache()
    runtime.live.clear()


def test_a_round_reaches_analysis_when_departments_report_across_a_restart(api: ApiClient) -> None:
    r = api.post("zzb1", "/api/v1/instances", json={"process": "dispute_screening_monthly",
                                                    "data": {"period": "2026-12"}})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    assert api.complete("cjw1", iid, "report", {"zero_report": True}).status_code == 200
    _as_a_fresh_process(api.app)
    for user in ("fgw1", "jsw1"):
        assert api.complete(user, iid, "report", {"zero_report": True}).status_code == 200
    case = api.instance("zzb1", iid)
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["analyse"]
    assert case["status"] == "running"
