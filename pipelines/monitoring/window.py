"""The monitoring window's applications, read one business date at a time and kept per process.

A daily run's window (``monitoring.window_days``, 14 by default) shares all but one date with
yesterday's; reading it whole was most of a monitoring day's read (~60 ms a day on the demo's
volumes). A date is read again when its token changes: its row count, its first and last batch
id and the latest validation time of those batches, so a late application or a batch
re-ingested through the gate is seen. Not seen: a row rewritten in place around the gate with
the same batch id (reload such data through ``creditflow ingest``, or restart the process).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date
from threading import Lock

import pandas as pd

from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import load_applications
from pipelines.warehouse.monitoring import application_tokens

_MAX_DATES = 400  # a year of windows on a few warehouses; entries are one date's rows
_CACHE: dict[tuple[str, date], tuple[tuple[Hashable, ...], pd.DataFrame]] = {}
_LOCK = Lock()  # Prefect runs tasks in worker threads


def window_applications(wh: Warehouse, start: date, end: date) -> pd.DataFrame:
    """``load_applications(wh, start, end)``: the same rows, sorted the same way."""
    frames = []
    for day, token in sorted(application_tokens(wh, start, end).items()):
        key = (wh.url, day)
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is None or hit[0] != token:
            hit = (token, load_applications(wh, day, day))
            with _LOCK:
                if len(_CACHE) >= _MAX_DATES:
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = hit
        frames.append(hit[1])
    if not frames:
        return load_applications(wh, start, end)  # empty, with the columns and dtypes
    apps = pd.concat(frames, ignore_index=True)
    return apps.sort_values(["application_ts", "application_id"], kind="stable",
                            ignore_index=True)


def clear() -> None:
    """Forget every cached date (a test reusing a database URL, a benchmark's cold run)."""
    with _LOCK:
        _CACHE.clear()
