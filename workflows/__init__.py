"""Per-procedure domain logic, looked up by process key (the BPMN process id)."""

from __future__ import annotations

from types import ModuleType

from workflows import petition

PROCESS_MODULES: dict[str, ModuleType] = {
    petition.PROCESS_KEY: petition,
}


def module_for(process_key: str) -> ModuleType | None:
    """The module holding HELPERS, VALIDATORS, masking and numbering for a process, if any."""
    return PROCESS_MODULES.get(process_key)
