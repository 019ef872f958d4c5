"""What the benches share: the best wall time of repeated runs (the least disturbed by other
work on a shared machine). Imported by name: a bench runs as ``python bench/<name>.py``."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
