"""The `govflow` command: serve, init, deploy, rebuild-read-models, backup, restore, verify, rotate-key,
org-export, org-import, bench."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from service.config import Settings


def _init(args: argparse.Namespace) -> int:
    from service.bootstrap import build
    from service.demo import load_demo

    svc = build(Settings())
    if args.demo:
        with svc.db.write() as session:
            load_demo(session)
    print(f"数据库已就绪：{svc.db.dialect}" + ("，演示组织已载入" if args.demo else ""))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from service.bootstrap import build, deploy_files
    from service.errors import Invalid

    settings = Settings()
    settings.deploy_on_start = False
    svc = build(settings)
    try:
        results = deploy_files(svc.runtime, [Path(p) for p in args.files], user="cli", comment=args.comment)
    except Invalid as exc:
        print(f"部署失败：{exc.message}", file=sys.stderr)
        for d in exc.details:
            print(f"  第 {d.get('line') or '?'} 行 [{d.get('element_id') or '-'}] {d['message']}", file=sys.stderr)
        return 2
    for r in results:
        state = "新版本" if r["changed"] else "未变化"
        print(f"{r['file']}: {', '.join(f'{k} v{v}' for k, v in r['versions'].items())}（{state}）")
        for w in r["warnings"]:  # never blocking (a group without members)
            print(f"  警告：第 {w.get('line') or '?'} 行 [{w.get('element_id') or '-'}] {w['message']}", file=sys.stderr)
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from service import procedure, readmodels, search_keys
    from service.bootstrap import build

    settings = Settings()
    settings.deploy_on_start = False
    svc = build(settings)
    counts = readmodels.rebuild(svc.db, args.model)
    if args.model in (None, search_keys.MODEL_NAME) and any(p.search_keys for p in procedure.registry()):
        counts[search_keys.MODEL_NAME] = search_keys.rebuild(svc.db)  # the searchable fields' hashes
    if not counts:
        print("没有需要重建的读模型" + (f"：{args.model}" if args.model else ""), file=sys.stderr)
        return 2 if args.model else 0
    for name, count in counts.items():
        print(f"{name}: 已由历史记录重建 {count} 行")
    return 0


COUNT_LABELS = {"instances": "案件", "human_tasks": "待办", "timers": "定时器", "history": "历史记录"}


def _counts(counts: dict[str, int]) -> str:
    return "、".join(f"{label} {counts.get(table, 0)}" for table, label in COUNT_LABELS.items())


def _backup(args: argparse.Namespace) -> int:
    """A consistent copy while the server runs (SQLite backup API, PostgreSQL pg_dump), recorded
    on the administrator's page; the schema is not migrated (back up before upgrading)."""
    from service import backup, backup_schedule
    from service.store.backup_models import COMMAND
    from service.store.db import Database

    db = Database(Settings().database_url)
    try:
        run = backup_schedule.record(db, COMMAND, "cli", Path(args.directory).resolve(), keep=None)
    finally:
        db.dispose()
    if run["status"] != "ok":
        print(f"备份失败：{run['error']}", file=sys.stderr)
        return 2
    manifest = json.loads(backup.manifest_path(Path(run["path"])).read_text(encoding="utf-8"))
    print(f"已备份：{run['path']}（{run['size']}，用时 {run['duration_seconds']:.1f} 秒）")
    print(f"说明文件：{run['path']}.json；数据库版本 {manifest['schema_revision']}；{_counts(manifest['counts'])}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    """Into the empty database DATABASE_URL names (refused if it holds data), then migrated."""
    from service import backup
    from service.errors import GovFlowError

    url = Settings().database_url
    try:
        result = backup.restore(Path(args.file), url)
    except GovFlowError as exc:
        print(f"恢复失败：{exc.message}", file=sys.stderr)
        return 2
    facts = result["facts"]
    print(f"已恢复到 {result['database']}：{_counts(facts['counts'])}，与备份说明一致；"
          f"数据库版本 {result['manifest']['schema_revision']} → {facts['schema_revision']}")
    print("提示：启动服务时请沿用原系统的 SECRET_KEY（instance/secret_key），按身份证号等查找依赖它")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    settings = Settings()
    port = args.port or settings.port
    host = args.host or settings.host

    class App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", args.threads)
            self.cfg.set("timeout", 60)
            self.cfg.set("accesslog", "-" if args.access_log else None)
            self.cfg.set("worker_exit", _stop_timers)
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)  # several nodes may share one host

        def load(self) -> Any:
            from service.web import create_app

            return create_app()

    # Migrate and deploy once before the workers start, so they do not race on it.
    from service.bootstrap import build

    build(settings).db.dispose()
    print(f"GovFlow 正在运行：http://{host}:{port}  （{args.workers} 个进程）", flush=True)
    App().run()
    return 0


def _stop_timers(_server: Any, worker: Any) -> None:
    """gunicorn's worker_exit: stop the worker's timer job before the interpreter shuts down, so a
    poll due at that moment is not handed to an executor that is already gone."""
    app = getattr(worker, "wsgi", None)
    svc = getattr(app, "extensions", {}).get("govflow") if app is not None else None
    scheduler = getattr(svc, "scheduler", None)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=True)  # a poll under way finishes its transaction first


def _bench(args: argparse.Namespace) -> int:
    from bench import run_bench
    from service.bootstrap import install_procedures

    install_procedures()  # the raw-engine rounds run the diagrams without a database

    print(json.dumps(run_bench(args), ensure_ascii=False))
    return 0


def _lazy(module: str, name: str, args: argparse.Namespace) -> int:
    """Run a command whose code lives with its subject (imported only when it is run)."""
    import importlib

    return int(getattr(importlib.import_module(module), name)(args))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per second otherwise
    parser = argparse.ArgumentParser(prog="govflow", description="GovFlow 政务流程系统")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="启动 Web 服务（gunicorn）")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--port", type=int)
    p.add_argument("--host")
    p.add_argument("--access-log", action="store_true")
    p.set_defaults(func=_serve)
    p = sub.add_parser("init", help="创建/升级数据库并部署 bpmn/ 下的流程")
    p.add_argument("--demo", action="store_true", help="载入演示组织和用户")
    p.set_defaults(func=_init)
    p = sub.add_parser("deploy", help="部署 BPMN 文件")
    p.add_argument("files", nargs="+")
    p.add_argument("--comment", help="版本说明（记录在新版本上）")
    p.set_defaults(func=_deploy)
    p = sub.add_parser("rebuild-read-models", help="由历史记录重建各流程的读模型（如公开网站的文章表）")
    p.add_argument("--model", help="只重建这一个读模型")
    p.set_defaults(func=_rebuild)
    p = sub.add_parser("backup", help="备份数据库到目录（服务运行时亦可；SQLite 在线备份，PostgreSQL pg_dump）")
    p.add_argument("directory", help="备份目录（不存在则创建）")
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help="由备份文件恢复到空数据库（DATABASE_URL；已有数据则拒绝）")
    p.add_argument("file", help="备份文件 govflow-年月日-时分秒.db 或 .dump（其说明文件 .json 须在旁）")
    p.set_defaults(func=_restore)
    p = sub.add_parser("verify", help="校验历史记录和审计日志的哈希链，指出第一处被修改、删除或插入的记录")
    p.set_defaults(func=lambda a: _lazy("service.chain_verify", "main", a))
    p = sub.add_parser("rotate-key", help="生成新的数据密钥并用它重新加密全部个人信息（旧密钥保留至 --drop-old）")
    p.add_argument("--drop-old", action="store_true", help="重新加密完成后从密钥文件中删除旧密钥")
    p.set_defaults(func=lambda a: _lazy("service.key_rotation", "main", a))
    p = sub.add_parser("org-export", help="导出组织（组、用户、成员关系）到 Excel 文件")
    p.add_argument("file")
    p.set_defaults(func=lambda a: _lazy("service.org_excel", "export_main", a))
    p = sub.add_parser("org-import", help="由 Excel 文件导入组织（先检查，全部无误才写入）")
    p.add_argument("file")
    p.set_defaults(func=lambda a: _lazy("service.org_excel", "import_main", a))
    p = sub.add_parser("bench", help="性能测试，输出 JSON")
    p.add_argument("--instances", type=int, default=None,
                   help="每项测试的案件数（默认 300，--quick 时 60）")
    p.add_argument("--quick", action="store_true", help="小规模快速测试（一分钟内；待办仍为 10 万件）")
    p.add_argument("--inbox-rows", type=int, default=None, help="待办查询测试的案件数（默认 100000）")
    p.add_argument("--inbox-calls", type=int, default=None, help="待办查询次数（默认 700，--quick 时 210）")
    p.add_argument("--inbox-state", choices=["full", "stub"], default=None,
                   help="待办测试案件的状态 JSON：full 为真实案件状态的副本（默认），stub 为短占位（--quick 默认）")
    p.add_argument("--http-clients", type=int, default=8, help="HTTP 并发客户端数")
    p.add_argument("--workers", type=int, default=2, help="被测服务的进程数（gunicorn workers）")
    p.add_argument("--timers", type=int, default=None,
                   help="同时到期的定时器数（默认每进程 400 个，--quick 时每进程 200 个）")
    p.add_argument("--postgresql-url", default=None,
                   help="使用已有的 PostgreSQL（需 CREATEDB 权限）代替自动启动的临时服务器")
    p.add_argument("--no-postgresql", action="store_true", help="跳过 PostgreSQL")
    p.add_argument("--inbox-postgresql", action="store_true",
                   help="待办查询也在 PostgreSQL 上测一遍（填充 10 万件需数分钟）")
    p.add_argument("--phase-seconds", type=float, default=None,
                   help="每个吞吐量测试最多运行的秒数（默认 20，--quick 时 6）")
    p.add_argument("--no-http", action="store_true", help="跳过 HTTP 和定时器测试")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
