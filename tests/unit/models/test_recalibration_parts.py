"""The pieces a recalibration challenger is made of: the id split it is fitted and judged on,
the level refit of a Platt calibrator, the ratio bridge to the 12-month scale, and the training-
overlap rule that lets a calibration window and a promotion window share months when they
share no application."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from models.bridge import target_bridge
from models.calibration import Calibrator
from models.promotion_rules import training_overlap
from models.split import IdSplit


def test_an_id_split_is_fixed_by_the_id_and_the_key_and_its_parts_are_disjoint() -> None:
    ids = np.array([f"A{i:09d}" for i in range(20_000)], dtype=object)
    split = IdSplit(43, 0.5)
    first = split.first(ids)
    assert (first == IdSplit(43, 0.5).first(ids[::-1])[::-1]).all()  # order does not matter
    assert 0.48 < first.mean() < 0.52
    assert (first != IdSplit(42, 0.5).first(ids)).mean() > 0.4  # another key, another split
    assert IdSplit.from_tags(split.tags()) == split == IdSplit.from_dict(split.as_dict())
    assert IdSplit.from_tags({}) is None
    with pytest.raises(ValueError, match="share"):
        IdSplit(1, 1.0)


def test_a_level_refit_keeps_the_slope_and_meets_the_bad_rate() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(0.005, 0.3, 5_000)
    champion = Calibrator("platt", coef=1.0, intercept=0.0, n_fit=1, n_bad_fit=1)
    y = (rng.random(raw.size) < expit(logit(raw) + np.log(1.8))).astype(float)  # odds x1.8
    level = champion.refit_level(raw, y)
    assert level.coef == champion.coef and level.bridge is None
    assert level.transform(raw).mean() == pytest.approx(y.mean(), rel=1e-6)
    assert level.intercept == pytest.approx(np.log(1.8), abs=0.15)
    with pytest.raises(Exception, match="Platt"):
        Calibrator("isotonic").refit_level(raw, y)


def test_the_ratio_bridge_keeps_a_safe_applicant_safe_and_balances_the_book() -> None:
    early = np.array([1] * 4 + [0] * 96, dtype=float)
    final = np.array([1] * 4 + [1] * 6 + [0] * 90, dtype=float)  # 6 late defaults
    bridge = target_bridge(early, final)
    assert bridge.ratio == 2.5 and bridge.to_final(bridge.early_rate) == bridge.final_rate
    cal = Calibrator("platt", coef=1.0, intercept=0.0, n_fit=1, n_bad_fit=1,
                     bridge=bridge.ratio)
    p = np.array([0.001, 0.01, 0.1])
    assert cal.transform(p) == pytest.approx(2.5 * p)  # no floor at b = 6/96
    assert Calibrator.from_dict(cal.to_dict()).bridge == 2.5
    legacy = Calibrator.from_dict({**cal.to_dict(), "bridge": [0.9, 0.05]})
    assert legacy.transform(np.array([0.0001]))[0] == pytest.approx(0.05, abs=1e-3)


def test_a_calibration_part_may_share_months_with_the_judged_part_only() -> None:
    split = IdSplit(43, 0.5)
    tags = {"window.train": "2021-01-01..2022-12-31",
            "window.early_stopping": "2023-01-01..2023-02-28",
            "window.calibration": "2024-06-01..2024-11-30", **split.tags()}
    judged = {"start": "2024-06-01", "part": "judged", "split": split.as_dict()}
    assert training_overlap(tags, judged) == []
    whole = {"start": "2024-06-01"}
    assert training_overlap(tags, whole) == [
        "window.calibration 2024-06-01..2024-11-30 does not end before the promotion window "
        "starts (2024-06-01)"]
    other = {**judged, "split": IdSplit(44, 0.5).as_dict()}  # not the split it was fitted on
    assert len(training_overlap(tags, other)) == 1
