"""Wiring, the one composition root: the procedures of workflows/ installed (registry, script
helpers), database, runtime, diagrams of bpmn/ deployed at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service import deadlines, ledger_scripts, links, notices, procedure, script_context, search_keys
from service.config import Settings
from service.deploy import check_diagram, deploy
from service.engine import install_helpers
from service.errors import Invalid
from service.runtime import Runtime
from service.store.db import Database
from service.timers import refresh_shared

log = logging.getLogger(__name__)


def install_procedures(procedures: Any = None, organisation: Any = None) -> procedure.Registry:
    """Install the procedures (by default every one declared in workflows/) and give the script
    engine the platform's helpers and one namespace per procedure. Idempotent."""
    if procedures is None:
        import workflows

        procedures = workflows.PROCEDURES
        organisation = organisation or workflows.ORGANISATION
    registry = procedure.Registry(procedures, organisation)
    procedure.install(registry)
    install_helpers({"notify": notices.notify, "notify_open": notices.notify_open,
                     "group_keys": script_context.group_keys, "days_overdue": deadlines.days_overdue,
                     "start_linked": links.start_linked, "procedure_exists": links.procedure_exists,
                     "ledger_rows": ledger_scripts.ledger_rows,
                     **registry.helper_namespaces(deadlines.bound_helpers)})
    return registry


@dataclass
class Services:
    settings: Settings
    db: Database
    runtime: Runtime
    scheduler: Any = None


def deploy_bytes(runtime: Runtime, data: bytes | str, filename: str, user: str | None) -> dict[str, Any]:
    checked = check_diagram(data, runtime.forms, filename)
    with runtime.db.write() as session:
        keys, versions, changed = deploy(session, checked, user)
    return {"keys": keys, "versions": versions, "version": max(versions.values()), "changed": changed}


def deploy_files(runtime: Runtime, paths: list[Path], user: str | None = None) -> list[dict[str, Any]]:
    results = []
    for path in paths:
        try:
            result = deploy_bytes(runtime, path.read_bytes(), path.name, user)
        except Invalid as exc:
            raise Invalid(f"{path.name}: {exc.message}", exc.details) from exc
        results.append({"file": path.name, **result})
    return results


def build(settings: Settings | None = None, migrate: bool = True) -> Services:
    settings = settings or Settings()
    search_keys.configure(settings.secret_key)  # the key of the searchable fields' hashes
    if not procedure.registry().keys():
        install_procedures()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    runtime = Runtime(db)
    services = Services(settings=settings, db=db, runtime=runtime)
    refresh_shared(runtime)
    if settings.deploy_on_start and settings.bpmn_dir.is_dir():
        for result in deploy_files(runtime, sorted(settings.bpmn_dir.glob("*.bpmn"))):
            if result["changed"]:
                log.info("deployed %s: %s", result["file"], result["versions"])
    return services
