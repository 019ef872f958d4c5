"""models.scaling: the one PD <-> points convention, decisions and derived cut-offs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.scaling import (
    ScalingError,
    cutoff_for_approval_rate,
    decide_by_score,
    factor_offset,
    pd_to_score,
    score_to_pd,
)

CFG = {"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0}


def test_base_score_at_base_odds():
    # good:bad odds 50:1 means PD = 1/51
    assert pd_to_score(1 / 51, **CFG) == pytest.approx(600.0, abs=1e-9)


def test_pdo_points_per_doubling_of_good_odds():
    pds = np.array([1 / 51, 1 / 101, 1 / 201])  # good odds 50, 100, 200
    assert np.diff(pd_to_score(pds, **CFG)) == pytest.approx([20.0, 20.0])


def test_higher_score_is_safer():
    s = pd_to_score([0.01, 0.05, 0.2, 0.6], **CFG)
    assert np.all(np.diff(s) < 0)


def test_factor_offset_documented_values():
    factor, offset = factor_offset(**CFG)
    assert factor == pytest.approx(20 / math.log(2))
    assert offset == pytest.approx(600 - factor * math.log(50))


def test_configured_cutoffs_match_their_comments():
    # creditflow.toml: approve_at 570 is about PD 5%, decline_below 535 about PD 15%
    assert score_to_pd(570, **CFG) == pytest.approx(0.05, abs=0.005)
    assert score_to_pd(535, **CFG) == pytest.approx(0.15, abs=0.01)


def test_round_trip_and_clip():
    pds = np.array([1e-4, 0.02, 0.3, 0.9])
    assert score_to_pd(pd_to_score(pds, **CFG), **CFG) == pytest.approx(pds, rel=1e-9)
    extreme = pd_to_score([0.0, 1.0], **CFG)
    assert np.all(np.isfinite(extreme))
    assert extreme == pytest.approx(pd_to_score([1e-6, 1 - 1e-6], **CFG))


def test_bad_parameters_raise():
    with pytest.raises(ScalingError, match="pdo"):
        pd_to_score([0.1], 600, 50, 0)
    with pytest.raises(ScalingError, match="NaN"):
        pd_to_score([np.nan], **CFG)


def test_decide_boundaries():
    d = decide_by_score([534.99, 535.0, 569.99, 570.0, 700.0], approve_at=570, decline_below=535)
    assert list(d) == ["decline", "review", "review", "approve", "approve"]
    with pytest.raises(ScalingError, match="decline_below"):
        decide_by_score([600], approve_at=500, decline_below=550)
    with pytest.raises(ScalingError, match="NaN"):
        decide_by_score([np.nan], 570, 535)


def test_decide_without_review_band():
    assert list(decide_by_score([549, 550, 551], approve_at=550, decline_below=550)) == [
        "decline", "approve", "approve"]


def test_cutoff_for_approval_rate():
    scores = np.arange(100, dtype=float)  # 0..99
    cut = cutoff_for_approval_rate(scores, 0.6)
    assert cut == 40.0
    assert np.mean(scores >= cut) == pytest.approx(0.6)
    assert cutoff_for_approval_rate(scores, 1.0) == 0.0
    assert cutoff_for_approval_rate(scores, 0.0) == math.inf


def test_cutoff_ties_are_all_approved():
    scores = np.array([500, 600, 600, 600, 700], dtype=float)
    cut = cutoff_for_approval_rate(scores, 0.4)
    assert cut == 600.0
    assert np.mean(scores >= cut) == pytest.approx(0.8)


def test_cutoff_rejects_bad_rate():
    with pytest.raises(ScalingError):
        cutoff_for_approval_rate([1.0, 2.0], 1.5)
