"""The book's charge-offs over the next months, projected from migration (roll) rates, and the
back-test of such a projection against what the tape later showed.

A Markov chain on the delinquency buckets: the open loans of a month end, by bucket, are moved
one month at a time by the trailing roll-rate matrix (transitions of the last ``months`` month
ends pooled: rows from-bucket, columns to-bucket, each row summing to 1); charge-off is
absorbing, so the share arriving there each month is that month's expected charge-offs. The
projection covers the loans open at the month end, not loans booked later; a paid-off loan's
last tape row reads "current" (``pipelines.monitoring.portfolio``), so the chain keeps pay-offs
as current loans that can still roll: a small overstatement the back-test measures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BUCKETS = ["current", "1-30", "31-60", "61-90", "90+", "charge-off"]
CHARGE_OFF = "charge-off"
FORECAST_COLUMNS = ["month", "charge_offs", "cumulative"]


def trailing_matrix(counts: pd.DataFrame, last_from: pd.Timestamp, months: int) -> pd.DataFrame:
    """Roll rates pooled over the transitions from the ``months`` month ends ending at
    ``last_from`` (``counts``: as_of_month, from_bucket, to_bucket, loans); rows and columns
    ``BUCKETS``. Charge-off is absorbing; a bucket no loan was in stays put (no evidence of a
    roll is not a roll)."""
    first = pd.Timestamp(last_from) - pd.offsets.MonthEnd(months - 1)
    when = pd.to_datetime(counts["as_of_month"])
    sub = counts[(when >= first) & (when <= pd.Timestamp(last_from))]
    table = (sub.pivot_table(index="from_bucket", columns="to_bucket", values="loans",
                             aggfunc="sum", fill_value=0)
             .reindex(index=BUCKETS, columns=BUCKETS, fill_value=0).astype(float))
    table.loc[CHARGE_OFF] = 0.0
    totals = table.sum(axis=1)
    matrix = table.div(totals.where(totals > 0), axis=0)
    for bucket in BUCKETS:
        if totals[bucket] == 0:
            matrix.loc[bucket] = (np.array(BUCKETS) == bucket).astype(float)
    return matrix


def project_charge_offs(distribution: pd.Series, matrix: pd.DataFrame,
                        horizon: int = 6) -> pd.DataFrame:
    """Expected new charge-offs in each of the next ``horizon`` months (and cumulated) of the
    loans in ``distribution`` (loans per bucket at the month end; charge-off ignored: those are
    already lost)."""
    state = distribution.reindex(BUCKETS, fill_value=0).astype(float).to_numpy()
    state[BUCKETS.index(CHARGE_OFF)] = 0.0
    p = matrix.reindex(index=BUCKETS, columns=BUCKETS).to_numpy(dtype=float)
    lost, out = 0.0, []
    for month in range(1, horizon + 1):
        state = state @ p
        new = state[BUCKETS.index(CHARGE_OFF)] - lost
        lost += new
        out.append((month, new, lost))
    return pd.DataFrame(out, columns=FORECAST_COLUMNS)


def backtest(forecast: pd.DataFrame, actual: pd.Series) -> pd.DataFrame:
    """The projection beside what happened: ``actual`` is the charge-offs per month ahead
    (index 1..horizon; a month absent had none). Adds actual, actual_cumulative and the
    cumulative ratio forecast / actual (NaN while nothing was charged off)."""
    out = forecast.copy()
    out["actual"] = actual.reindex(out["month"], fill_value=0).to_numpy(dtype=float)
    out["actual_cumulative"] = out["actual"].cumsum()
    out["ratio"] = out["cumulative"] / out["actual_cumulative"].where(
        out["actual_cumulative"] > 0)
    return out
