"""Wiring, the one composition root: the procedures of workflows/ installed (registry, script
helpers), database, runtime, diagrams of bpmn/ deployed at start-up."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from service import deadlines, keyring, ledger_scripts, links, notices, procedure, script_context, search_keys
from service.config import Settings
from service.deploy import (
    check_diagram,
    deploy,
    executable_keys,
    group_members,
    known_version,
    resolve_forms,
    safe_parse,
)
from service.engine import install_helpers
from service.errors import Invalid
from service.form_versions import current_forms
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


MAX_COMMENT = 1000
NO_ORGANISATION = "尚未建立组织机构（没有任何组），未检查办理组"


def _comment(comment: str | None) -> str | None:
    """The deployer's 版本说明, stored with each new version (blank: none)."""
    text = comment.strip() if isinstance(comment, str) else ""
    if len(text) > MAX_COMMENT:
        message = f"版本说明不能超过 {MAX_COMMENT} 字"
        raise Invalid(message, [{"line": None, "element_id": None, "name": None, "message": message, "level": "error"}])
    return text or None


def _result(keys: list[str], versions: dict[str, int], changed: bool, warnings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"keys": keys, "versions": versions, "version": max(versions.values()), "changed": changed,
            "warnings": warnings}


def deploy_bytes(runtime: Runtime, data: bytes | str, filename: str, user: str | None, *,
                 comment: str | None = None, form_overrides: Mapping[str, dict[str, Any]] | None = None,
                 skip_known: bool = False, repo_forms: bool = False) -> dict[str, Any]:
    """Check and deploy one diagram with the forms it names: the override if given, else the
    procedure's current form (its latest version's snapshot, else the file) — with `repo_forms`
    (a deploy of the repository's files) the file first. The groups are the database's (none
    yet: not checked, a warning says so). `skip_known`: a diagram whose content equals any
    earlier version of its key is not deployed again, nor checked."""
    comment = _comment(comment)
    root = safe_parse(data)
    with runtime.db.read() as session:
        groups: dict[str, int] | None = group_members(session)
        available: dict[str, dict[str, Any]] = {}
        for key in executable_keys(root):
            available.update(current_forms(session, key, runtime.forms))
        if repo_forms:
            available.update(runtime.forms.schemas())
        if skip_known:
            known = _known(session, root, runtime, form_overrides, available)
            if known is not None:
                return _result(list(known), known, False, [])
    warnings = [] if groups else [{"line": None, "element_id": None, "name": None, "message": NO_ORGANISATION,
                                   "level": "warning"}]
    checked = check_diagram(data, runtime.forms, filename, groups=groups or None, form_overrides=form_overrides,
                            process_forms=available)
    with runtime.db.write() as session:
        keys, versions, changed = deploy(session, checked, user, comment=comment, skip_known=skip_known)
    return _result(keys, versions, changed, checked.warnings + warnings)


def _known(session: Any, root: Any, runtime: Runtime, overrides: Mapping[str, dict[str, Any]] | None,
           available: Mapping[str, dict[str, Any]]) -> dict[str, int] | None:
    """The versions this diagram already is, when every process of it is one (else None)."""
    resolved = resolve_forms(root, runtime.forms, overrides, available)
    forms = {key: schema for key, schema in resolved.items() if schema is not None}
    keys = executable_keys(root)
    if not keys or len(forms) != len(resolved):
        return None
    xml = etree.tostring(root, encoding="unicode")
    found: dict[str, int] = {}
    for key in keys:
        version = known_version(session, key, xml, forms, any_version=True)
        if version is None:
            return None
        found[key] = version
    return found


def deploy_files(runtime: Runtime, paths: list[Path], user: str | None = None, *, comment: str | None = None,
                 skip_known: bool = False) -> list[dict[str, Any]]:
    """Deploy the repository's diagram files (start-up, `govflow deploy`), with forms/ as the forms."""
    results = []
    for path in paths:
        try:
            result = deploy_bytes(runtime, path.read_bytes(), path.name, user, comment=comment,
                                  skip_known=skip_known, repo_forms=True)
        except Invalid as exc:
            raise Invalid(f"{path.name}: {exc.message}", exc.details) from exc
        results.append({"file": path.name, **result})
    return results


def build(settings: Settings | None = None, migrate: bool = True) -> Services:
    settings = settings or Settings()
    search_keys.configure(settings.secret_key)  # the key of the searchable fields' hashes
    keyring.configure(settings)  # the sealing keys: a bad key file stops here; a first start makes one
    if not procedure.registry().keys():
        install_procedures()
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    runtime = Runtime(db)
    services = Services(settings=settings, db=db, runtime=runtime)
    refresh_shared(runtime)
    if settings.deploy_on_start and settings.bpmn_dir.is_dir():
        # skip_known: a version deployed in the browser survives the restart
        for result in deploy_files(runtime, sorted(settings.bpmn_dir.glob("*.bpmn")), skip_known=True):
            if result["changed"]:
                log.info("deployed %s: %s", result["file"], result["versions"])
            for warning in result["warnings"]:
                log.warning("%s [%s]: %s", result["file"], warning["element_id"] or "-", warning["message"])
    return services
