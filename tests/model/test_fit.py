"""models.fit and models.baseline on the synthetic book (tests/model/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models import metrics as M
from models.baseline import baseline_pd, fit_baseline
from models.fit import (
    CURVE_SAMPLE,
    FitError,
    _boost,
    booster_params,
    check_monotone,
    fit_booster,
    fit_quantised,
    hpo_search,
    quantise,
    row_sample,
)

from .conftest import MONOTONE, PARAMS, make_book


def test_monotonicity_holds_feature_by_feature(book, booster):
    result = check_monotone(booster, book.X_test, MONOTONE, grid=25, sample=300)
    assert set(result) == set(MONOTONE)
    assert all(result.values()), result


def test_monotonicity_grid_by_hand(book, booster):
    """Independent of check_monotone: sweep each constrained feature for a few rows."""
    rows = book.X_test.head(20)
    for feature, direction in MONOTONE.items():
        grid = np.linspace(book.X_train[feature].min(), book.X_train[feature].max(), 30)
        for _, row in rows.iterrows():
            frame = pd.DataFrame([row] * len(grid)).astype(book.X_test.dtypes.to_dict())
            frame[feature] = grid
            margin = booster.inplace_predict(frame, predict_type="margin")
            assert np.all(np.diff(margin) * direction >= -1e-6), feature


def _u_shaped(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"u": rng.uniform(-2, 2, n), "z": rng.normal(size=n)})
    p = 1 / (1 + np.exp(-(-2.5 + 1.5 * X["u"] ** 2 + 0.5 * X["z"])))
    return X, (rng.random(n) < p).astype(int)


def test_check_monotone_detects_a_violation():
    X, y = _u_shaped(3000, 0)
    Xv, yv = _u_shaped(1000, 1)
    free = fit_booster(X, y, Xv, yv, PARAMS, {}, 60, 10, seed=0)
    assert check_monotone(free, Xv, {"u": 1}) == {"u": False}
    bound = fit_booster(X, y, Xv, yv, PARAMS, {"u": 1}, 60, 10, seed=0)
    assert check_monotone(bound, Xv, {"u": 1}) == {"u": True}


def test_early_stopping_keeps_best_trees_only(booster):
    best = int(booster.attr("best_iteration"))
    assert booster.num_boosted_rounds() == best + 1
    assert 0.5 < float(booster.attr("valid_auc")) < 1.0
    assert float(booster.attr("valid_logloss")) > 0


def test_fit_is_seeded(book, booster):
    again = fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid, PARAMS, MONOTONE,
                        num_boost_round=150, early_stopping_rounds=15, seed=0)
    assert np.array_equal(again.inplace_predict(book.X_test), booster.inplace_predict(book.X_test))


def test_evals_result_history(book):
    history: dict = {}
    b = fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid, PARAMS, MONOTONE,
                    num_boost_round=20, early_stopping_rounds=5, seed=0, evals_result=history)
    assert set(history) == {CURVE_SAMPLE, "valid"}
    assert set(history["valid"]) == {"auc", "logloss"}
    assert len(history["valid"]["auc"]) >= b.num_boosted_rounds()
    assert len(history[CURVE_SAMPLE]["logloss"]) == len(history["valid"]["logloss"])
    # in-sample log loss falls round after round (the curve a reviewer reads for overfitting)
    assert history[CURVE_SAMPLE]["logloss"][-1] < history[CURVE_SAMPLE]["logloss"][0]


def test_curve_sample_is_fixed_and_bounded(book):
    X, y = row_sample(book.X_train, book.y_train, rows=500, seed=3)
    again, _ = row_sample(book.X_train, book.y_train, rows=500, seed=3)
    assert len(X) == 500 and X.index.equals(again.index) and X.index.is_monotonic_increasing
    assert np.array_equal(y, book.y_train[book.X_train.index.get_indexer(X.index)])
    whole, _ = row_sample(book.X_train, book.y_train, rows=10**6, seed=3)
    assert whole is book.X_train


def test_out_of_sample_auc_is_honest(book, booster):
    """Held-out AUC close to what the generating model itself achieves, not above it."""
    _, _, true_pd = make_book(8_000, seed=1)
    truth = M.auc(book.y_test, true_pd[6_500:])
    got = M.auc(book.y_test, booster.inplace_predict(book.X_test))
    assert truth - 0.04 < got < truth + 0.02


@pytest.mark.parametrize(("params", "monotone", "match"), [
    ({**PARAMS, "scale_pos_weight": 10}, MONOTONE, "rebalancing"),
    (PARAMS, {**MONOTONE, "not_a_column": 1}, "not_a_column"),
    (PARAMS, {**MONOTONE, "vehicle_condition": 1}, "categorical"),
    (PARAMS, {**MONOTONE, "ltv": 2}, "-1, 0 or 1"),
])
def test_fit_refuses(book, params, monotone, match):
    with pytest.raises(FitError, match=match):
        fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid, params, monotone,
                    num_boost_round=5, early_stopping_rounds=2, seed=0)


def test_fit_refuses_mismatched_frames(book):
    with pytest.raises(FitError, match="same columns"):
        fit_booster(book.X_train, book.y_train, book.X_valid.iloc[:, ::-1], book.y_valid,
                    PARAMS, MONOTONE, 5, 2, seed=0)


def _quantised(book):
    return quantise(book.X_train, book.y_train, book.X_valid, book.y_valid, seed=0)


def test_hpo_search_reports_every_trial(book):
    seen: list[tuple[int, dict, float]] = []
    result = hpo_search(_quantised(book), PARAMS, MONOTONE, trials=3, timeout_s=60, seed=3,
                        on_trial=lambda n, p, v: seen.append((n, p, v)),
                        num_boost_round=40, early_stopping_rounds=5)
    assert result["n_trials"] == 3 and [s[0] for s in seen] == [0, 1, 2]
    assert result["best_auc"] == pytest.approx(max(s[2] for s in seen))
    assert result["best_params"]["max_depth"] == seen[result["best_trial"]][1]["max_depth"]
    assert result["best_params"]["nthread"] == PARAMS["nthread"]  # base params kept
    again = hpo_search(_quantised(book), PARAMS, MONOTONE, trials=3, timeout_s=60, seed=3,
                       num_boost_round=40, early_stopping_rounds=5)
    assert again["best_params"] == result["best_params"]  # seeded


def test_trials_and_final_fit_share_the_matrices(book):
    """The matrices quantised once serve every trial and then the final fit, which comes out
    exactly as a fit on freshly built matrices: no trial leaves state behind in them."""
    data = _quantised(book)
    hpo_search(data, PARAMS, MONOTONE, trials=2, timeout_s=60, seed=1, num_boost_round=30,
               early_stopping_rounds=5)
    shared = fit_quantised(data, PARAMS, MONOTONE, 60, 10, seed=0)
    fresh = fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid, PARAMS,
                        MONOTONE, 60, 10, seed=0)
    assert np.array_equal(shared.inplace_predict(book.X_test), fresh.inplace_predict(book.X_test))


def test_curves_are_scored_only_when_kept(book):
    """The curve sample is an extra set scored every round: a fit that keeps no curves (an HPO
    trial) does not score it, and its trees are the very trees of a fit that does."""
    data = _quantised(book)
    curves: dict = {}
    kept = fit_quantised(data, PARAMS, MONOTONE, 60, 10, seed=0, evals_result=curves)
    bare = fit_quantised(data, PARAMS, MONOTONE, 60, 10, seed=0)
    assert set(curves) == {CURVE_SAMPLE, "valid"}
    assert bare.attr("best_iteration") == kept.attr("best_iteration")
    assert np.array_equal(bare.inplace_predict(book.X_test), kept.inplace_predict(book.X_test))
    trial_history: dict = {}  # what a trial's fit scores, round by round
    _boost(data, booster_params(data.schema, PARAMS, MONOTONE, 0), 60, 10, trial_history,
           curves=False)
    assert set(trial_history) == {"valid"}


def test_hpo_timeout_stops_early(book):
    result = hpo_search(_quantised(book), PARAMS, MONOTONE, trials=1000, timeout_s=0.5, seed=0,
                        num_boost_round=40, early_stopping_rounds=5)
    assert 1 <= result["n_trials"] < 1000


def test_baseline_on_same_features(book, booster):
    pipe = fit_baseline(book.X_train, book.y_train, seed=0)
    p = baseline_pd(pipe, book.X_test)
    assert p.shape == (len(book.X_test),) and np.all((p > 0) & (p < 1))
    assert M.auc(book.y_test, p) > 0.7
    # no rebalancing: mean PD close to the observed bad rate
    assert abs(p.mean() - book.y_test.mean()) < 0.03
    assert pipe.named_steps["logit"].class_weight is None


def test_baseline_fits_a_seeded_sample_of_a_large_window(book, booster):
    """Above max_rows the baseline learns from a fixed sample (its medians are the sample's) and
    ranks about as well as one fitted on every row."""
    full = fit_baseline(book.X_train, book.y_train, seed=0)
    pipe = fit_baseline(book.X_train, book.y_train, seed=0, max_rows=2_000)
    again = fit_baseline(book.X_train, book.y_train, seed=0, max_rows=2_000)
    X, _ = row_sample(book.X_train, book.y_train, 2_000, seed=0)
    numeric = pipe.named_steps["prep"].named_transformers_["num"]
    medians = X[numeric.feature_names_in_].median().to_numpy()
    np.testing.assert_allclose(numeric[0].statistics_, medians)
    assert not np.allclose(medians, book.X_train[numeric.feature_names_in_].median().to_numpy())
    p = baseline_pd(pipe, book.X_test)
    np.testing.assert_array_equal(p, baseline_pd(again, book.X_test))
    assert abs(M.auc(book.y_test, p) - M.auc(book.y_test, baseline_pd(full, book.X_test))) < 0.01


def test_baseline_handles_missing_and_unseen_levels(book):
    pipe = fit_baseline(book.X_train, book.y_train, seed=0)
    X = book.X_test.head(3).copy()
    X["employment_years"] = np.nan
    X["vehicle_condition"] = pd.Categorical([None, "used", "new"], categories=["new", "used"])
    X2 = X.astype({"vehicle_condition": object})
    X2.loc[X2.index[0], "vehicle_condition"] = "demo"  # never seen
    assert np.all(np.isfinite(baseline_pd(pipe, X)))
    assert np.all(np.isfinite(baseline_pd(pipe, X2)))


def test_booster_trained_on_categoricals_keeps_them(booster):
    assert booster.feature_types[booster.feature_names.index("vehicle_condition")] == "c"
    assert isinstance(booster, xgb.Booster)


def test_param_aliases_are_canonical(book):
    from models.fit import booster_params

    params = booster_params(book.X_train, {"eta": 0.1, "lambda": 2.0}, MONOTONE, seed=1)
    assert params["learning_rate"] == 0.1 and params["reg_lambda"] == 2.0
    assert "eta" not in params and "lambda" not in params
    assert params["objective"] == "binary:logistic" and params["tree_method"] == "hist"
    assert params["monotone_constraints"] == "(1,1,-1,1,-1,0,0)"
