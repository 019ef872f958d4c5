"""The target: bad within the performance window, only for loans old enough to know.

- ``booked``: the application became a loan originated on or before ``as_of``.
- ``mature``: the loan's window outcome is known by ``as_of`` (``features.outcome``): the window
  has closed and the tape month that decides it has arrived. Maturity is judged against how far
  the tape reaches, not against the calendar: with the tape two months behind, the last two
  months of windows are immature, not good. A younger loan has no label yet and must not be
  trained or evaluated on as "good".
- ``bad``: 1.0 if the loan's first bad tape month (the configured bucket or worse, or a
  charged-off / repossessed status) is on or before its window end, 0.0 if its tape closed
  within the window or reaches its last month end, else NaN (unobserved: a tape that stops
  early without a closing status is not evidence of a good loan). NaN too when not booked or
  immature.
- Bring-your-own tapes with a final label (``known_bad`` not null) use it: booked is True and
  maturity is checked from ``application_ts + window_months <= as_of``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.build import FeatureInputError
from features.outcome import HISTORY_COLUMNS, as_datetime, loan_outcomes

log = logging.getLogger(__name__)
_HISTORY = HISTORY_COLUMNS[1:]


def _check(applications: pd.DataFrame, history: pd.DataFrame, window_months: int) -> None:
    if window_months < 1:
        raise ValueError(f"window_months must be at least 1, got {window_months}")
    for col in ("application_id", "application_ts"):
        if col not in applications.columns:
            raise FeatureInputError(f"applications lack the required column '{col}'")
    if applications["application_id"].duplicated().any():
        dup = applications["application_id"][applications["application_id"].duplicated()]
        raise FeatureInputError(f"applications: application_id {dup.iloc[0]!r} occurs more "
                                "than once")
    missing = [c for c in _HISTORY if c not in history.columns]
    if missing:
        raise FeatureInputError(f"history lacks column(s) {', '.join(missing)}")
    booked_twice = history["application_id"][history["application_id"].duplicated()]
    if len(booked_twice):
        raise FeatureInputError(f"history: application_id {booked_twice.iloc[0]!r} has more than "
                                "one loan")


def label_applications(applications: pd.DataFrame, history: pd.DataFrame, as_of: pd.Timestamp,
                       window_months: int) -> pd.DataFrame:
    """``booked``, ``mature`` and ``bad`` per application, indexed by application_id in input
    order (see the module docstring for the definitions)."""
    _check(applications, history, window_months)
    as_of = pd.Timestamp(as_of)
    h = history.loc[as_datetime(history["origination_date"]) <= as_of, list(_HISTORY)]
    loans = pd.DataFrame({"application_id": applications["application_id"].to_numpy()}).merge(
        h, on="application_id", how="left", validate="one_to_one")
    outcome = loan_outcomes(loans, window_months)
    booked = as_datetime(loans["origination_date"]).notna().to_numpy()
    mature = booked & (outcome["known_at"] <= as_of).to_numpy()
    bad = np.where(mature, outcome["bad"].to_numpy(), np.nan)

    if "known_bad" in applications.columns:
        known = pd.to_numeric(applications["known_bad"], errors="coerce").to_numpy(dtype="float64")
        has = ~np.isnan(known)
        ts = as_datetime(applications["application_ts"])
        ripe = (ts + pd.DateOffset(months=window_months) <= as_of).to_numpy()
        booked = np.where(has, True, booked)
        mature = np.where(has, ripe, mature)
        bad = np.where(has, np.where(ripe, known, np.nan), bad)

    labels = pd.DataFrame({"booked": booked.astype(bool), "mature": mature.astype(bool),
                           "bad": bad.astype("float64")},
                          index=pd.Index(applications["application_id"].to_numpy(),
                                         name="application_id"))
    log.info("labels as of %s (window %d months): %s", as_of.date(), window_months,
             maturity_summary(labels))
    return labels


def maturity_summary(labels: pd.DataFrame) -> dict[str, int | float]:
    """Counts behind a training set: how many applications were booked, how many of those are
    mature (labelled), immature (excluded) or mature but unobserved (no tape, excluded), the bads
    and the bad rate over the labelled loans (NaN when none is labelled)."""
    booked = labels["booked"].to_numpy(dtype=bool)
    mature = booked & labels["mature"].to_numpy(dtype=bool)
    labelled = labels["bad"].notna().to_numpy()
    bads = int((labels["bad"] == 1.0).sum())
    n_labelled = int(labelled.sum())
    return {
        "applications": len(labels),
        "booked": int(booked.sum()),
        "mature": int(mature.sum()),
        "immature": int((booked & ~mature).sum()),
        "unobserved": int((mature & ~labelled).sum()),
        "labelled": n_labelled,
        "bad": bads,
        "bad_rate": bads / n_labelled if n_labelled else float("nan"),
    }
