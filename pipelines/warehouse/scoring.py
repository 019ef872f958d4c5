"""Scoring's statements: the date's lock row in ``run_locks``, its runs in ``run_manifest``, the
date's application ids and the replacement of its scores.

The lock row is the first write of a scoring run's transaction: on SQLite it takes the database's
single write lock for the whole run, on PostgreSQL only that row's lock, so other dates score in
parallel. Every value is a bound parameter; the scoring stage passes the run's connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Date, bindparam, text
from sqlalchemy.exc import OperationalError

from pipelines.warehouse.engine import Warehouse

__all__ = ["KIND", "Connection", "application_ids", "day_completed", "delete_scores",
           "finish_lock", "is_lock_timeout", "manifest_rows",
           "settle_abandoned", "take_lock", "unscored_dates", "write_manifest"]

KIND = "score"  # the scoring stage's kind in run_locks and run_manifest


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite's answer to a writer that waited past the busy timeout for the write lock."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


def application_ids(wh: Warehouse, business_date: date) -> Iterator[list[str]]:
    """The date's application ids in id order, in blocks (a day never sits in memory)."""
    yield from wh.stream_column("SELECT application_id FROM applications WHERE business_date = "
                                ":d ORDER BY application_id", {"d": business_date})


def unscored_dates(wh: Warehouse, before: date, days: int) -> list[date]:
    """Dates of the ``days`` before ``before`` that have applications but no completed scoring
    run: days a failed or early run left behind, which the next daily run catches up."""
    if days < 1:
        return []
    sql = text("SELECT DISTINCT a.business_date FROM applications a WHERE a.business_date >= :lo "
               "AND a.business_date < :hi AND NOT EXISTS (SELECT 1 FROM run_locks l WHERE "
               "l.kind = :k AND l.business_date = a.business_date AND l.status = 'completed') "
               "ORDER BY a.business_date").bindparams(bindparam("lo", type_=Date),
                                                      bindparam("hi", type_=Date))
    lo = before - timedelta(days=days)
    with wh.engine.connect() as conn:
        rows = conn.execute(sql, {"lo": lo, "hi": before, "k": KIND}).scalars().all()
    return [pd.Timestamp(r).date() for r in rows]


def day_completed(wh: Warehouse, business_date: date) -> bool:
    with wh.engine.connect() as conn:
        row = conn.execute(text("SELECT status FROM run_locks WHERE kind = :k AND "
                                "business_date = :d").bindparams(bindparam("d", type_=Date)),
                           {"k": KIND, "d": business_date}).first()
    return row is not None and row[0] == "completed"


def take_lock(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> bool:
    """Write the date's lock row first: it takes the database write lock (SQLite) or the row
    lock (PostgreSQL) for the whole transaction; a second run blocks here until the first
    commits or dies. Returns False if the date is already completed."""
    wh.execute("INSERT INTO run_locks (kind, business_date, run_id, status, updated_at) "
               "VALUES (:k, :d, :r, 'running', :t) ON CONFLICT (kind, business_date) "
               "DO UPDATE SET updated_at = excluded.updated_at",
               {"k": KIND, "d": business_date, "r": run_id, "t": _now()}, conn=conn)
    status = wh.execute("SELECT status FROM run_locks WHERE kind = :k AND business_date = :d",
                        {"k": KIND, "d": business_date}, conn=conn).scalar_one()
    return status != "completed"


def settle_abandoned(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> None:
    """Holding the date's lock, any other run of the date still marked ``running`` was killed
    (a live one would hold the lock; one queued behind us rewrites its own row when it gets
    it): mark it failed with the reason instead of leaving it running for ever."""
    reason = json.dumps({"error": f"interrupted: still 'running' when run {run_id} took the "
                                  "date's lock (the process was killed)"})
    wh.execute("UPDATE run_manifest SET status = 'failed', finished_at = :t, details = :why "
               "WHERE kind = :k AND business_date = :d AND status = 'running' AND run_id <> :r",
               {"t": _now(), "why": reason, "k": KIND, "d": business_date, "r": run_id},
               conn=conn)


def delete_scores(wh: Warehouse, conn: Connection, business_date: date) -> None:
    """Drop the date's earlier scores: a forced rerun after a promotion must not leave two
    champion versions for one application."""
    wh.execute("DELETE FROM scores WHERE business_date = :d", {"d": business_date}, conn=conn)


def finish_lock(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> None:
    wh.execute("UPDATE run_locks SET status = 'completed', run_id = :r, updated_at = :t "
               "WHERE kind = :k AND business_date = :d",
               {"k": KIND, "d": business_date, "r": run_id, "t": _now()}, conn=conn)


def write_manifest(wh: Warehouse, run: dict[str, Any], conn: Connection | None = None) -> None:
    """Upsert one scoring run's manifest row. ``run`` holds run_id, business_date, status,
    model_version, counts and details (JSON-encoded here) and started_at; a run no longer
    ``running`` gets its finish time."""
    row = pd.DataFrame([{
        "run_id": run["run_id"], "kind": KIND,
        "business_date": pd.Timestamp(run["business_date"]), "status": run["status"],
        "model_version": run["model_version"], "counts": json.dumps(run["counts"]),
        "details": json.dumps(run["details"], default=str), "started_at": run["started_at"],
        "finished_at": _now() if run["status"] != "running" else None,
    }])
    wh.upsert("run_manifest", row, conn=conn)


def manifest_rows(wh: Warehouse, business_date: date) -> pd.DataFrame:
    """The run manifest of a date's scoring runs, counts and details parsed, oldest first."""
    df = wh.read("run_manifest", where="kind = :k AND business_date = :d",
                 params={"k": KIND, "d": pd.Timestamp(business_date).date()},
                 order_by="started_at")
    df["counts"] = df["counts"].map(lambda s: json.loads(s) if s else {})
    df["details"] = df["details"].map(lambda s: json.loads(s) if s else {})
    return df
