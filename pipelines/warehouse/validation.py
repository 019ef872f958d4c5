"""The validation gate's statements: a batch's quarantined rows, its ``validation_results`` row,
and the sizes of the batches accepted before it.

Every value is a bound parameter. The writers take the connection of the caller's transaction,
so a batch's verdict lands with the batch's own rows or not at all.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection

from pipelines.warehouse.engine import Warehouse


def replace_quarantine(wh: Warehouse, batch_id: str, kind: str, rows: pd.DataFrame,
                       conn: Connection) -> None:
    """The batch's quarantine rows, replacing those of an earlier run of the same batch (a
    rerun of a batch quarantines its rows once, not twice)."""
    wh.execute("DELETE FROM quarantine WHERE batch_id = :b AND kind = :k",
               {"b": batch_id, "k": kind}, conn=conn)
    wh.upsert("quarantine", rows, conn=conn, update=False)


def write_validation_result(wh: Warehouse, row: dict[str, Any], conn: Connection) -> None:
    """The batch's ``validation_results`` row (replacing the one of an earlier run)."""
    wh.upsert("validation_results", pd.DataFrame([row]), conn=conn)


def accepted_batch_sizes(wh: Warehouse, suite: str, exclude_batch: str) -> pd.Series:
    """``rows_in`` of the batches of ``suite`` that were not rejected, newest first, leaving
    out ``exclude_batch`` and scoring's re-validations of a day already ingested (``score-*``:
    not new batches)."""
    done = wh.read("validation_results", where="suite = :s AND status <> 'rejected' "
                   "AND batch_id <> :b AND batch_id NOT LIKE :scoring",
                   params={"s": suite, "b": exclude_batch, "scoring": "score-%"},
                   columns=["rows_in", "validated_at"], order_by="validated_at DESC")
    return done["rows_in"]


def book_contract(wh: Warehouse, kind: str) -> pd.DataFrame:
    """The columns this book declared for ``kind`` (column_name, declared_by, declared_at)."""
    return wh.read("book_contract", where="kind = :k", params={"k": kind},
                   columns=["column_name", "declared_by", "declared_at"],
                   order_by="column_name")


def declare_columns(wh: Warehouse, kind: str, columns: list[str], batch_id: str,
                    declared_at: Any, conn: Connection) -> None:
    """Add columns to the book's contract; one already declared keeps its first batch."""
    rows = pd.DataFrame({"kind": kind, "column_name": columns, "declared_by": batch_id,
                         "declared_at": declared_at})
    wh.upsert("book_contract", rows, conn=conn, update=False)
