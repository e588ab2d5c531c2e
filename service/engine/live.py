"""Workflows kept in memory between steps.

Restoring a case's state costs more than running its step. A process keeps the workflow
it has just saved, under the instance id and the version it saved it as; the next command on
that instance reuses it only if the database still holds that version (another node or worker
may have moved the instance on; then the state is loaded from the database as usual). A command
takes the workflow out while it works on it, so two threads never share one, and puts it back
only after its transaction committed — a failed step never leaves a half-run workflow behind."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from SpiffWorkflow.bpmn import BpmnWorkflow

DEFAULT_SIZE = 512


class LiveWorkflows:
    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else int(os.environ.get("GOVFLOW_LIVE_WORKFLOWS", DEFAULT_SIZE))
        self._items: OrderedDict[int, tuple[int, str, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, instance_id: int, version: int, business_key: str) -> BpmnWorkflow | None:
        """The workflow saved as `version` of the instance, removed from the cache; else None.
        The business key must match too: it is never reused, an id could be (a restored backup)."""
        with self._lock:
            item = self._items.pop(instance_id, None)
            if item is not None and item[0] == version and item[1] == business_key:
                self.hits += 1
                return item[2]
            self.misses += 1
            return None

    def put(self, instance_id: int, version: int, business_key: str, wf: BpmnWorkflow) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[instance_id] = (version, business_key, wf)
            self._items.move_to_end(instance_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, instance_id: int) -> None:
        with self._lock:
            self._items.pop(instance_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
