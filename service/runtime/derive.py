"""Derived keys: what a procedure adds to a step's submitted data once its form and validator
passed (`Procedure.derive`), e.g. the groups a case goes to from the groups of who registers it.

Applied by the commands before the engine runs, so the added keys are part of the step: in the
workflow data and in the history row's `data_after` (read models see them). A deriver may refuse
with `service.errors.Invalid` (422); nothing has been written by then."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from service import procedure
from service.errors import EngineFailure, GovFlowError
from service.runtime.step import _check_keys

log = logging.getLogger(__name__)

START = "start"  # the key of the start's deriver (a task's is its bpmn id)


def derive_keys(process_key: str, bpmn_id: str, data: dict[str, Any], instance: Mapping[str, Any],
          actor_groups: frozenset[str]) -> dict[str, Any]:
    """`data` with the keys the procedure derives for this step (they win over submitted ones:
    a derived key is the rule's, not the user's); `data` itself when nothing is declared."""
    declared = procedure.get(process_key)
    deriver = declared.derive.get(bpmn_id) if declared is not None else None
    if deriver is None:
        return data
    try:
        added = deriver(dict(data), dict(instance), frozenset(actor_groups))
    except GovFlowError:
        raise
    except Exception as exc:  # noqa: BLE001 - a procedure's rule may raise anything
        log.exception("deriver %s.%s failed", process_key, bpmn_id)
        raise EngineFailure(f"流程规则执行出错，未做任何更改：{exc}") from exc
    if not isinstance(added, Mapping):
        raise EngineFailure(f"流程规则 {process_key}.{bpmn_id} 未返回字段表，未做任何更改")
    added = dict(added)
    _check_keys(added)
    return {**data, **added} if added else data
