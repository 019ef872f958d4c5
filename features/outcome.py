"""What a loan's repayment tape says about its performance window, and from when it is known.

One definition serves the training label (``features.target``) and dealer history
(``features.build``), so a loan is good, bad or unknown the same way in both:

- the window closes at ``window_end(origination, months)``; its last month-end tape row is the
  one on ``month_floor(window_end)`` (months on book 1..n);
- **bad**: the loan's first bad tape month (a bucket at or past the configured bad bucket, or a
  charged-off / repossessed status: an auto loan is often repossessed at 61-90 days) is on or
  before the window end;
- **good**: not bad, and its tape either closed (paid off) within the window or reaches the
  window's last month end;
- **unobserved** (NaN): neither: the tape stops early with no closing status, or is missing. A
  missing tape is not evidence of a good loan;
- **known at**: the window's outcome is known once the window has closed and the tape month that
  decides it has arrived: the later of the window end and the arrival (``known_at``) of the
  decisive tape month (the first bad month, the closing month, or the window's last month end).
  Before the decisive month has arrived (the tape lags, or does not reach that far yet) the loan
  is immature: NaT.

``month_known`` maps each tape month end to when it arrived (its load date, or the month end plus
a configured lag): the warehouse reader builds it from the rows known by its ``as_of``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ("loan_id", "application_id", "dealer_id", "origination_date",
                   "first_bad_month", "closed_month", "last_tape_month", "window_known_at")


def as_datetime(values: pd.Series) -> pd.Series:
    """datetime64[ns]; a column already of that dtype is passed through (``pd.to_datetime`` would
    scan a million timestamps in Python to decide whether to cache)."""
    if values.dtype == "datetime64[ns]":
        return values
    return pd.to_datetime(values).astype("datetime64[ns]")


def window_end(origination: pd.Series, months: int) -> pd.Series:
    """When a loan's performance window closes: ``origination + months``, except that a loan
    originated on a month end closes on the month end ``months`` later (28 Feb 2023 -> 29 Feb
    2024), so the window always holds exactly ``months`` month-end tapes (months on book 1..n,
    month on book 1 being the first month end after origination)."""
    orig = as_datetime(origination)
    end = orig + pd.DateOffset(months=months)
    return end.where(~orig.dt.is_month_end, end + pd.offsets.MonthEnd(0))


def month_floor(ts: pd.Series) -> pd.Series:
    """The last month end on or before each timestamp (its own date if it is one)."""
    day = as_datetime(ts).dt.normalize()
    return day.where(day.dt.is_month_end, day - pd.offsets.MonthEnd(1))


def window_known_at(history: pd.DataFrame, months: int, month_known: pd.Series) -> pd.Series:
    """When each loan's window outcome became known (NaT: not yet). ``history`` needs
    origination_date, first_bad_month and closed_month; ``month_known`` is indexed by tape
    month end."""
    closes = window_end(history["origination_date"], months)
    decisive = month_floor(closes)
    for col in ("first_bad_month", "closed_month"):
        event = as_datetime(history[col])
        decisive = decisive.where(~(event < decisive), event)
    known = as_datetime(month_known.reindex(decisive.to_numpy()).reset_index(drop=True))
    known.index = history.index
    return closes.where(known.isna() | (known < closes), known).where(known.notna())


def loan_outcomes(history: pd.DataFrame, months: int) -> pd.DataFrame:
    """``known_at`` (history's ``window_known_at``) and ``bad`` (1.0 bad, 0.0 good, NaN
    unobserved) per history row, same index; see the module docstring."""
    closes = window_end(history["origination_date"], months)
    first_bad = as_datetime(history["first_bad_month"])
    closed = as_datetime(history["closed_month"])
    reach = as_datetime(history["last_tape_month"])
    is_bad = (first_bad <= closes).to_numpy()
    is_good = ~is_bad & ((closed <= closes) | (reach >= month_floor(closes))).to_numpy()
    bad = np.select([is_bad, is_good], [1.0, 0.0], default=np.nan)
    return pd.DataFrame({"known_at": as_datetime(history["window_known_at"]).to_numpy(),
                         "bad": bad}, index=history.index)
