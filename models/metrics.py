"""Credit-risk metrics: one module for training, promotion and monitoring.

Conventions used throughout:
- ``y`` is 1 for a bad (default) and 0 for a good; ``p`` is a PD (higher = riskier).
- ``score`` is points (higher = safer, see ``models.scaling``).
- Everything is vectorised numpy; inputs may be lists, arrays or pandas Series (index ignored).
- Bad inputs (length mismatch, NaN, labels other than 0/1, PD outside [0, 1]) raise
  ``MetricInputError``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


class MetricInputError(ValueError):
    """A metric was given inputs it cannot be computed on; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# input checks


def _labels(y: ArrayLike, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=float).ravel()
    if np.isnan(arr).any():
        raise MetricInputError(f"{name} holds {int(np.isnan(arr).sum())} NaN labels")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise MetricInputError(f"{name} must be 0/1; found e.g. {arr[bad][0]!r}")
    return arr


def _probs(p: ArrayLike, name: str = "p") -> np.ndarray:
    arr = np.asarray(p, dtype=float).ravel()
    if np.isnan(arr).any():
        raise MetricInputError(f"{name} holds {int(np.isnan(arr).sum())} NaN values")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise MetricInputError(f"{name} must lie in [0, 1]; range is [{arr.min()}, {arr.max()}]")
    return arr


def _pair(y: ArrayLike, p: ArrayLike, check_p: bool = True) -> tuple[np.ndarray, np.ndarray]:
    ya = _labels(y)
    pa = _probs(p) if check_p else np.asarray(p, dtype=float).ravel()
    if ya.shape != pa.shape:
        raise MetricInputError(f"y has {ya.size} rows but p has {pa.size}")
    if ya.size == 0:
        raise MetricInputError("no rows")
    return ya, pa


def _both_classes(y: np.ndarray, metric: str) -> None:
    n_bad = int(y.sum())
    if n_bad == 0 or n_bad == y.size:
        raise MetricInputError(f"{metric} needs goods and bads; got {n_bad} bads in {y.size} rows")


# ---------------------------------------------------------------------------------------------
# discrimination


def auc(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    ya, pa = _pair(y, p, check_p=False)
    _both_classes(ya, "AUC")
    return float(_weighted_auc(ya, pa, np.ones((1, ya.size)))[0])


def _weighted_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC for each row of ``weights`` (row counts, e.g. bootstrap multiplicities), shape (b,).

    Sorts once and aggregates weights per distinct PD value, so each weight row costs O(n):
    AUC = sum_v P_v * (N_below_v + N_v / 2) / (P * N) with P_v, N_v the bad/good weight at value v.
    """
    order = np.argsort(p, kind="mergesort")
    ps, ys = p[order], y[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    w = weights[:, order]
    pos = np.add.reduceat(np.where(ys, w, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(ys, 0.0, w), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def gini(y: ArrayLike, p: ArrayLike) -> float:
    """Gini coefficient (accuracy ratio): 2 * AUC - 1."""
    return 2.0 * auc(y, p) - 1.0


def ks(y: ArrayLike, p: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the cumulative PD distributions of
    bads and goods, evaluated at every distinct PD (the same statistic as scipy's ks_2samp)."""
    ya, pa = _pair(y, p, check_p=False)
    _both_classes(ya, "KS")
    order = np.argsort(pa, kind="mergesort")
    ps, ys = pa[order], ya[order]
    # Evaluate only at the last row of each run of tied values, so ties never split.
    last = np.r_[ps[1:] != ps[:-1], True]
    cdf_bad = np.cumsum(ys)[last] / ys.sum()
    cdf_good = np.cumsum(1.0 - ys)[last] / (ys.size - ys.sum())
    return float(np.max(np.abs(cdf_bad - cdf_good)))


# ---------------------------------------------------------------------------------------------
# calibration and accuracy


def brier(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error of the PD against the 0/1 outcome."""
    ya, pa = _pair(y, p)
    return float(np.mean((pa - ya) ** 2))


def log_loss(y: ArrayLike, p: ArrayLike, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood; PDs clipped to [eps, 1 - eps] so a 0 or 1 PD stays finite."""
    ya, pa = _pair(y, p)
    pc = np.clip(pa, eps, 1.0 - eps)
    return float(-np.mean(ya * np.log(pc) + (1.0 - ya) * np.log1p(-pc)))


def quantile_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Equal-frequency bin index (0 = lowest PD) for each value.

    Edges are the PD quantiles; tied PDs always share a bin (the bin is a function of the PD alone,
    not of row order), so with heavy ties (e.g. isotonic output) fewer than ``bins`` bins result and
    their sizes are only approximately equal.
    """
    if bins < 1:
        raise MetricInputError(f"bins must be >= 1, got {bins}")
    inner = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return np.searchsorted(inner, p, side="right")


def ece(y: ArrayLike, p: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error: sum over bins of (bin share) * |bad rate - mean PD|.

    Bins are equal-frequency (PD quantiles, see ``quantile_bins``) rather than equal-width: credit
    PDs crowd into the bottom few percent, so equal-width bins would put almost every row in one bin
    and hide miscalibration where the book actually is.
    """
    ya, pa = _pair(y, p)
    idx = quantile_bins(pa, bins)
    count = np.bincount(idx)
    keep = count > 0
    bad_rate = np.bincount(idx, weights=ya)[keep] / count[keep]
    mean_pd = np.bincount(idx, weights=pa)[keep] / count[keep]
    return float(np.sum(count[keep] / ya.size * np.abs(bad_rate - mean_pd)))


def decile_table(y: ArrayLike, p: ArrayLike, bins: int = 10) -> pd.DataFrame:
    """Rows by PD quantile bin, riskiest first (bin 1 = highest PDs), with the cumulative share of
    all bads captured from the top down (how many bads a decline of the worst x% would catch)."""
    ya, pa = _pair(y, p)
    idx = quantile_bins(pa, bins)
    frame = pd.DataFrame({"bin": idx, "y": ya, "p": pa})
    g = frame.groupby("bin", sort=True)
    table = pd.DataFrame({
        "count": g.size(),
        "bads": g["y"].sum().astype(int),
        "mean_pd": g["p"].mean(),
        "min_pd": g["p"].min(),
        "max_pd": g["p"].max(),
    }).iloc[::-1].reset_index(drop=True)
    table.insert(0, "decile", np.arange(1, len(table) + 1))
    table.insert(3, "bad_rate", table["bads"] / table["count"])
    total_bads = max(int(ya.sum()), 1)
    table["cum_count_share"] = table["count"].cumsum() / ya.size
    table["cum_bads"] = table["bads"].cumsum()
    table["cum_bad_capture"] = table["cum_bads"] / total_bads
    return table


# ---------------------------------------------------------------------------------------------
# population stability


def _floats(x: ArrayLike, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{name} must be numeric for PSI ({exc})") from exc


def psi_edges(reference: ArrayLike, bins: int = 10) -> np.ndarray:
    """Edges fixed from the reference: its quantiles, outer edges -inf/+inf, duplicates collapsed.

    Keep these with the reference so every later window is binned the same way. A value equal to
    an inner edge falls in the bin above it. NaN is not binned here (``psi`` gives it its own bin).
    """
    if bins < 1:
        raise MetricInputError(f"bins must be >= 1, got {bins}")
    ref = _floats(reference, "reference")
    ref = ref[~np.isnan(ref)]
    if ref.size == 0:
        return np.array([-np.inf, np.inf])
    inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _bin_shares(x: np.ndarray, inner: np.ndarray, eps: float) -> np.ndarray:
    """Shares per bin (the last bin is NaN), empty bins floored at eps."""
    idx = np.searchsorted(inner, x, side="right")
    idx[np.isnan(x)] = inner.size + 1
    counts = np.bincount(idx, minlength=inner.size + 2)
    shares = counts / max(x.size, 1)
    return np.where(counts == 0, eps, shares)


def psi(
    reference: ArrayLike,
    actual: ArrayLike,
    edges: np.ndarray | None = None,
    bins: int = 10,
    eps: float = 1e-4,
) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e).

    ``e`` are the reference shares, ``a`` the actual shares, in bins from ``edges`` (default:
    ``psi_edges(reference, bins)``). Missing values form their own bin, so a rise in NaNs shows up
    as a shift. Empty bins get share ``eps`` so the log stays finite. O(n log bins) per column.
    """
    ref, act = _floats(reference, "reference"), _floats(actual, "actual")
    if ref.size == 0 or act.size == 0:
        raise MetricInputError(f"PSI needs rows on both sides; got {ref.size} and {act.size}")
    e = psi_edges(ref, bins) if edges is None else np.asarray(edges, dtype=float)
    inner = e[1:-1] if e.size >= 2 and np.isinf(e[0]) and np.isinf(e[-1]) else e
    exp_s, act_s = _bin_shares(ref, inner, eps), _bin_shares(act, inner, eps)
    return float(np.sum((act_s - exp_s) * np.log(act_s / exp_s)))


def psi_band(value: float, bands: tuple[float, float] = (0.10, 0.25)) -> str:
    """'stable' below the first band, 'shift' above the second, 'watch' between (inclusive)."""
    if value is None or math.isnan(value):
        raise MetricInputError("PSI is NaN; cannot band it")
    low, high = bands
    if value < low:
        return "stable"
    return "watch" if value <= high else "shift"


# ---------------------------------------------------------------------------------------------
# decisions


def approval_stats(
    y: ArrayLike | None, score: ArrayLike, approve_at: float, decline_below: float
) -> dict[str, float]:
    """Shares approved (score >= approve_at), declined (score < decline_below) and sent to review,
    and, when outcomes are given, the bad rate among approved rows (NaN if none approved)."""
    if decline_below > approve_at:
        raise MetricInputError(
            f"decline_below ({decline_below}) must not exceed approve_at ({approve_at})")
    s = np.asarray(score, dtype=float).ravel()
    if s.size == 0:
        raise MetricInputError("no scores")
    if np.isnan(s).any():
        raise MetricInputError(f"score holds {int(np.isnan(s).sum())} NaN values")
    approved = s >= approve_at
    declined = s < decline_below
    out = {
        "approval_rate": float(approved.mean()),
        "review_rate": float((~approved & ~declined).mean()),
        "decline_rate": float(declined.mean()),
    }
    if y is not None:
        ya = _labels(y)
        if ya.size != s.size:
            raise MetricInputError(f"y has {ya.size} rows but score has {s.size}")
        out["bad_rate_approved"] = float(ya[approved].mean()) if approved.any() else float("nan")
    return out


# ---------------------------------------------------------------------------------------------
# comparison of two models on the same rows


def bootstrap_auc_diff(
    y: ArrayLike,
    p_new: ArrayLike,
    p_old: ArrayLike,
    n: int = 300,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Paired bootstrap of AUC(new) - AUC(old): both models see the same resampled rows.

    Returns the point difference on the full data and the percentile interval. Resamples are drawn
    as row multiplicities and evaluated in chunks with ``_weighted_auc`` (one sort per model).
    """
    ya, pn = _pair(y, p_new, check_p=False)
    _, po = _pair(y, p_old, check_p=False)
    _both_classes(ya, "AUC")
    if not 0.0 < level < 1.0:
        raise MetricInputError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    m = ya.size
    diffs: list[np.ndarray] = []
    chunk = max(1, min(n, 4_000_000 // m))  # bound memory: chunk * m float64 weights
    done = 0
    while done < n:
        b = min(chunk, n - done)
        draws = rng.integers(0, m, size=(b, m)) + (np.arange(b) * m)[:, None]
        w = np.bincount(draws.ravel(), minlength=b * m).reshape(b, m).astype(float)
        diffs.append(_weighted_auc(ya, pn, w) - _weighted_auc(ya, po, w))
        done += b
    d = np.concatenate(diffs)
    d = d[~np.isnan(d)]  # a resample with a single class has no AUC
    alpha = (1.0 - level) / 2.0
    return {
        "diff": auc(ya, pn) - auc(ya, po),
        "ci_low": float(np.quantile(d, alpha)),
        "ci_high": float(np.quantile(d, 1.0 - alpha)),
        "n_boot": float(d.size),
    }


# ---------------------------------------------------------------------------------------------
# all at once


def credit_metrics(
    y: ArrayLike,
    p: ArrayLike,
    score: ArrayLike | None = None,
    approve_at: float | None = None,
    decline_below: float | None = None,
) -> dict[str, float]:
    """The headline metrics of one model on one window.

    AUC, KS and Gini are NaN when the window holds only goods or only bads (a small monitoring
    window can), the rest are still computed. Approval statistics are added when ``score`` and both
    cut-offs are given.
    """
    ya, pa = _pair(y, p)
    n_bad = int(ya.sum())
    two_classes = 0 < n_bad < ya.size
    nan = float("nan")
    out = {
        "auc": auc(ya, pa) if two_classes else nan,
        "ks": ks(ya, pa) if two_classes else nan,
        "gini": gini(ya, pa) if two_classes else nan,
        "brier": brier(ya, pa),
        "log_loss": log_loss(ya, pa),
        "ece": ece(ya, pa),
        "bad_rate": n_bad / ya.size,
        "mean_pd": float(pa.mean()),
        "n": float(ya.size),
        "n_bad": float(n_bad),
    }
    if score is not None and approve_at is not None and decline_below is not None:
        out.update(approval_stats(ya, score, approve_at, decline_below))
    return out
