"""Reads that change only when the repayment tape or the loan book change, cached per process.

A daily run reads the same tape-derived frames every day of a month (dealer history for
features, roll-rate transitions, vintage and early-delinquency counts): on the demo's 2.4M-row
tape each read cost 0.3-1.8 s a day. The cache key holds a cheap token of what the tables hold
up to a date ``t``: the tape rows of month ``t`` (the month end a read depends on: its arrival
changes them), the loans originated by ``t`` (late loans; counted as all rows minus the rows
after ``t``, both index-only), and the time of the latest validated tape batch (a late or
corrected tape of an earlier month, ingested through the gate). Counting every tape row up to
``t`` instead cost 50-300 ms per call on 2.4M rows. Not seen: a tape row of an earlier month
written around the gate (an UPDATE or a bulk load): reload such data through
``creditflow ingest``, or restart the process.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date
from threading import Lock
from typing import TypeVar

from sqlalchemy import Date, bindparam, text

from pipelines.warehouse.engine import Warehouse

T = TypeVar("T")
# Entries kept, least recently used dropped first. A monitored day uses about ten (outcome
# summary, dealer history, transitions, vintages, early target, loss forecast, ...): fewer
# slots than that and each day's reads evict each other in turn, every read a miss.
_SIZE = 24
_CACHE: dict[tuple[Hashable, ...], object] = {}
_LOCK = Lock()  # Prefect runs tasks in worker threads

_VERSION_SQL = text("""
SELECT (SELECT COUNT(*) FROM repayments WHERE as_of_month = :t),
       (SELECT COUNT(*) FROM loans)
     - (SELECT COUNT(*) FROM loans WHERE origination_date > :t),
       (SELECT MAX(validated_at) FROM validation_results
         WHERE suite = 'repayments' AND status <> 'rejected')
""").bindparams(bindparam("t", type_=Date))


def tape_version(wh: Warehouse, through: date) -> tuple[Hashable, ...]:
    """What the tape and the loan book hold up to ``through``, as a cache-key token."""
    with wh.engine.connect() as conn:
        return tuple(conn.execute(_VERSION_SQL, {"t": through}).one())


def cached(wh: Warehouse, name: str, through: date, args: tuple[Hashable, ...],
           load: Callable[[], T]) -> T:
    """``load()``, or its earlier result for the same warehouse, name, args and tape version.
    Callers must not modify the returned object (it is shared)."""
    key = (wh.url, name, through, args, tape_version(wh, through))
    with _LOCK:
        if key in _CACHE:  # kept as the newest: the least recently used entry goes first
            _CACHE[key] = _CACHE.pop(key)
            return _CACHE[key]  # type: ignore[return-value]
    value = load()
    with _LOCK:
        if len(_CACHE) >= _SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = value
    return value


def clear() -> None:
    """Forget every cached read (a benchmark timing a cold run, a test)."""
    with _LOCK:
        _CACHE.clear()
