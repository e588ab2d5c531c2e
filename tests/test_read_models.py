"""Read models and per-task data: a procedure keeps its own rows (here: one report per department
of a multi-instance round), written in the step's own transaction, rebuilt from the history
identically if they are lost; sibling tasks of one multi-instance activity never overwrite each
other's data in the case view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ApiClient

DIAGRAM = Path(__file__).resolve().parent / "bpmn" / "round_reports.bpmn"
GROUPS = ["dept_fgw", "dept_cjw", "dept_jsw"]
USERS = {"dept_fgw": "fgw1", "dept_cjw": "cjw1", "dept_jsw": "jsw1"}


def _project(event: Any) -> list[Any]:
    """One row per department's report; the office's summary marks every row of the round."""
    from service.readmodels import Row

    if event.action == "complete" and event.task == "report":
        group = event.groups[0]
        return [Row(f"{event.instance_id}:{group}", {"group": group, "text": event.data["explanation"],
                                                      "by": event.user}, tag=group, sort_at=event.at)]
    return []


@pytest.fixture
def reports_installed(app: Any) -> Iterator[Any]:
    from service import procedure
    from service.bootstrap import deploy_bytes, install_procedures
    from service.procedure import Numbering, Procedure, Starters
    from service.readmodels import ReadModel

    before = procedure.registry()
    declared = Procedure("test_reports", "部门报告（测试）", Numbering("BG", 4),
                         starters=Starters(groups=frozenset({"zzb"})), owners=frozenset({"zzb"}),
                         read_models=(ReadModel("test_reports", "部门报告", _project),),
                         project=lambda data: {"handling_groups": data.get("groups") or []})
    install_procedures([*before, declared], before.organisation)
    deploy_bytes(app.extensions["govflow"].runtime, DIAGRAM.read_bytes(), "round_reports.bpmn", "admin")
    yield app
    install_procedures(list(before), before.organisation)


def _rows(app: Any) -> list[dict[str, Any]]:
    from service import readmodels

    with app.extensions["govflow"].db.read() as session:
        found = readmodels.rows(session, "test_reports")
    return sorted(({k: v for k, v in r.items() if k != "sort_at"} for r in found), key=lambda r: r["key"])


def test_each_department_report_is_a_row_written_with_its_step_and_rebuilt_from_history(
        reports_installed: Any) -> None:
    from service import readmodels

    app = reports_installed
    api = ApiClient(app)
    r = api.post("zzb1", "/api/v1/instances", json={"process": "test_reports", "data": {"groups": GROUPS}})
    assert r.status_code == 201, r.get_json()
    iid = r.get_json()["id"]
    # one open report task per department, each offered to that department only
    tasks = {t["candidate_groups"][0]: t for t in api.instance("zzb1", iid)["open_tasks"]}
    assert sorted(tasks) == sorted(GROUPS)
    for group in ("dept_fgw", "dept_cjw"):
        done = api.complete(USERS[group], iid, "report", {"explanation": f"{group} 本月排查无纠纷"})
        assert done.status_code == 200, done.get_json()
    # a refused step writes no row
    assert api.complete("jsw1", iid, "report", {"explanation": ""}).status_code == 422
    rows = _rows(app)
    assert rows == [
        {"key": f"{iid}:dept_cjw", "instance_id": iid, "tag": "dept_cjw", "group": "dept_cjw",
         "text": "dept_cjw 本月排查无纠纷", "by": "cjw1"},
        {"key": f"{iid}:dept_fgw", "instance_id": iid, "tag": "dept_fgw", "group": "dept_fgw",
         "text": "dept_fgw 本月排查无纠纷", "by": "fgw1"},
    ]
    # the live view keeps the department still reporting apart, and shows no sibling's report
    view = api.instance("zzb1", iid)["data"]
    assert "explanation" not in view
    assert [p["element"] for p in view["per_task"].values()] == ["dept_jsw"]
    assert api.complete("jsw1", iid, "report", {"explanation": "发现一起劳资纠纷"}).status_code == 200
    assert [t["bpmn_id"] for t in api.instance("zzb1", iid)["open_tasks"]] == ["summarize"]
    before = _rows(app)
    assert len(before) == 3 and before[2]["text"] == "发现一起劳资纠纷"
    # lost rows come back identically from the history
    with app.extensions["govflow"].db.write() as session:
        session.execute(__import__("sqlalchemy").text("DELETE FROM read_rows"))
    assert _rows(app) == []
    assert readmodels.rebuild(app.extensions["govflow"].db)["test_reports"] == 3
    assert _rows(app) == before


def test_a_read_model_that_fails_rolls_its_step_back(reports_installed: Any, monkeypatch: Any) -> None:
    """The rows are part of the step: if writing them fails, the step did not happen."""
    from service import readmodels

    app = reports_installed
    api = ApiClient(app)
    iid = api.post("zzb1", "/api/v1/instances", json={"process": "test_reports",
                                                     "data": {"groups": GROUPS}}).get_json()["id"]

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(readmodels, "_apply", broken)
    failed = api.complete("fgw1", iid, "report", {"explanation": "无"})
    assert failed.status_code == 500 and failed.get_json()["error"] == "internal"
    monkeypatch.undo()
    assert _rows(app) == []
    assert len([t for t in api.instance("zzb1", iid)["open_tasks"] if t["bpmn_id"] == "report"]) == 3
    assert api.complete("fgw1", iid, "report", {"explanation": "无"}).status_code == 200
    assert [r["group"] for r in _rows(app)] == ["dept_fgw"]


def test_a_case_handled_by_several_departments_projects_every_one(reports_installed: Any) -> None:
    """Not one handling_group: every department of the round is a handling group of the case."""
    from sqlalchemy import select

    from service.store.models import Instance, InstanceGroup

    app = reports_installed
    api = ApiClient(app)
    iid = api.post("zzb1", "/api/v1/instances", json={"process": "test_reports",
                                                     "data": {"groups": GROUPS}}).get_json()["id"]
    with app.extensions["govflow"].db.read() as session:
        groups = sorted(session.scalars(select(InstanceGroup.group_key).where(InstanceGroup.instance_id == iid)))
        assert session.get(Instance, iid).handling_group is None
    assert groups == sorted(GROUPS)
    for user in ("fgw1", "cjw1", "jsw1"):
        assert [r["id"] for r in api.get(user, "/api/v1/instances").get_json()] == [iid], user
    assert api.get("linxiang1", f"/api/v1/instances/{iid}").status_code == 403


def test_the_case_page_shows_each_departments_open_task_apart(reports_installed: Any) -> None:
    app = reports_installed
    app.config["WTF_CSRF_ENABLED"] = False
    api = ApiClient(app)
    iid = api.post("zzb1", "/api/v1/instances", json={"process": "test_reports",
                                                     "data": {"groups": GROUPS}}).get_json()["id"]
    client = app.test_client()
    client.post("/login", data={"username": "zzb1", "password": "govflow-demo"})
    html = client.get(f"/instances/{iid}").get_data(as_text=True)
    panel = html[html.index('id="per-task"'):]
    panel = panel[:panel.index("</section>")]
    assert [name in panel for name in ("法制工作委员会", "财政经济委员会", "监察和司法委员会")] == [True] * 3
    assert "per_task" not in html
