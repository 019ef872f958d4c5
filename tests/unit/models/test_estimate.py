"""Confidence-based performance estimation: exact on small cases, unbiased on calibrated PDs,
off in the expected direction on miscalibrated ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit, logit

from models import metrics as M
from models.estimate import (
    auc_standard_error,
    estimate_performance,
    expected_auc,
    expected_bad_rate,
    expected_ks,
)


def _brute_force_auc(p: np.ndarray) -> float:
    """E[pairs ranked right] / E[pairs] by enumerating every labelling of the rows."""
    num = den = 0.0
    for labels in itertools.product((0, 1), repeat=p.size):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, p, 1 - p))
        bads, goods = p[y == 1], p[y == 0]
        pairs = bads.size * goods.size
        if pairs == 0:
            continue
        right = (bads[:, None] > goods[None, :]).sum() + 0.5 * (bads[:, None] == goods[None, :]).sum()
        num += weight * right
        den += weight * pairs
    return num / den


@pytest.mark.parametrize("p", [
    [0.1, 0.2, 0.6, 0.9],
    [0.05, 0.05, 0.3, 0.3, 0.7],  # ties
    [0.5, 0.5, 0.5],  # all tied: no ranking information
])
def test_expected_auc_equals_enumeration(p: list[float]) -> None:
    arr = np.array(p)
    assert expected_auc(arr) == pytest.approx(_brute_force_auc(arr), abs=1e-12)


def test_all_tied_pds_give_half_and_no_ks() -> None:
    p = np.full(50, 0.2)
    assert expected_auc(p) == pytest.approx(0.5)
    assert expected_ks(p) == pytest.approx(0.0)


def _calibrated_book(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = expit(rng.normal(-2.8, 0.9, n))  # a ~8% book with AUC around 0.74
    y = (rng.random(n) < p).astype(float)
    return p, y


@pytest.mark.parametrize("seed", range(6))
def test_estimate_matches_realised_within_sampling_error(seed: int) -> None:
    p, y = _calibrated_book(4_000, seed)
    est = estimate_performance(p)
    realised = M.auc(y, p)
    se = auc_standard_error(realised, y.sum(), y.size - y.sum())
    assert abs(est["expected_auc"] - realised) < 3.5 * se
    bad_se = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(est["expected_bad_rate"] - y.mean()) < 3.5 * bad_se
    assert abs(est["expected_ks"] - M.ks(y, p)) < 0.08


def test_estimate_is_unbiased_over_seeds() -> None:
    """Averaged over many books the estimate sits on the realised mean (bias << one SE)."""
    gaps = []
    for seed in range(40):
        p, y = _calibrated_book(2_000, 100 + seed)
        gaps.append(expected_auc(p) - M.auc(y, p))
    gaps = np.array(gaps)
    assert abs(gaps.mean()) < 3 * gaps.std(ddof=1) / np.sqrt(gaps.size)


def test_miscalibration_moves_the_estimate_the_expected_way() -> None:
    rng = np.random.default_rng(7)
    p_model = expit(rng.normal(-2.8, 0.9, 20_000))
    z = logit(p_model)
    cases = {
        "overconfident": expit(0.5 * z - 1.4),  # truth flatter than the model says
        "underconfident": expit(1.8 * z + 2.2),  # truth sharper than the model says
        "too_low": expit(z + 0.8),  # same ranking, every PD too low
    }
    realised = {}
    for name, true_p in cases.items():
        y = (rng.random(p_model.size) < true_p).astype(float)
        realised[name] = (M.auc(y, p_model), y.mean())
    est_auc, est_bad = expected_auc(p_model), expected_bad_rate(p_model)
    assert est_auc > realised["overconfident"][0] + 0.05
    assert est_auc < realised["underconfident"][0] - 0.05
    assert est_bad < realised["too_low"][1] * 0.75


def test_standard_error_shrinks_with_volume_and_rejects_bad_input() -> None:
    assert auc_standard_error(0.75, 400, 4_000) < auc_standard_error(0.75, 40, 400)
    assert np.isnan(auc_standard_error(0.75, 0, 100))
    with pytest.raises(M.MetricInputError):
        expected_auc([0.2, np.nan])
    with pytest.raises(M.MetricInputError):
        expected_bad_rate([0.2, 1.2])
    with pytest.raises(M.MetricInputError):
        estimate_performance([])
