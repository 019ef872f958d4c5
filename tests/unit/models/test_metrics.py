"""models.metrics against sklearn/scipy and against slow reference loops on fixtures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from models import metrics as M


@pytest.fixture(scope="module")
def book() -> tuple[np.ndarray, np.ndarray]:
    """5k rows, ~8% bads, PD rounded to 3 decimals so ties occur."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=5_000)
    true_pd = 1.0 / (1.0 + np.exp(-(1.1 * x - 2.6)))
    y = (rng.random(x.size) < true_pd).astype(int)
    p = np.round(1.0 / (1.0 + np.exp(-(x + 0.6 * rng.normal(size=x.size) - 2.4))), 3)
    return y, p


def test_auc_gini_match_sklearn(book):
    y, p = book
    assert M.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert M.gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)


def test_auc_all_ties_is_half():
    assert M.auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_ks_matches_scipy(book):
    y, p = book
    expected = ks_2samp(p[y == 1], p[y == 0]).statistic
    assert M.ks(y, p) == pytest.approx(expected, abs=1e-12)


def test_brier_and_log_loss_match_sklearn(book):
    y, p = book
    assert M.brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    pc = np.clip(p, 1e-15, 1 - 1e-15)
    assert M.log_loss(y, p) == pytest.approx(sk_log_loss(y, pc), rel=1e-9)


def test_log_loss_finite_at_extremes():
    assert math.isfinite(M.log_loss([1, 0], [0.0, 1.0]))


def _ece_reference(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """Slow loop: quantile edges, ties never split, bins weighted by their size."""
    edges = sorted(set(np.quantile(p, [i / bins for i in range(1, bins)])))
    groups: dict[int, list[int]] = {}
    for i, v in enumerate(p):
        b = sum(1 for e in edges if v >= e)
        groups.setdefault(b, []).append(i)
    total = 0.0
    for rows in groups.values():
        total += len(rows) / len(p) * abs(np.mean(y[rows]) - np.mean(p[rows]))
    return total


def test_ece_matches_reference_loop(book):
    y, p = book
    for bins in (5, 10, 20):
        assert M.ece(y, p, bins) == pytest.approx(_ece_reference(y, p, bins), abs=1e-12)


def test_ece_zero_for_perfectly_calibrated_bins():
    p = np.repeat([0.1, 0.5], 10)
    y = np.array([1] + [0] * 9 + [1] * 5 + [0] * 5)
    assert M.ece(y, p, bins=2) == pytest.approx(0.0)


def test_ece_detects_scaled_pd(book):
    y, p = book
    assert M.ece(y, np.clip(p * 2.5, 0, 1)) > 3 * M.ece(y, p)


def test_decile_table(book):
    y, p = book
    t = M.decile_table(y, p)
    assert list(t["decile"]) == list(range(1, len(t) + 1))
    assert t["count"].sum() == len(y)
    assert t["bads"].sum() == y.sum()
    assert t["mean_pd"].is_monotonic_decreasing  # riskiest first
    assert t["cum_bad_capture"].iloc[-1] == pytest.approx(1.0)
    assert (t["min_pd"] <= t["max_pd"]).all()
    assert t["bad_rate"].iloc[0] > t["bad_rate"].iloc[-1]


def _psi_reference(ref: np.ndarray, act: np.ndarray, edges: np.ndarray, eps: float) -> float:
    """Slow loop over bins; NaN has its own bin; empty bins floored at eps."""
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        e = sum(1 for v in ref if lo <= v < hi) / len(ref)
        a = sum(1 for v in act if lo <= v < hi) / len(act)
        e, a = (e or eps), (a or eps)
        total += (a - e) * math.log(a / e)
    e = sum(1 for v in ref if math.isnan(v)) / len(ref) or eps
    a = sum(1 for v in act if math.isnan(v)) / len(act) or eps
    return total + (a - e) * math.log(a / e)


def test_psi_matches_reference_loop():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=2_000)
    act = rng.normal(0.4, 1.2, size=1_500)
    act[:60] = np.nan
    act[60:70] = 99.0  # beyond the reference range: lands in the open top bin
    edges = M.psi_edges(ref, 10)
    assert M.psi(ref, act, edges) == pytest.approx(_psi_reference(ref, act, edges, 1e-4), abs=1e-12)
    assert M.psi(ref, act) == pytest.approx(M.psi(ref, act, edges), abs=1e-15)


def test_psi_edges_collapse_duplicates_and_open_ends():
    ref = np.array([0.0] * 80 + list(range(1, 21)), dtype=float)
    edges = M.psi_edges(ref, 10)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    assert np.all(np.diff(edges) > 0)
    assert len(edges) < 12


def test_psi_identical_is_zero_and_shift_is_large():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=10_000)
    assert M.psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert M.psi_band(M.psi(ref, ref + 1.0)) == "shift"


def test_psi_nan_bin_counts():
    ref = np.arange(1000, dtype=float)
    act = ref.copy()
    act[:300] = np.nan
    assert M.psi(ref, act) > 0.25


@pytest.mark.parametrize(("value", "band"), [(0.0, "stable"), (0.099, "stable"), (0.10, "watch"),
                                             (0.25, "watch"), (0.2501, "shift")])
def test_psi_band(value, band):
    assert M.psi_band(value) == band


def test_psi_band_rejects_nan():
    with pytest.raises(M.MetricInputError):
        M.psi_band(float("nan"))


def test_approval_stats():
    score = np.array([500, 534.9, 535, 569.9, 570, 600, 650, 700])
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    s = M.approval_stats(y, score, approve_at=570, decline_below=535)
    assert s["decline_rate"] == pytest.approx(2 / 8)
    assert s["review_rate"] == pytest.approx(2 / 8)
    assert s["approval_rate"] == pytest.approx(4 / 8)
    assert s["bad_rate_approved"] == pytest.approx(1 / 4)
    assert "bad_rate_approved" not in M.approval_stats(None, score, 570, 535)
    with pytest.raises(M.MetricInputError, match="decline_below"):
        M.approval_stats(None, score, 500, 600)


def test_bootstrap_auc_diff_brackets_the_difference(book):
    y, p = book
    rng = np.random.default_rng(5)
    worse = np.clip(p + rng.normal(0, 0.1, size=p.size), 0, 1)
    r = M.bootstrap_auc_diff(y, p, worse, n=200, seed=1)
    assert r["diff"] == pytest.approx(roc_auc_score(y, p) - roc_auc_score(y, worse))
    assert r["ci_low"] < r["diff"] < r["ci_high"]
    assert r["ci_low"] > 0  # clearly better model
    same = M.bootstrap_auc_diff(y, p, p, n=50)
    assert same["diff"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    assert M.bootstrap_auc_diff(y, p, worse, n=200, seed=1) == r  # seeded


def test_bootstrap_matches_naive_resampling(book):
    """Weighted-AUC trick equals roc_auc_score on explicitly resampled rows."""
    y, p = book
    rng = np.random.default_rng(11)
    idx = rng.integers(0, y.size, size=y.size)
    w = np.bincount(idx, minlength=y.size)[None, :].astype(float)
    assert M._weighted_auc(y.astype(float), p, w)[0] == pytest.approx(
        roc_auc_score(y[idx], p[idx]), abs=1e-12)


def test_credit_metrics(book):
    y, p = book
    score = 600 - 20 / math.log(2) * np.log(np.clip(p, 1e-6, 1) / np.clip(1 - p, 1e-6, 1) * 50)
    m = M.credit_metrics(y, p, score, approve_at=570, decline_below=535)
    for key in ("auc", "ks", "gini", "brier", "log_loss", "ece", "bad_rate", "n",
                "approval_rate", "review_rate", "decline_rate", "bad_rate_approved"):
        assert key in m and math.isfinite(m[key]), key
    assert m["n"] == len(y)
    one_class = M.credit_metrics(np.zeros(10), np.full(10, 0.1))
    assert math.isnan(one_class["auc"]) and one_class["brier"] == pytest.approx(0.01)


@pytest.mark.parametrize(("y", "p", "match"), [
    ([0, 1], [0.1], "rows"),
    ([0, 2], [0.1, 0.2], "0/1"),
    ([0, 1], [0.1, float("nan")], "NaN"),
    ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
])
def test_bad_inputs_raise(y, p, match):
    with pytest.raises(M.MetricInputError, match=match):
        M.brier(y, p)


def test_auc_single_class_raises():
    with pytest.raises(M.MetricInputError, match="goods and bads"):
        M.auc([0, 0, 0], [0.1, 0.2, 0.3])
