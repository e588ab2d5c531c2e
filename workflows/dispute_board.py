"""The screening rounds' report board, its read model and the compliance view — what the round
declarations (workflows/dispute_rounds.py) plug in: `READ_MODELS` (one row per department's report
of a round, workflows/dispute_reports.py) and `BLUEPRINTS` (the board and compliance pages and
their JSON, workflows/dispute_board_pages.py). Both rounds share them: one read model (rebuilt over
the cases of both), one blueprint (registered once)."""

from __future__ import annotations

from typing import Any

from workflows import dispute_board_pages, dispute_reports

READ_MODELS: tuple[Any, ...] = (dispute_reports.READ_MODEL,)
BLUEPRINTS: tuple[Any, ...] = dispute_board_pages.BLUEPRINTS
