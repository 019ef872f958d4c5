"""Performance estimated from calibrated PDs alone, before any label has matured.

Confidence-based performance estimation (the idea behind NannyML's CBPE), written here: if the
PDs are calibrated, row ``i`` is a bad with probability ``p_i``. Treat it as a fractional bad of
weight ``p_i`` and a fractional good of weight ``1 - p_i``; every metric of the labelled data
then has an expected value computed from the PDs:

- expected bad rate: ``mean(p)``;
- expected AUC: ``E[#(bad, good) pairs ranked right] / E[#(bad, good) pairs]`` with
  ``E[pairs] = sum_{i != j} p_i (1 - p_j)`` (a row is never paired with itself, because it is
  either bad or good, never both), ties counting one half, as in ``models.metrics.auc``;
- expected KS: the KS distance between the expected cumulative PD distributions of bads and goods.

Both AUC and KS are ratios of expectations, not expectations of ratios; the difference is of
order 1/n and far below the sampling error of any window worth monitoring.

The estimate is only as good as the calibration: PDs that are too extreme (overconfident)
overstate the AUC, PDs that are too flat understate it, and PDs that are too low understate the
bad rate. That is the point of comparing it with realised performance once labels mature.
Conventions as in ``models.metrics``: ``p`` is a PD, higher = riskier.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from models.metrics import MetricInputError


def _pds(p: ArrayLike) -> np.ndarray:
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size == 0:
        raise MetricInputError("no PDs to estimate from")
    if np.isnan(arr).any():
        raise MetricInputError(f"PDs hold {int(np.isnan(arr).sum())} NaN values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise MetricInputError(f"PDs must lie in [0, 1]; range is [{arr.min()}, {arr.max()}]")
    return arr


def _grouped(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct PD values ascending with the expected bad and good weight at each."""
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    bad = np.add.reduceat(ps, starts)
    good = np.add.reduceat(1.0 - ps, starts)
    return ps[starts], bad, good


def expected_bad_rate(p: ArrayLike) -> float:
    return float(_pds(p).mean())


def expected_auc(p: ArrayLike) -> float:
    """AUC the labels are expected to give if ``p`` is calibrated (NaN if no pair is possible)."""
    pa = _pds(p)
    _, bad, good = _grouped(pa)
    good_below = np.cumsum(good) - good
    self_pairs = float(np.sum(pa * (1.0 - pa)))  # row i as both bad and good: impossible
    num = float(np.sum(bad * (good_below + 0.5 * good))) - 0.5 * self_pairs
    den = float(bad.sum() * good.sum()) - self_pairs
    return num / den if den > 0 else float("nan")


def expected_ks(p: ArrayLike) -> float:
    """KS between the expected cumulative PD distributions of bads and goods."""
    pa = _pds(p)
    _, bad, good = _grouped(pa)
    if bad.sum() <= 0 or good.sum() <= 0:
        return float("nan")
    gap = np.cumsum(bad) / bad.sum() - np.cumsum(good) / good.sum()
    return float(np.max(np.abs(gap)))


def auc_standard_error(auc: float, n_bad: float, n_good: float) -> float:
    """Hanley & McNeil (1982) standard error of an AUC on ``n_bad`` bads and ``n_good`` goods:
    how far a realised AUC may fall from its expectation by sampling alone."""
    if n_bad <= 0 or n_good <= 0 or math.isnan(auc):
        return float("nan")
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_bad - 1) * (q1 - auc * auc)
           + (n_good - 1) * (q2 - auc * auc)) / (n_bad * n_good)
    return float(math.sqrt(max(var, 0.0)))


def estimate_performance(p: ArrayLike) -> dict[str, float]:
    """Expected bad rate, AUC, KS and the AUC's sampling error for one window of PDs."""
    pa = _pds(p)
    n_bad = float(pa.sum())
    auc = expected_auc(pa)
    return {
        "n": float(pa.size),
        "expected_bad_rate": n_bad / pa.size,
        "expected_bads": n_bad,
        "expected_auc": auc,
        "expected_ks": expected_ks(pa),
        "expected_auc_se": auc_standard_error(auc, n_bad, pa.size - n_bad),
    }
