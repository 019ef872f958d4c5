"""The policy holdout: a small random share of the applications the policy would not approve is
approved anyway and flagged, so the lender learns how the applicants below its cut-off really
repay (unbiased data for reject inference and for judging the next model on them).

The draw is a hash of the application id and a key, not a random generator: rescoring a date
(a rerun, a backfill) selects exactly the same applications, and no applicant can choose to be
drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

APPROVE = "approve"


def holdout_draw(application_ids: ArrayLike, key: int) -> np.ndarray:
    """A uniform number in [0, 1) per application, fixed by its id and ``key``."""
    ids = np.asarray(application_ids, dtype=object).astype(str).astype(object)
    hashed = pd.util.hash_array(ids, hash_key=f"{key:016d}"[-16:])
    return hashed.astype(np.float64) / 2.0**64


def holdout_mask(application_ids: ArrayLike, decisions: ArrayLike, share: float,
                 key: int) -> np.ndarray:
    """True for the applications not approved by the policy that the holdout approves: each
    with probability ``share`` (0: none)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"holdout share must be in [0, 1], got {share}")
    below = np.asarray(decisions, dtype=object) != APPROVE
    if share == 0.0 or not below.any():
        return np.zeros(below.shape, dtype=bool)
    return below & (holdout_draw(application_ids, key) < share)


def holdout_flags(values: pd.Series) -> pd.Series:
    """A stored ``holdout`` column as booleans (NULL, as on rows scored before the holdout
    existed, and an absent loan's NaN are False)."""
    return pd.to_numeric(values, errors="coerce").fillna(0).astype(bool)


def holdout_report(y: ArrayLike, pd_: ArrayLike, held: ArrayLike) -> dict[str, float]:
    """On a window's labelled loans: how many the holdout approved below the cut-off, their
    realised bad rate and the model's mean PD for them (NaN without any): how the applicants
    below the cut-off really repay against what the model says of them."""
    h = np.asarray(held, dtype=bool)
    n = int(h.sum())
    if n == 0:
        return {"holdout_loans": 0.0, "holdout_bad_rate": float("nan"),
                "holdout_mean_pd": float("nan")}
    return {"holdout_loans": float(n), "holdout_bad_rate": float(np.asarray(y)[h].mean()),
            "holdout_mean_pd": float(np.asarray(pd_, dtype=float)[h].mean())}
