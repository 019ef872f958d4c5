"""models.calibration: lowers ECE on miscalibrated scores, matches sklearn, round-trips exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression

from models import metrics as M
from models.calibration import CalibrationError, Calibrator

from .conftest import make_book


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    """True PDs of the synthetic book, distorted: over-confident and shifted up, as a booster
    trained with rebalancing would be."""
    _, y, true_pd = make_book(12_000, seed=5)
    raw = expit(1.8 * logit(true_pd) + 1.2)
    return {"y_fit": y[:6000], "raw_fit": raw[:6000], "y": y[6000:], "raw": raw[6000:],
            "true": true_pd[6000:]}


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_lowers_ece_on_held_out_rows(scores, method):
    cal = Calibrator(method).fit(scores["raw_fit"], scores["y_fit"])
    before = M.ece(scores["y"], scores["raw"])
    after = M.ece(scores["y"], cal.transform(scores["raw"]))
    assert before > 0.03
    assert after < before / 3
    # the noise floor: the true PDs themselves score about 0.008 on these rows
    assert after < 1.5 * M.ece(scores["y"], scores["true"])
    assert M.brier(scores["y"], cal.transform(scores["raw"])) < M.brier(scores["y"], scores["raw"])


def test_calibration_lowers_ece_of_the_fitted_booster(book, booster):
    """On the booster itself: calibrated on its own slice, judged on the later test slice."""
    raw_cal, raw_test = booster.inplace_predict(book.X_cal), booster.inplace_predict(book.X_test)
    shifted = expit(logit(raw_cal) + 0.8), expit(logit(raw_test) + 0.8)  # deliberately off
    cal = Calibrator("isotonic").fit(shifted[0], book.y_cal)
    assert M.ece(book.y_test, cal.transform(shifted[1])) < M.ece(book.y_test, shifted[1]) / 2


def test_platt_preserves_ranking_and_recovers_distortion(scores):
    cal = Calibrator("platt").fit(scores["raw_fit"], scores["y_fit"])
    assert cal.coef == pytest.approx(1 / 1.8, rel=0.15)
    assert cal.intercept == pytest.approx(-1.2 / 1.8, abs=0.25)
    out = cal.transform(scores["raw"])
    assert M.auc(scores["y"], out) == pytest.approx(M.auc(scores["y"], scores["raw"]), abs=1e-12)


def test_isotonic_matches_sklearn(scores):
    cal = Calibrator("isotonic").fit(scores["raw_fit"], scores["y_fit"])
    ref = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
        scores["raw_fit"], scores["y_fit"])
    probe = np.concatenate([scores["raw"], [0.0, 1.0]])  # includes out-of-range values
    expected = np.clip(ref.predict(probe), 1e-6, 1 - 1e-6)
    assert cal.transform(probe) == pytest.approx(expected, abs=1e-12)
    assert np.all(np.diff(cal.transform(np.sort(probe))) >= 0)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_round_trip_is_exact(scores, method):
    cal = Calibrator(method).fit(scores["raw_fit"], scores["y_fit"])
    restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert restored == cal
    assert np.array_equal(restored.transform(scores["raw"]), cal.transform(scores["raw"]))


def test_pd_kept_off_zero_and_one(scores):
    cal = Calibrator("isotonic").fit(scores["raw_fit"], scores["y_fit"])
    out = cal.transform(np.array([0.0, 1e-9, 1.0]))
    assert out.min() >= 1e-6 and out.max() <= 1 - 1e-6


def test_errors():
    with pytest.raises(CalibrationError, match="isotonic or platt"):
        Calibrator("beta")
    with pytest.raises(CalibrationError, match="goods and bads"):
        Calibrator().fit([0.1, 0.2], [0, 0])
    with pytest.raises(CalibrationError, match="not fitted"):
        Calibrator().transform([0.1])
    with pytest.raises(CalibrationError, match=r"\[0, 1\]"):
        Calibrator().fit([0.1, 1.5], [0, 1])
    with pytest.raises(CalibrationError, match="no fitted state"):
        Calibrator.from_dict({"method": "platt"})
    with pytest.raises(CalibrationError, match="cannot restore"):
        Calibrator.from_dict({"x_thresholds": [0.1]})
