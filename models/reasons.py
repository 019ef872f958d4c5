"""Reason codes: the features pushing one applicant's risk up, from XGBoost ``pred_contribs``.

Contributions are in margin (log-odds) units, one column per feature (a categorical feature is one
column, not one per level) plus the bias as the last column; exact contributions of a row sum to its
margin. Approximate contributions (``approx_contribs``, Saabas-style) cost far less but can rank
features differently; ``reason_agreement`` measures how often that matters.

``top_codes`` turns contributions into the codes of the reason-code table
(``models.reason_table``): a code weighs the risk its features *added* (positive contributions
only), so a code is named only if one of its features raised the risk, never for a feature that
lowered it; features no code covers (a policy output, a prohibited basis) are never named.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xgboost as xgb

from models.reason_table import ReasonTable


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


def top_codes(contribs: np.ndarray, feature_names: list[str], table: ReasonTable,
              k: int) -> np.ndarray:
    """(n, k) object array of reason codes: per row the k codes whose features added the most
    risk, largest first; None where fewer than k codes have a feature that raised the risk."""
    n_feat = len(feature_names)
    if contribs.ndim != 2 or contribs.shape[1] not in (n_feat, n_feat + 1):
        raise ValueError(f"contributions of shape {contribs.shape} do not match "
                         f"{n_feat} feature names")
    code_of = table.code_of()
    codes = [c.code for c in table.codes if any(f in feature_names for f in c.features)]
    if not codes:
        return np.full((len(contribs), k), None, dtype=object)
    member = np.zeros((n_feat, len(codes)))
    for j, feature in enumerate(feature_names):
        if feature in code_of:
            member[j, codes.index(code_of[feature])] = 1.0
    added = np.clip(contribs[:, :n_feat], 0.0, None) @ member
    return top_reasons(added, codes, k)


def agreement(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Share of rows whose first reason agrees (``top1``) and whose top-k set agrees (``topk``,
    order ignored, empty slots included) between two (n, k) reason arrays of the same rows."""
    if len(first) == 0:
        return {"rows": 0.0, "top1": float("nan"), "topk": float("nan")}
    k = first.shape[1]
    as_sets = np.frompyfunc(lambda *row: frozenset(r for r in row if r is not None), k, 1)
    return {"rows": float(len(first)), "top1": float(np.mean(first[:, 0] == second[:, 0])),
            "topk": float(np.mean(as_sets(*first.T) == as_sets(*second.T)))}


def reason_texts(codes: np.ndarray, texts: Mapping[str, str]) -> np.ndarray:
    """Readable texts for reason codes (feature names); a feature without a text keeps its name."""
    lookup = np.vectorize(lambda c: None if c is None else texts.get(c, c), otypes=[object])
    return lookup(codes) if codes.size else codes.astype(object)


def timed_contributions(booster: xgb.Booster, X: pd.DataFrame,
                        approx: bool) -> tuple[np.ndarray, float]:
    """Contributions and the seconds they took."""
    t0 = time.perf_counter()
    out = contributions(booster, X, approx)
    return out, time.perf_counter() - t0


def agreement_stats(exact: np.ndarray, approx: np.ndarray, feature_names: list[str],
                    k: int) -> dict[str, float]:
    """Agreement of top-k reasons from two contribution matrices of the same rows."""
    top_e, top_a = top_reasons(exact, feature_names, k), top_reasons(approx, feature_names, k)
    agree = agreement(top_e, top_a)
    return {
        "rows": float(len(exact)),
        "k": float(k),
        "topk_set_agreement": agree["topk"],
        "topk_ordered_agreement": float(np.mean(np.all(top_e == top_a, axis=1))),
        "top1_agreement": agree["top1"],
    }


def reason_agreement(booster: xgb.Booster, X: pd.DataFrame, k: int,
                     exact: tuple[np.ndarray, float] | None = None) -> dict[str, float]:
    """How far approximate top-k reasons can stand in for exact ones, on these rows (``exact``:
    their exact contributions and seconds, when the caller has them already).

    topk_set_agreement: share of rows whose approximate top-k SET equals the exact one (order
    ignored, missing slots included); topk_ordered_agreement: same, order included;
    top1_agreement: share whose first reason agrees; exact_ms_per_1000 / approx_ms_per_1000:
    wall time per 1000 rows of each.
    """
    if len(X) == 0:
        raise ValueError("reason_agreement needs at least one row")
    exact_values, t_exact = exact or timed_contributions(booster, X, approx=False)
    approx, t_approx = timed_contributions(booster, X, approx=True)
    out = agreement_stats(exact_values, approx, list(X.columns), k)
    per_1000 = 1000.0 / len(X) * 1000.0
    out["exact_ms_per_1000"] = t_exact * per_1000
    out["approx_ms_per_1000"] = t_approx * per_1000
    return out
