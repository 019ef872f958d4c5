"""Statements of the collections roll-forward model and its queue: the tape rows of the loans
delinquent on some month end of a range (with the months before and the month after them), their
origination terms, and the ``collections_queue`` table (one month end rewritten whole in one
transaction: a rerun leaves the same rows).

A tape row is read only if known by ``as_of``: its load date, or (none recorded) its month end
plus the tape lag, as every label reader does (``pipelines.warehouse.history``); the frame's
``known_at`` is that time, filled, so ``features.roll`` can date each month's arrival.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Date, TextClause, bindparam, text

from features.roll import DELINQUENT_BUCKETS
from pipelines.warehouse.engine import Warehouse

_KNOWN = "(r.known_at <= :as_of OR (r.known_at IS NULL AND r.as_of_month <= :lag_cut))"
# the loans open and delinquent on a month end of [:first, :last], as the tape known by as_of
_DELINQUENT = f"""
SELECT DISTINCT r.loan_id FROM repayments AS r
WHERE r.as_of_month >= :first AND r.as_of_month <= :last AND r.status = 'open'
  AND r.dpd_bucket IN :delinquent AND {_KNOWN}
"""
_TAPE_SQL = f"""
SELECT r.loan_id, r.as_of_month, r.months_on_book, r.dpd_bucket, r.balance, r.status,
       r.known_at
FROM repayments AS r
WHERE r.as_of_month >= :from_month AND r.as_of_month <= :to_month AND {_KNOWN}
  AND r.loan_id IN ({_DELINQUENT})
"""
_LOANS_SQL = f"""
SELECT l.loan_id, l.loan_amount, l.term_months, l.interest_rate, l.monthly_payment,
       a.bureau_score, a.vehicle_price, a.annual_income, a.delinquencies_2y
FROM loans AS l LEFT JOIN applications AS a ON a.application_id = l.application_id
WHERE l.loan_id IN ({_DELINQUENT})
"""
_QUEUE_MONTHS_SQL = "SELECT DISTINCT month_end FROM collections_queue ORDER BY month_end"
_QUEUE_SQL = "SELECT * FROM collections_queue WHERE month_end = :month ORDER BY queue_rank"
_DELETE_SQL = "DELETE FROM collections_queue WHERE month_end = :month"
_DATES = ("as_of", "lag_cut", "first", "last", "from_month", "to_month", "month")


def _stmt(sql: str) -> TextClause:
    binds = [bindparam(p, type_=Date) for p in _DATES if f":{p}" in sql]
    if ":delinquent" in sql:
        binds.append(bindparam("delinquent", expanding=True))
    return text(sql).bindparams(*binds)


def roll_tape(wh: Warehouse, first: date, last: date, history_months: int, as_of: date,
              lag_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(tape rows, loan terms and application figures) of the loans open and delinquent on a
    month end of [first, last]: their rows from ``history_months - 1`` month ends before
    ``first`` to the month end after ``last``, known by ``as_of``."""
    day = pd.Timestamp(as_of).date()
    params = {"as_of": day, "lag_cut": day - timedelta(days=lag_days), "first": first,
              "last": last, "delinquent": list(DELINQUENT_BUCKETS),
              "from_month": (pd.Timestamp(first)
                             - pd.offsets.MonthEnd(max(history_months - 1, 0))).date(),
              "to_month": (pd.Timestamp(last) + pd.offsets.MonthEnd(1)).date()}
    with wh.engine.connect() as conn:
        tape = pd.read_sql_query(_stmt(_TAPE_SQL), conn, params=params)
        loans = pd.read_sql_query(_stmt(_LOANS_SQL), conn,
                                  params={k: params[k] for k in
                                          ("as_of", "lag_cut", "first", "last", "delinquent")})
    month = pd.to_datetime(tape["as_of_month"], format="mixed").astype("datetime64[ns]")
    known = pd.to_datetime(tape["known_at"], format="mixed").astype("datetime64[ns]")
    tape["as_of_month"] = month
    tape["known_at"] = known.fillna(month + pd.Timedelta(days=lag_days))
    tape["loan_id"] = tape["loan_id"].astype(str)
    loans["loan_id"] = loans["loan_id"].astype(str)
    return tape, loans


def write_queue(wh: Warehouse, month_end: date, queue: pd.DataFrame) -> int:
    """Replace the month end's queue with ``queue`` in one transaction."""
    rows = queue.assign(month_end=month_end)
    with wh.begin() as conn:
        conn.execute(_stmt(_DELETE_SQL), {"month": month_end})
        wh.upsert("collections_queue", rows, conn=conn)
    return len(rows)


def read_queue(wh: Warehouse, month_end: date) -> pd.DataFrame:
    """The month end's queue, by rank (empty when none was built)."""
    with wh.engine.connect() as conn:
        return pd.read_sql_query(_stmt(_QUEUE_SQL), conn, params={"month": month_end})


def queue_months(wh: Warehouse) -> list[date]:
    """The month ends a queue was built for, oldest first."""
    with wh.engine.connect() as conn:
        months = conn.execute(text(_QUEUE_MONTHS_SQL)).scalars().all()
    return [pd.Timestamp(m).date() for m in months]


_LATEST_SQL = f"SELECT MAX(r.as_of_month) FROM repayments AS r WHERE {_KNOWN}"


def latest_tape_month(wh: Warehouse, as_of: date, lag_days: int) -> date | None:
    """The newest tape month end with a row known by ``as_of`` (None: no tape yet)."""
    day = pd.Timestamp(as_of).date()
    with wh.engine.connect() as conn:
        month = conn.execute(_stmt(_LATEST_SQL), {
            "as_of": day, "lag_cut": day - timedelta(days=lag_days)}).scalar()
    return None if month is None else pd.Timestamp(month).date()


_TOKEN_SQL = ("SELECT COUNT(*), SUM(roll_probability), MAX(model_version) "
              "FROM collections_queue WHERE month_end = :month")


def queue_token(wh: Warehouse, month_end: date) -> tuple:
    """A cheap token of what the month end's queue holds (rows, probability sum, version): a
    cache key that changes when the queue is rebuilt differently."""
    with wh.engine.connect() as conn:
        return tuple(conn.execute(_stmt(_TOKEN_SQL), {"month": month_end}).one())
