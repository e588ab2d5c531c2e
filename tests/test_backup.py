"""备份与恢复 (issue 14 item 5; 网站管理制度 第十条): `govflow backup` makes a consistent copy while
cases are being registered (SQLite's online backup API, PostgreSQL's pg_dump on an exported
snapshot) with a manifest; `govflow restore` puts it into an empty database only, refuses a file
whose checksum does not match, and finds every instance, task, timer and history row the manifest
lists. The daily backup runs once at its time whichever node polls first and keeps the newest N;
the administrator sees the last result at /admin/backups and in the API."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PETITION, ApiClient, login, pin_clock, text
from sqlalchemy import select

from service import backup, backup_schedule, chain_verify, config_store
from service.clock import BEIJING
from service.errors import Conflict, Forbidden, Invalid
from service.store.backup_models import BackupRun
from service.store.db import Database
from service.store.models import History, HumanTask, Instance, Setting, Timer

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"instances": Instance, "human_tasks": HumanTask, "timers": Timer, "history": History}
REFUSED_NOT_EMPTY = re.compile(r"目标数据库已有数据（已有记录的表：[a-z_、 0-9等个]+），恢复只能写入空数据库："
                               r"请将 DATABASE_URL 指向新建的空数据库后重试")
TAMPERED = "备份文件校验失败：SHA-256 与备份说明不符，文件已损坏或被改动，不能恢复"
LOAD_THREADS = 3


# ----- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture
def fresh_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A new empty database of the test's kind each call (SQLite: a file not yet there)."""
    def make() -> str:
        name = f"r{uuid.uuid4().hex[:12]}"
        if db_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path}/{name}.db"
        return str(request.getfixturevalue("pg_server").create_database(name))

    return make


@pytest.fixture(autouse=True)
def _defaults_again(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """config_store's snapshot is shared by every app of the test process: the directories and
    counts set here must not reach the next test (read back from an empty database)."""
    yield
    from service.store.models import Base

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('defaults')}/empty.db")
    try:
        Base.metadata.create_all(db.engine)
        with db.read() as session:
            config_store.load(session)
    finally:
        db.dispose()


def use_directory(app: Any, directory: Path) -> Path:
    """Set the settings' backup directory (under the test's tmp_path, never the installation's)."""
    with app.extensions["govflow"].db.write() as session:
        config_store.put(session, backup_schedule.DIRECTORY_KEY, str(directory))
    return directory


@pytest.fixture
def backup_dir(app: Any, tmp_path: Path) -> Path:
    return use_directory(app, tmp_path / "backups")


@pytest.fixture
def page_backup_dir(page_app: Any, tmp_path: Path) -> Path:
    return use_directory(page_app, tmp_path / "backups")


@pytest.fixture
def sqlite_backup_dir(sqlite_app: Any, tmp_path: Path) -> Path:
    return use_directory(sqlite_app, tmp_path / "backups")


def ids(url: str) -> dict[str, set[Any]]:
    db = Database(url)
    try:
        with db.read() as session:
            return {table: set(session.scalars(select(model.id))) for table, model in MODELS.items()}
    finally:
        db.dispose()


def cases_of(url: str) -> dict[str, set[int]]:
    """The instances the human_tasks, timers and history rows belong to."""
    db = Database(url)
    try:
        with db.read() as session:
            return {table: set(session.scalars(select(MODELS[table].instance_id)))
                    for table in ("human_tasks", "timers", "history")}
    finally:
        db.dispose()


def register(api: ApiClient, subject: str) -> int:
    # received this morning (the suite's day): the 分流期限 timer of 归纳分类 is still waiting
    data = {**PETITION, "received_at": "2026-12-01T09:00:00+08:00", "subject": subject}
    r = api.post("xfk1", "/api/v1/instances", json={"process": "petition", "data": data})
    assert r.status_code == 201, r.get_json()
    return int(r.get_json()["id"])


class Load:
    """Threads registering petitions (each with its own client) until stopped; `acked` holds
    (instance id, monotonic time of the answer)."""

    def __init__(self, app: Any) -> None:
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[tuple[int, float]] = []
        self.errors: list[BaseException] = []
        self.clients = [ApiClient(app) for _ in range(LOAD_THREADS)]
        for client in self.clients:
            client.headers("xfk1")  # log in before the load starts
        self.threads = [threading.Thread(target=self._run, args=(c, n)) for n, c in enumerate(self.clients)]

    def _run(self, client: ApiClient, n: int) -> None:
        try:
            while not self.stop.is_set():
                iid = register(client, f"备份压力测试 线程{n}")
                with self.lock:
                    self.acked.append((iid, time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, f"only {len(self.acked)} petitions registered"
            time.sleep(0.01)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not self.errors, self.errors


# ----- backup and restore -----------------------------------------------------------------------------


def test_a_backup_under_load_restores_every_instance_task_timer_and_history_row(
        api: ApiClient, db_url: str, fresh_url: Callable[[], str], tmp_path: Path) -> None:
    for n in range(5):
        register(api, f"备份前登记 {n}")
    with Load(api.app) as load:
        load.wait_for(LOAD_THREADS * 2)
        began = time.monotonic()
        made = backup.backup(db_url, tmp_path / "under-load")
        ended = time.monotonic()
        load.wait_for(len(load.acked) + LOAD_THREADS)  # the load went on after the backup
    before = {iid for iid, at in load.acked if at < began}
    assert before and any(at > ended for _, at in load.acked)
    manifest = made.manifest
    assert made.path.name == manifest["file"] and re.fullmatch(r"govflow-\d{8}-\d{6}\.(db|dump)", made.path.name)
    assert made.path.suffix == (".db" if db_url.startswith("sqlite") else ".dump")
    assert made.manifest_path.is_file() and manifest["schema_revision"] == backup.database_facts(db_url)["schema_revision"]
    assert all(manifest["counts"][t] > 0 for t in MODELS), manifest["counts"]  # petitions open tasks and timers

    restored = fresh_url()
    result = backup.restore(made.path, restored)
    assert result["facts"]["counts"] == manifest["counts"]
    assert result["facts"]["ids_sha256"] == manifest["ids_sha256"]
    source, copy = ids(db_url), ids(restored)
    assert {t: len(v) for t, v in copy.items()} == manifest["counts"]
    for table in MODELS:
        assert copy[table] <= source[table], table  # nothing the source never held
    assert before <= copy["instances"]  # every petition answered before the backup began is in it
    # one snapshot: no case in the copy without its task, timer and history row, none of those without it
    assert cases_of(restored) == {t: copy["instances"] for t in ("human_tasks", "timers", "history")}

    # once the load has stopped, a backup restores to exactly the source's rows
    quiet = backup.backup(db_url, tmp_path / "quiet")
    second = fresh_url()
    backup.restore(quiet.path, second)
    assert ids(second) == ids(db_url)
    assert {t: len(v) for t, v in ids(second).items()} == quiet.manifest["counts"]


def test_a_restored_database_serves_its_cases(api: ApiClient, db_url: str, fresh_url: Callable[[], str],
                                              tmp_path: Path) -> None:
    from service.config import Settings
    from service.web import create_app

    iid = register(api, "恢复后仍可办理")
    made = backup.backup(db_url, tmp_path)
    restored = fresh_url()
    backup.restore(made.path, restored)
    app = create_app(Settings(database_url=restored, secret_key="test-secret"), start_timers=False)
    try:
        copy = ApiClient(app)
        original = api.instance("admin", iid)
        assert copy.instance("admin", iid)["business_key"] == original["business_key"]
        r = copy.complete("xfk1", iid, "classify", {"category": "行政", "route": "dept", "handling_group": "dept_fgw"})
        assert r.status_code == 200, r.get_json()
        # 防篡改: the copy's history and audit chains are whole (`govflow verify`), and go on whole
        checked = chain_verify.verify(app.extensions["govflow"].db)
        assert checked.ok and checked.rows > 0, checked.problems
    finally:
        app.extensions["govflow"].db.dispose()


def test_restore_into_a_database_that_holds_data_is_refused_and_changes_nothing(
        api: ApiClient, db_url: str, tmp_path: Path) -> None:
    register(api, "已有数据")
    made = backup.backup(db_url, tmp_path)
    register(api, "备份之后")
    facts = backup.database_facts(db_url)
    with pytest.raises(Conflict) as refused:
        backup.restore(made.path, db_url)
    assert REFUSED_NOT_EMPTY.fullmatch(refused.value.message), refused.value.message
    assert refused.value.status == 409
    assert backup.database_facts(db_url) == facts


def test_a_tampered_backup_is_refused_and_nothing_is_written(api: ApiClient, db_url: str, fresh_url: Callable[[], str],
                                                             tmp_path: Path) -> None:
    register(api, "将被改动的备份")
    made = backup.backup(db_url, tmp_path)
    data = bytearray(made.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    made.path.write_bytes(bytes(data))
    target = fresh_url()
    with pytest.raises(Invalid) as refused:
        backup.restore(made.path, target)
    assert refused.value.message == TAMPERED
    assert backup.holdings(target) == ([], [])  # not even a table
    made.manifest_path.unlink()
    with pytest.raises(Invalid) as missing:
        backup.restore(made.path, target)
    assert missing.value.message == f"找不到备份说明文件 {made.path.name}.json，无法校验备份，不能恢复"


def test_restore_accepts_a_migrated_but_unused_database(api: ApiClient, db_url: str, fresh_url: Callable[[], str],
                                                         tmp_path: Path) -> None:
    iid = register(api, "恢复到空表")
    made = backup.backup(db_url, tmp_path)
    target = fresh_url()
    Database(target).migrate()  # e.g. a server was started on it once: tables, no rows
    tables, full = backup.holdings(target)
    assert "instances" in tables and full == []
    backup.restore(made.path, target)
    assert iid in ids(target)["instances"]


def test_a_backup_restores_only_into_its_own_kind_of_database(api: ApiClient, db_url: str, tmp_path: Path) -> None:
    made = backup.backup(db_url, tmp_path)
    sqlite = db_url.startswith("sqlite")
    other = "postgresql+psycopg://nobody@127.0.0.1:1/none" if sqlite else f"sqlite:///{tmp_path}/other.db"
    with pytest.raises(Invalid) as refused:
        backup.restore(made.path, other)
    assert refused.value.message == ("这是 SQLite 的备份，不能恢复到 PostgreSQL 数据库" if sqlite
                                     else "这是 PostgreSQL 的备份，不能恢复到 SQLite 数据库")


def test_the_commands_back_up_and_restore_and_refuse_a_database_with_data(sqlite_app: Any, sqlite_url: str,
                                                                           tmp_path: Path) -> None:
    register(ApiClient(sqlite_app), "命令行备份")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GOVFLOW_") or k == "GOVFLOW_KEYS"}, "DATABASE_URL": sqlite_url}
    made = subprocess.run([str(ROOT / ".venv/bin/govflow"), "backup", str(tmp_path / "cli")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stderr
    assert re.search(r"已备份：\S+/govflow-\d{8}-\d{6}\.db（[0-9.]+ KB，用时 [0-9.]+ 秒）", made.stdout), made.stdout
    assert "案件 1、" in made.stdout
    (file,) = (tmp_path / "cli").glob("govflow-*.db")
    refused = subprocess.run([str(ROOT / ".venv/bin/govflow"), "restore", str(file)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 2
    assert "恢复失败：目标数据库已有数据（已有记录的表：" in refused.stderr
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/restored.db"
    restored = subprocess.run([str(ROOT / ".venv/bin/govflow"), "restore", str(file)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert restored.returncode == 0, restored.stderr
    assert "已恢复到 sqlite:///" in restored.stdout and "案件 1、" in restored.stdout
    # the command's backup is on the administrator's page of the source database
    with sqlite_app.extensions["govflow"].db.read() as session:
        run = session.scalars(select(BackupRun)).one()
    assert (run.kind, run.status, run.username, run.path) == ("command", "ok", "cli", str(file))


@pytest.mark.postgresql
def test_the_password_reaches_pg_dump_only_through_the_environment(
        pg_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    name = f"p{uuid.uuid4().hex[:12]}"
    pg_server.create_database(name)
    secret = "Sekret-Pw-9x7"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE ROLE backup_{name} LOGIN SUPERUSER PASSWORD '{secret}'")
    url = f"postgresql+psycopg://backup_{name}:{secret}@127.0.0.1:{pg_server.port}/{name}"
    Database(url).migrate()
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(cmd: list[str], **kwargs: Any) -> Any:
        seen.append((list(cmd), dict(kwargs.get("env") or {})))
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(backup.subprocess, "run", spy)
    caplog.set_level("DEBUG")
    made = backup.backup(url, tmp_path)
    target = pg_server.create_database(f"q{uuid.uuid4().hex[:12]}")
    backup.restore(made.path, target)
    assert [Path(cmd[0]).name for cmd, _ in seen] == ["pg_dump", "pg_restore"]
    dump_cmd, dump_env = seen[0]
    assert dump_cmd[0] == backup.PG_DUMP and "--format=custom" in dump_cmd
    assert all(secret not in arg for arg in dump_cmd) and dump_env["PGPASSWORD"] == secret
    assert [r for r in caplog.text.splitlines() if secret in r] == []
    assert f"运行 {backup.PG_DUMP} --no-password" in caplog.text
    assert backup.safe_url(url) == f"postgresql+psycopg://backup_{name}:***@127.0.0.1:{pg_server.port}/{name}"


# ----- the daily backup --------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=BEIJING)


def test_the_daily_backup_runs_once_at_its_time_across_nodes_and_keeps_only_the_newest(
        app: Any, db_url: str, backup_dir: Path) -> None:
    db = app.extensions["govflow"].db
    with db.write() as session:
        config_store.put(session, backup_schedule.KEEP_KEY, 2)
    other_node = Database(db_url)  # a second app process: its own engine and its own memory
    try:
        # the installation was made on 2026-12-01 at 10:00: that day's 02:00 is not back-dated
        pin_clock(at(1, 10, 30))
        assert backup_schedule.run_due(db) is None
        pin_clock(at(2, 1, 59))
        assert backup_schedule.run_due(db) is None and not backup_dir.exists()
        pin_clock(at(2, 2, 0, 5))
        results: list[Any] = []
        barrier = threading.Barrier(2)

        def poll(node: Database) -> None:
            barrier.wait()
            results.append(backup_schedule.run_due(node))

        threads = [threading.Thread(target=poll, args=(node,)) for node in (db, other_node)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        made = [r for r in results if r is not None]
        assert len(results) == 2 and len(made) == 1, results
        assert made[0]["status"] == "ok" and made[0]["kind"] == "daily" and made[0]["day"] == "2026-12-02"
        assert made[0]["file"].startswith("govflow-20261202-02000")
        assert backup_schedule.run_due(db) is None and backup_schedule.run_due(other_node) is None
        for day in (3, 4, 5):
            pin_clock(at(day, 2, 0, 5))
            assert backup_schedule.run_due(other_node if day % 2 else db)["status"] == "ok"
        files = sorted(p.name for p in backup_dir.iterdir())
        assert [f[:16] for f in files if not f.endswith(".json")] == ["govflow-20261204", "govflow-20261205"]
        assert len(files) == 4  # each with its manifest
        with db.read() as session:
            days = list(session.scalars(select(BackupRun.day).order_by(BackupRun.id)))
        assert days == ["2026-12-02", "2026-12-03", "2026-12-04", "2026-12-05"]
    finally:
        other_node.dispose()


POLLING_NODE = """
import sys, time
from pathlib import Path
from service import backup_schedule, config_store
from service.store.db import Database
db = Database(sys.argv[1])
with db.read() as session:
    config_store.load_clock(session)
    config_store.load(session)
Path(sys.argv[2], f"ready-{sys.argv[3]}").touch()
while not Path(sys.argv[2], "go").exists():
    time.sleep(0.005)
run = backup_schedule.run_due(db)
print(run["id"] if run else "none")
"""


def test_the_daily_backup_runs_once_across_app_processes(app: Any, db_url: str, backup_dir: Path,
                                                        fresh_url: Callable[[], str], tmp_path: Path) -> None:
    from datetime import UTC

    db = app.extensions["govflow"].db
    with db.write() as session:  # the shared virtual clock: every process at 2026-12-02 02:00:05
        config_store.put(session, backup_schedule.KEEP_KEY, 3)
        offset = (at(2, 2, 0, 5) - datetime.now(UTC)).total_seconds()
        session.merge(Setting(key=config_store.CLOCK_KEY, value=str(offset)))
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GOVFLOW_") or k == "GOVFLOW_KEYS"}, "GOVFLOW_CLOCK": "virtual"}
    nodes = [subprocess.Popen([str(ROOT / ".venv/bin/python"), "-c", POLLING_NODE, db_url, str(gate), str(n)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(3)]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    (gate / "go").touch()
    answers = [node.communicate(timeout=120) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err for _, err in answers]
    printed = [out.strip() for out, _ in answers]
    assert printed.count("none") == 2 and all(p.isdigit() for p in printed if p != "none"), printed
    with db.read() as session:
        runs = list(session.scalars(select(BackupRun)))
    assert [(r.kind, r.day, r.status, r.attempts) for r in runs] == [("daily", "2026-12-02", "ok", 1)]
    (file,) = backup_dir.glob("govflow-2026120[23]-*.db" if db_url.startswith("sqlite") else "govflow-*.dump")
    # the copy holds its own run as it stood (running): a restore marks it unfinished
    restored = fresh_url()
    backup.restore(file, restored)
    copy = Database(restored)
    try:
        with copy.read() as session:
            (own,) = session.scalars(select(BackupRun))
        assert (own.day, own.status, own.error) == ("2026-12-02", "failed", backup.UNFINISHED_IN_COPY)
    finally:
        copy.dispose()


def test_a_failed_daily_backup_is_recorded_and_retried_an_hour_later(app: Any, backup_dir: Path) -> None:
    db = app.extensions["govflow"].db
    blocker = backup_dir.parent / "not-a-directory"
    blocker.write_text("")
    use_directory(app, blocker)
    pin_clock(at(2, 2, 0, 5))
    failed = backup_schedule.run_due(db)
    assert failed["status"] == "failed" and failed["error"].startswith(f"无法写入备份目录 {blocker}：")
    pin_clock(at(2, 2, 30))
    assert backup_schedule.run_due(db) is None  # not at every poll
    use_directory(app, backup_dir)
    pin_clock(at(2, 3, 1))
    retried = backup_schedule.run_due(db)
    assert (retried["id"], retried["status"], retried["attempts"], retried["error"]) == (failed["id"], "ok", 2, None)


def test_backup_settings_are_checked_against_their_bounds(api: ApiClient) -> None:
    r = api.client.put("/api/v1/settings/backup.keep", json={"value": 0}, headers=api.headers("admin"))
    assert r.status_code == 422
    assert r.get_json()["details"] == [{"field": "backup.keep", "message": "不能设为 0 份：最小为 1 份，最大为 365 份"}]
    r = api.client.put("/api/v1/settings/backup.at_minute", json={"value": 1440}, headers=api.headers("admin"))
    assert r.status_code == 422
    r = api.client.put("/api/v1/settings/backup.at_minute", json={"value": 90}, headers=api.headers("admin"))
    assert r.status_code == 200 and backup_schedule.settings_view()["at"] == "01:30"


# ----- the administrator's page and the API -----------------------------------------------------------


def test_the_api_runs_a_backup_and_lists_the_last_result_for_the_administrator_only(
        api: ApiClient, backup_dir: Path) -> None:
    made = api.post("admin", "/api/v1/admin/backups")
    assert made.status_code == 201, made.get_json()
    run = made.get_json()
    assert (run["status"], run["kind"], run["username"]) == ("ok", "manual", "admin")
    assert Path(run["path"]).parent == backup_dir and Path(run["path"] + ".json").is_file()
    listed = api.get("admin", "/api/v1/admin/backups").get_json()
    assert listed["last"] == run and listed["runs"] == [run]
    assert listed["settings"] == {"directory": str(backup_dir), "at": "02:00", "at_minute": 120, "keep": 7}
    assert [f["file"] for f in listed["files"]] == [run["file"]]
    assert listed["next_at"] == "2026-12-02T02:00:00+08:00"  # the suite's day is 2026-12-01 10:00
    for call in (api.get("xfk1", "/api/v1/admin/backups"), api.post("xfk1", "/api/v1/admin/backups")):
        assert call.status_code == 403 and call.get_json()["message"] == backup_schedule.REFUSAL
    assert len(list(backup_dir.glob("govflow-*.json"))) == 1  # the refused calls made none


def test_the_backup_page_shows_the_last_result_and_backs_up_now(page_app: Any, page_backup_dir: Path) -> None:
    backup_dir = page_backup_dir
    admin = login(page_app, "admin")
    assert "尚未备份过" in text(admin.get("/admin/backups"))
    r = admin.post("/admin/backups", data={"submission_token": "t1"}, follow_redirects=True)
    page = text(r)
    (file,) = backup_dir.glob("govflow-*.db")
    assert r.status_code == 200 and f"备份完成：{file.name}（" in page
    assert f'<dd class="bk-path" id="last-file">{file}</dd>' in page
    assert 'data-status="ok">成功</span>' in page and "每天 02:00" in page and "最新 7 份" in page
    again = admin.post("/admin/backups", data={"submission_token": "t1"}, follow_redirects=True)  # a double click
    assert f"备份完成：{file.name}（" in text(again) and len(list(backup_dir.glob("govflow-*.db"))) == 1
    clerk = login(page_app, "xfk1")
    assert clerk.get("/admin/backups").status_code == 403
    assert clerk.post("/admin/backups", data={"submission_token": "t2"}).status_code == 403
    assert len(list(backup_dir.glob("govflow-*.db"))) == 1


def test_the_page_shows_a_failed_backup_with_its_error(page_app: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    use_directory(page_app, blocker)
    admin = login(page_app, "admin")
    page = text(admin.post("/admin/backups", data={"submission_token": "t1"}, follow_redirects=True))
    assert f"备份失败：无法写入备份目录 {blocker}：" in page
    assert 'data-status="failed">失败</span>' in page and 'id="last-error">无法写入备份目录' in page


def test_backing_up_now_needs_the_csrf_token(sqlite_app: Any, sqlite_backup_dir: Path) -> None:
    backup_dir = sqlite_backup_dir
    client = sqlite_app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', text(client.get("/login"))).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "admin", "password": "govflow-demo", "csrf_token": token})
    assert client.post("/admin/backups", data={}).status_code == 400
    assert not backup_dir.exists()
    page = text(client.get("/admin/backups"))
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/admin/backups", data={"csrf_token": form_token}).status_code == 302
    assert len(list(backup_dir.glob("govflow-*.db"))) == 1


def test_only_the_administrator_may_back_up() -> None:
    from service.actors import Actor

    with pytest.raises(Forbidden) as refused:
        backup_schedule.require_admin(Actor(username="xfk1", name="信访科", groups=frozenset({"petition_office"})))
    assert refused.value.message == "只有系统管理员可以查看和执行数据库备份"
