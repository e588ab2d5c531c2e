"""What every phase of the bench shares: the progress line on stderr, percentiles and rounding,
and the rule that ends a throughput phase (a count of petitions or a time budget)."""

from __future__ import annotations

import sys
import time

_T0 = time.perf_counter()


def _progress(message: str) -> None:
    print(f"[bench {time.perf_counter() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _enough(done: int, count: int, began: float, budget: float, minimum: int = 5) -> bool:
    """A phase stops at `count` petitions, or when its time budget is spent (after a minimum)."""
    return done >= count or (done >= min(minimum, count) and time.perf_counter() - began > budget)
