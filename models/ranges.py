"""Scoring values outside the training range, per feature.

A tree model extrapolates flat: beyond the largest value it was trained on, every value scores
like that largest one. A feature whose new values keep leaving the training range (a count that
grows with the book, a price level after inflation) is drifting by construction, whatever its
PSI says. ``out_of_range`` reports, for each numeric feature, the share of current values below
the training minimum or above the training maximum (missing values are not counted)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

COLUMNS = ["feature", "train_min", "train_max", "share_below", "share_above", "share_out"]


def out_of_range(reference: pd.DataFrame, current: pd.DataFrame,
                 features: Sequence[str]) -> pd.DataFrame:
    """One row per numeric feature of both frames with values on both sides: its training
    range and the shares of current values below, above and outside it."""
    rows = []
    for feature in features:
        if feature not in reference.columns or feature not in current.columns:
            continue
        if not (pd.api.types.is_numeric_dtype(reference[feature])
                and pd.api.types.is_numeric_dtype(current[feature])):
            continue
        ref = reference[feature].to_numpy(dtype=float)
        cur = current[feature].to_numpy(dtype=float)
        ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
        if not ref.size or not cur.size:
            continue
        low, high = float(ref.min()), float(ref.max())
        below, above = float(np.mean(cur < low)), float(np.mean(cur > high))
        rows.append((feature, low, high, below, above, below + above))
    return pd.DataFrame(rows, columns=COLUMNS)
