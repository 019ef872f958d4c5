"""The target: bad within the performance window, only for loans old enough to know.

- ``booked``: the application became a loan originated on or before ``as_of``.
- ``mature``: the window has closed by ``as_of``: ``origination_date + window_months <= as_of``
  (for a loan originated on a month end, the month end ``window_months`` later: see
  ``features.build.window_end``). A younger loan has no label yet and must not be trained or
  evaluated on as "good".
- ``bad``: 1.0 if the loan's first 90+/charge-off tape month is on or before its window end
  (with month-end tapes: within its first ``window_months`` months on book), else 0.0. NaN when
  not booked, immature, or booked and mature but with no tape row at all by ``as_of``
  (unobserved: a missing tape is not evidence of a good loan).
- Bring-your-own tapes with a final label (``known_bad`` not null) use it: booked is True and
  maturity is checked from ``application_ts + window_months <= as_of``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.build import FeatureInputError, as_datetime, window_end

log = logging.getLogger(__name__)
_HISTORY = ("application_id", "origination_date", "first_bad_month", "last_tape_month")


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
    orig = as_datetime(loans["origination_date"])
    closes = window_end(orig, window_months)
    first_bad = as_datetime(loans["first_bad_month"])
    first_bad = first_bad.where(first_bad <= as_of)  # facts after as_of are not known yet
    booked = orig.notna().to_numpy()
    mature = booked & (closes <= as_of).to_numpy()
    # A loan's tape starts at its first month end, so "has a tape row" is known long before
    # maturity and does not depend on as_of (see features.build).
    observed = as_datetime(loans["last_tape_month"]).notna().to_numpy()
    is_bad = (first_bad.notna() & (first_bad <= closes)).to_numpy()
    bad = np.where(mature & observed, is_bad.astype("float64"), np.nan)

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
