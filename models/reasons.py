"""Reason codes: the features pushing one applicant's risk up, from XGBoost ``pred_contribs``.

Contributions are in margin (log-odds) units, one column per feature (a categorical feature is one
column, not one per level) plus the bias as the last column; exact contributions of a row sum to its
margin. Approximate contributions (``approx_contribs``, Saabas-style) cost far less but can rank
features differently; ``reason_agreement`` measures how often that matters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xgboost as xgb


def contributions(booster: xgb.Booster, X: pd.DataFrame, approx: bool) -> np.ndarray:
    """(n, n_features + 1) contributions to the margin; the last column is the bias."""
    dmat = xgb.DMatrix(X, enable_categorical=True)
    return booster.predict(dmat, pred_contribs=True, approx_contribs=approx)


def top_reasons(contribs: np.ndarray, feature_names: list[str], k: int) -> np.ndarray:
    """(n, k) object array: per row the k features with the largest POSITIVE contribution (risk
    up), largest first; None where fewer than k contributions are positive. A bias column (one more
    column than names) is ignored. Ties keep the feature order."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_feat = len(feature_names)
    if contribs.ndim != 2 or contribs.shape[1] not in (n_feat, n_feat + 1):
        raise ValueError(f"contributions of shape {contribs.shape} do not match "
                         f"{n_feat} feature names")
    values = contribs[:, :n_feat]
    take = min(k, n_feat)
    order = np.argsort(-values, axis=1, kind="stable")[:, :take]
    top = np.take_along_axis(values, order, axis=1)
    names = np.asarray(feature_names, dtype=object)[order]
    names[~(top > 0)] = None
    if take < k:
        names = np.hstack([names, np.full((len(names), k - take), None, dtype=object)])
    return names


def reason_texts(codes: np.ndarray, texts: Mapping[str, str]) -> np.ndarray:
    """Readable texts for reason codes (feature names); a feature without a text keeps its name."""
    lookup = np.vectorize(lambda c: None if c is None else texts.get(c, c), otypes=[object])
    return lookup(codes) if codes.size else codes.astype(object)


def _timed(booster: xgb.Booster, X: pd.DataFrame, approx: bool) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = contributions(booster, X, approx)
    return out, time.perf_counter() - t0


def agreement_stats(exact: np.ndarray, approx: np.ndarray, feature_names: list[str],
                    k: int) -> dict[str, float]:
    """Agreement of top-k reasons from two contribution matrices of the same rows."""
    top_e, top_a = top_reasons(exact, feature_names, k), top_reasons(approx, feature_names, k)
    as_sets = np.frompyfunc(lambda *row: frozenset(r for r in row if r is not None), k, 1)
    same_set = as_sets(*top_e.T) == as_sets(*top_a.T)
    return {
        "rows": float(len(exact)),
        "k": float(k),
        "topk_set_agreement": float(np.mean(same_set)),
        "topk_ordered_agreement": float(np.mean(np.all(top_e == top_a, axis=1))),
        "top1_agreement": float(np.mean(top_e[:, 0] == top_a[:, 0])),
    }


def reason_agreement(booster: xgb.Booster, X: pd.DataFrame, k: int) -> dict[str, float]:
    """How far approximate top-k reasons can stand in for exact ones, on these rows.

    topk_set_agreement: share of rows whose approximate top-k SET equals the exact one (order
    ignored, missing slots included); topk_ordered_agreement: same, order included;
    top1_agreement: share whose first reason agrees; exact_ms_per_1000 / approx_ms_per_1000:
    wall time per 1000 rows of each.
    """
    if len(X) == 0:
        raise ValueError("reason_agreement needs at least one row")
    exact, t_exact = _timed(booster, X, approx=False)
    approx, t_approx = _timed(booster, X, approx=True)
    out = agreement_stats(exact, approx, list(X.columns), k)
    per_1000 = 1000.0 / len(X) * 1000.0
    out["exact_ms_per_1000"] = t_exact * per_1000
    out["approx_ms_per_1000"] = t_approx * per_1000
    return out
