"""Statements of the loss forecast (``models.loss_forecast``): the open loans of a month end by
bucket, and the charge-offs of exactly those loans in the months after it (the back-test's
actuals). The transition counts themselves come from ``pipelines.warehouse.monitoring``."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Date, bindparam, text

from pipelines.warehouse.engine import Warehouse

_OPEN_SQL = """
SELECT dpd_bucket, COUNT(*) AS loans
FROM repayments
WHERE as_of_month = :month AND status = 'open'
GROUP BY dpd_bucket
"""

_CHARGE_OFFS_SQL = """
SELECT b.as_of_month AS as_of_month, COUNT(*) AS loans
FROM repayments AS a
JOIN repayments AS b ON b.loan_id = a.loan_id
WHERE a.as_of_month = :month AND a.status = 'open'
  AND b.as_of_month > :month AND b.as_of_month <= :last AND b.dpd_bucket = 'charge-off'
GROUP BY b.as_of_month
"""


def open_bucket_counts(wh: Warehouse, month: date) -> pd.Series:
    """Open loans per delinquency bucket on the month end's tape."""
    stmt = text(_OPEN_SQL).bindparams(bindparam("month", type_=Date))
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params={"month": month})
    return df.set_index("dpd_bucket")["loans"].astype("int64")


def cohort_charge_offs(wh: Warehouse, month: date, last: date) -> pd.Series:
    """Charge-off rows per later month end up to ``last`` of the loans open on ``month``'s
    tape, indexed by months after ``month`` (1, 2, ...)."""
    stmt = text(_CHARGE_OFFS_SQL).bindparams(bindparam("month", type_=Date),
                                            bindparam("last", type_=Date))
    with wh.engine.connect() as conn:
        df = pd.read_sql_query(stmt, conn, params={"month": month, "last": last})
    when = pd.to_datetime(df["as_of_month"], format="mixed")
    start = pd.Timestamp(month)
    ahead = (when.dt.year - start.year) * 12 + (when.dt.month - start.month)
    return pd.Series(df["loans"].astype("int64").to_numpy(), index=ahead.to_numpy())
