"""安全审计 (等保 2.0 安全审计): every security event is one audit row — who, from where, what, when,
result — written in the transaction of the event: logins, logouts, failures, locks, unlocks,
password changes, the second factor, tokens, settings, suspensions, deployments, exports, clock
moves, views of personal data in clear, backups and restores."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from audit_support import Row, audit_rows, from_address
from conftest import PETITION, ApiClient, missing_dependency, text
from identity_support import PASSWORD, production_app

ADDR = "10.20.30.40"


@pytest.fixture
def api(sqlite_app: Any) -> ApiClient:
    client = ApiClient(sqlite_app)
    from_address(client.client, ADDR)
    return client


@pytest.fixture
def both_api(app: Any) -> ApiClient:
    """On SQLite and on PostgreSQL."""
    client = ApiClient(app)
    from_address(client.client, ADDR)
    return client


@pytest.fixture
def prod(sqlite_url: str) -> Any:
    app = production_app(sqlite_url)
    yield app
    app.extensions["govflow"].db.dispose()


@pytest.fixture(autouse=True)
def _defaults_again(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """config_store's values are shared by every app of the process: a setting changed here must
    not reach the next test (read back from an empty database)."""
    yield
    from service import config_store
    from service.store.db import Database
    from service.store.models import Base

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('defaults')}/empty.db")
    try:
        Base.metadata.create_all(db.engine)
        with db.read() as session:
            config_store.load(session)
    finally:
        db.dispose()


def _token(api: ApiClient, username: str, password: str) -> Any:
    return api.client.post("/api/v1/auth/token", json={"username": username, "password": password})


def _new(app: Any, kind: str, before: int) -> list[Row]:
    return audit_rows(app, kind)[before:]


# ----- signing in and out -----------------------------------------------------------------------------


def test_a_login_and_a_logout_on_the_pages_are_rows_with_who_and_from_where(page_app: Any) -> None:
    client = from_address(page_app.test_client(), ADDR)
    assert client.post("/login", data={"username": "xfk1", "password": "govflow-demo"}).status_code == 302
    assert client.post("/logout").status_code == 302
    login, logout = audit_rows(page_app, "login")[-1], audit_rows(page_app, "logout")[-1]
    assert login[:5] == ("xfk1", ADDR, "login", "xfk1", "success")
    assert logout[:5] == ("xfk1", ADDR, "logout", "xfk1", "success")


def test_failures_the_lock_and_the_refused_attempt_are_rows(both_api: ApiClient) -> None:
    api = both_api
    for _ in range(5):
        assert _token(api, "xfk1", "wrong").status_code in (401, 423)
    failed = audit_rows(api.app, "login_failed")
    assert [r[:5] for r in failed] == [("xfk1", ADDR, "login_failed", "xfk1", "failure")] * 5
    assert "用户名或密码错误" in failed[0].detail
    locks = audit_rows(api.app, "lock")
    # the account's lock (the address has its own, higher threshold: 20)
    assert [(r.target, r.result) for r in locks] == [("xfk1", "success")]
    assert all(r.username == "xfk1" and r.address == ADDR and "连续登录失败 5 次" in r.detail for r in locks)
    assert _token(api, "xfk1", "govflow-demo").status_code == 423  # the right password, refused
    refused = audit_rows(api.app, "login_failed")[-1]
    assert refused[:5] == ("xfk1", ADDR, "login_failed", "xfk1", "denied") and "已锁定" in refused.detail
    assert not [r for r in audit_rows(api.app, "login") if r.username == "xfk1"]


def test_an_unlock_by_the_administrator_is_a_row(sqlite_app: Any) -> None:
    admin = ApiClient(sqlite_app)
    from_address(admin.client, "10.0.0.99")
    headers = admin.headers("admin")
    for _ in range(5):
        sqlite_app.test_client().post("/api/v1/auth/token", json={"username": "xfk1", "password": "wrong"},
                                      environ_base={"REMOTE_ADDR": ADDR})
    lock = next(lock for lock in admin.client.get("/api/v1/admin/locks", headers=headers).get_json()
                if lock["subject"] == "xfk1")
    assert admin.client.post(f"/api/v1/admin/locks/{lock['id']}/unlock", headers=headers).status_code == 200
    (row,) = audit_rows(sqlite_app, "unlock")
    assert row[:5] == ("admin", "10.0.0.99", "unlock", "xfk1", "success")


def test_a_password_change_is_a_row(prod: Any) -> None:
    client = from_address(prod.test_client(), ADDR)
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    r = client.post("/me/password", data={"current": PASSWORD, "new": "Desk-Pass-2026x", "confirm": "Desk-Pass-2026x"})
    assert r.status_code == 302
    (row,) = audit_rows(prod, "password_change")
    assert row[:5] == ("clerk", ADDR, "password_change", "clerk", "success")
    login = audit_rows(prod, "login")[-1]
    assert login[:5] == ("clerk", ADDR, "login", "clerk", "success") and "须修改密码" in login.detail


def test_a_refused_password_change_leaves_no_row(prod: Any) -> None:
    client = from_address(prod.test_client(), ADDR)
    client.post("/login", data={"username": "clerk", "password": PASSWORD})
    r = client.post("/me/password", data={"current": "wrong", "new": "Desk-Pass-2026x", "confirm": "Desk-Pass-2026x"})
    assert r.status_code == 422
    assert audit_rows(prod, "password_change") == []


def test_second_factor_enrolment_verification_and_a_recovery_code_are_rows(prod: Any) -> None:
    from service.identity import wall_now
    from service.totp import code_at

    client = from_address(prod.test_client(), ADDR)
    client.post("/login", data={"username": "admin", "password": PASSWORD})
    client.post("/me/password", data={"current": PASSWORD, "new": "Strong-Pass-2026", "confirm": "Strong-Pass-2026"})
    page = text(client.get("/me/second-factor"))
    secret = re.search(r'id="enrol-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>",
                       text(client.post("/me/second-factor", data={"code": code_at(secret, wall_now())})))
    assert len(codes) == 10
    (enrolled,) = audit_rows(prod, "second_factor")
    assert enrolled[:5] == ("admin", ADDR, "second_factor", "admin", "success") and "绑定" in enrolled.detail
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 302
    used, verified = audit_rows(prod, "second_factor")[1:]
    assert used[:5] == ("admin", ADDR, "second_factor", "admin", "success") and "使用恢复码" in used.detail
    assert "剩余 9 个" in used.detail
    assert verified[:5] == ("admin", ADDR, "second_factor", "admin", "success") and "验证通过" in verified.detail
    client.post("/logout")
    client.post("/login", data={"username": "admin", "password": "Strong-Pass-2026"})
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 401  # used once already
    wrong = audit_rows(prod, "login_failed")[-1]
    assert wrong[:5] == ("admin", ADDR, "login_failed", "admin", "failure") and "动态验证码" in wrong.detail


def test_a_token_issued_and_revoked_is_a_row(api: ApiClient) -> None:
    mine = api.headers("fgw1")
    (issued,) = [r for r in audit_rows(api.app, "token") if r.username == "fgw1"]
    assert issued[:5] == ("fgw1", ADDR, "token", "fgw1", "success") and "签发" in issued.detail
    token_id = api.client.get("/api/v1/me/tokens", headers=mine).get_json()[0]["id"]
    assert api.client.post(f"/api/v1/me/tokens/{token_id}/revoke", headers=mine).status_code == 200
    revoked = audit_rows(api.app, "token")[-1]
    assert revoked[:5] == ("fgw1", ADDR, "token", "fgw1", "success") and "注销" in revoked.detail


# ----- administration ---------------------------------------------------------------------------------


def test_a_setting_change_is_a_row_and_a_refused_one_is_not(api: ApiClient) -> None:
    key = "supervision.stalled_days"
    put = api.client.put(f"/api/v1/settings/{key}", headers=api.headers("admin"), json={"value": 20})
    assert put.status_code == 200, put.get_json()
    (row,) = audit_rows(api.app, "setting")
    assert row[:5] == ("admin", ADDR, "setting", key, "success") and "15 → 20" in row.detail
    bad = api.client.put(f"/api/v1/settings/{key}", headers=api.headers("admin"), json={"value": 0})
    assert bad.status_code == 422
    assert len(audit_rows(api.app, "setting")) == 1


def test_a_suspension_and_its_restore_are_rows(api: ApiClient) -> None:
    member = {"username": "lxweb1", "group": "county_linxiang_web"}
    assert api.post("admin", "/api/v1/admin/suspensions", json={**member, "reason": "稿件多次出错"}).status_code == 201
    assert api.post("admin", "/api/v1/admin/suspensions/restore", json={**member, "reason": "已整改"}).status_code == 200
    suspended, restored = audit_rows(api.app, "permission")
    assert suspended[:5] == ("admin", ADDR, "permission", "lxweb1@county_linxiang_web", "success")
    assert "停权" in suspended.detail and "稿件多次出错" in suspended.detail
    assert restored[:5] == ("admin", ADDR, "permission", "lxweb1@county_linxiang_web", "success")
    assert "恢复权限" in restored.detail


PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_probe" targetNamespace="http://govflow.test/probe">
  <bpmn:process id="audit_probe" name="审计探针{n}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="handle" name="办理" camunda:candidateGroups="xfk" camunda:formKey="petition_classify">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="handle"/>
    <bpmn:sequenceFlow id="f2" sourceRef="handle" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_deployment_by_the_api_and_by_the_command_is_a_row(api: ApiClient, sqlite_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from service import cli

    r = api.client.post("/api/v1/definitions?comment=首次部署", data=PROBE.format(n=1).encode(),
                        headers={**api.headers("admin"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_json()
    (row,) = [r for r in audit_rows(api.app, "deploy") if r.target and r.target.startswith("audit_probe")]
    assert row[:5] == ("admin", ADDR, "deploy", "audit_probe v1", "success")
    assert "审计探针1" in row.detail and "首次部署" in row.detail
    unchanged = api.client.post("/api/v1/definitions", data=PROBE.format(n=1).encode(),
                                headers={**api.headers("admin"), "Content-Type": "application/xml"})
    assert unchanged.status_code == 201 and unchanged.get_json()["changed"] is False
    file = tmp_path / "probe.bpmn"
    file.write_text(PROBE.format(n=2), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert cli.main(["deploy", str(file)]) == 0
    probes = [r for r in audit_rows(api.app, "deploy") if r.target and r.target.startswith("audit_probe")]
    assert [r[:5] for r in probes] == [("admin", ADDR, "deploy", "audit_probe v1", "success"),
                                       ("cli", None, "deploy", "audit_probe v2", "success")]


def test_moving_the_virtual_clock_is_a_row(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_CLOCK", "virtual")
    r = api.post("admin", "/api/v1/admin/clock", json={"advance": "P1DT2H"})
    assert r.status_code == 200, r.get_json()
    (row,) = audit_rows(api.app, "clock")
    assert row[:5] == ("admin", ADDR, "clock", "clock.offset_seconds", "success")
    assert "向前拨动 1天2小时" in row.detail


# ----- exports and views --------------------------------------------------------------------------------


def test_every_export_is_a_row(api: ApiClient) -> None:
    api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    ledger = api.get("zr", "/api/v1/reports/disputes?month=2026-12&format=xlsx")
    assert ledger.status_code == 200 and ledger.mimetype.endswith("spreadsheetml.sheet")
    found = api.get("xfk1", "/api/v1/search?format=xlsx&petitioner_id_number=530102199001071234")
    assert found.status_code == 200, found.get_data(as_text=True)
    api.app.config["WTF_CSRF_ENABLED"] = False
    page = from_address(api.app.test_client(), ADDR)
    page.post("/login", data={"username": "xfk1", "password": "govflow-demo"})
    assert page.get("/search/export?process=petition").status_code == 200
    assert page.get("/duty-roster/export?month=2026-12").status_code == 200
    emergencies = api.get("zzb1", "/api/v1/reports/emergencies?year=2026&format=xlsx")
    assert emergencies.status_code == 200
    exports = audit_rows(api.app, "export")
    assert [r[:5] for r in exports] == [("zr", ADDR, "export", exports[0].target, "success"),
                                        ("xfk1", ADDR, "export", "案件查询结果", "success"),
                                        ("xfk1", ADDR, "export", "案件查询结果", "success"),
                                        ("xfk1", ADDR, "export", "值班表", "success"),
                                        ("zzb1", ADDR, "export", exports[4].target, "success")]
    assert exports[3].detail == "Excel：2026年12月"
    assert "2026" in exports[0].detail
    assert "按身份证号码查询" in exports[1].detail
    assert "530102199001071234" not in "".join(r.detail for r in exports)  # a searched ID number is never written
    assert "流程=petition" in exports[2].detail


def test_a_pdf_of_a_case_is_an_export_row(api: ApiClient) -> None:
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError):
        missing_dependency("WeasyPrint (and pango) are not installed: .venv/bin/pip install weasyprint")
    iid = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION}).get_json()["id"]
    for user, step, data in (
            ("xfk1", "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"}),
            ("xfk1", "propose", {"proposal": "建议交法制工作委员会调查处理"}),
            ("bgs", "leader_sign", {"decision": "approve"}), ("msz", "sg_approve", {"decision": "approve"})):
        assert api.complete(user, iid, step, data).status_code == 200
    key = api.instance("xfk1", iid)["business_key"]
    r = api.get("xfk1", f"/api/v1/instances/{iid}/documents/assignment.pdf")
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    (row,) = audit_rows(api.app, "export")
    assert row[:5] == ("xfk1", ADDR, "export", key, "success") and row.detail == "PDF：交办单（含明文个人信息）"


def test_a_case_shown_with_personal_data_in_clear_is_a_row_and_a_masked_one_is_not(api: ApiClient) -> None:
    created = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": PETITION})
    iid = created.get_json()["id"]
    key = api.instance("xfk1", iid)["business_key"]
    (row,) = audit_rows(api.app, "unmasked_view")
    assert row[:5] == ("xfk1", ADDR, "unmasked_view", key, "success") and "个人信息明文显示" in row.detail
    masked = api.instance("admin", iid)  # outside the chain: masked
    assert masked["data"]["petitioner_id_number"] != PETITION["petitioner_id_number"]
    assert len(audit_rows(api.app, "unmasked_view")) == 1
    api.app.config["WTF_CSRF_ENABLED"] = False
    page = from_address(api.app.test_client(), ADDR)
    page.post("/login", data={"username": "xfk1", "password": "govflow-demo"})
    assert page.get(f"/instances/{iid}").status_code == 200
    assert [r[:5] for r in audit_rows(api.app, "unmasked_view")] == [("xfk1", ADDR, "unmasked_view", key, "success")] * 2


# ----- backup and restore ---------------------------------------------------------------------------------


def test_a_backup_by_the_administrator_by_the_command_and_a_restore_are_rows(api: ApiClient, tmp_path: Path) -> None:
    from service import backup, backup_schedule, config_store
    from service.store.backup_models import COMMAND
    from service.store.db import Database

    db = api.app.extensions["govflow"].db
    with db.write() as session:
        config_store.put(session, backup_schedule.DIRECTORY_KEY, str(tmp_path / "backups"))
    made = api.post("admin", "/api/v1/admin/backups")
    assert made.status_code == 201, made.get_json()
    (row,) = audit_rows(api.app, "backup")
    assert row[:5] == ("admin", ADDR, "backup", made.get_json()["file"], "success") and "立即备份" in row.detail
    run = backup_schedule.record(db, COMMAND, "cli", tmp_path / "cli", keep=None)
    command = audit_rows(api.app, "backup")[-1]
    assert command[:5] == ("cli", None, "backup", run["file"], "success") and "命令行" in command.detail
    target = f"sqlite:///{tmp_path}/restored.db"
    backup.restore(Path(run["path"]), target)
    restored_db = Database(target)
    try:
        restored = audit_rows(restored_db, "restore")
    finally:
        restored_db.dispose()
    assert [r[:5] for r in restored] == [("cli", None, "restore", Path(run["path"]).name, "success")]
    assert audit_rows(api.app, "restore") == []  # in the restored database, not the source


def test_a_failed_backup_is_a_failure_row(api: ApiClient, tmp_path: Path) -> None:
    from service import backup_schedule
    from service.store.backup_models import COMMAND

    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    run = backup_schedule.record(api.app.extensions["govflow"].db, COMMAND, "cli", blocked / "inside", keep=None)
    assert run["status"] == "failed"
    row = audit_rows(api.app, "backup")[-1]
    assert row[:5] == ("cli", None, "backup", None, "failure") and "失败" in row.detail


# ----- the recorder itself -------------------------------------------------------------------------------------


def test_a_row_outside_any_request_is_the_systems_and_unknown_kinds_are_refused(sqlite_app: Any) -> None:
    from service import audit

    db = sqlite_app.extensions["govflow"].db
    audit.write(db, audit.BACKUP, target="x")
    with audit.bind("someone", "192.0.2.1"):
        audit.write(db, audit.BACKUP, target="y")
    assert [r[:4] for r in audit_rows(sqlite_app, "backup")] == [("system", None, "backup", "x"),
                                                                ("someone", "192.0.2.1", "backup", "y")]
    with pytest.raises(ValueError):
        audit.write(db, "no_such_kind")
    with pytest.raises(ValueError):
        audit.write(db, audit.BACKUP, result="maybe")
    assert len(audit_rows(sqlite_app, "backup")) == 2


def test_a_rolled_back_change_leaves_no_row(sqlite_app: Any) -> None:
    from service import audit

    db = sqlite_app.extensions["govflow"].db
    with pytest.raises(RuntimeError), db.write() as session:
        audit.record(session, audit.SETTING, target="k")
        raise RuntimeError("the change fails")
    assert audit_rows(sqlite_app, "setting") == []
