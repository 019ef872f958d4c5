"""models.reasons: contributions add up to the margin, top-k reasons, approximate vs exact."""

from __future__ import annotations

import numpy as np
import pytest

from models.fit import fit_booster
from models.pd_model import PDModel
from models.policy import ScoringPolicy, score_rows
from models.reasons import contributions, reason_agreement, reason_texts, top_reasons

from .conftest import MONOTONE, PARAMS, REASONS, Book


@pytest.mark.parametrize("approx", [False, True])
def test_contributions_sum_with_bias_to_margin(book, booster, approx):
    contribs = contributions(booster, book.X_test, approx=approx)
    assert contribs.shape == (len(book.X_test), book.X_test.shape[1] + 1)
    margin = booster.inplace_predict(book.X_test, predict_type="margin")
    assert np.max(np.abs(contribs.sum(axis=1) - margin)) < 1e-4


def test_pd_model_contributions_match_margin(book, pd_model):
    X = book.X_test.head(200)
    contribs = pd_model.contributions(X)
    assert np.max(np.abs(contribs.sum(axis=1) - pd_model.margin(X))) < 1e-4


def test_top_reasons_positive_only_largest_first():
    names = ["a", "b", "c", "d"]
    contribs = np.array([
        [0.5, -0.2, 0.9, 0.1, -3.0],   # bias (last) is ignored
        [-0.1, -0.2, -0.3, 0.4, 9.0],  # only one feature pushes risk up
        [-1.0, -1.0, -1.0, -1.0, 0.0],
        [0.2, 0.2, 0.0, 0.1, 0.0],     # tie keeps feature order; zero is not a reason
    ])
    got = top_reasons(contribs, names, k=3)
    assert got.tolist() == [["c", "a", "d"], ["d", None, None], [None, None, None],
                            ["a", "b", "d"]]
    assert top_reasons(contribs[:, :4], names, k=1).tolist() == [["c"], ["d"], [None], ["a"]]


def test_top_reasons_k_beyond_features():
    got = top_reasons(np.array([[0.3, 0.1, 0.0]]), ["a", "b"], k=4)
    assert got.tolist() == [["a", "b", None, None]]


def test_top_reasons_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="do not match"):
        top_reasons(np.zeros((2, 5)), ["a", "b"], k=1)


def test_reason_codes_point_at_the_risky_feature(book, pd_model):
    """Rows with an extreme LTV and otherwise typical values name LTV as a reason."""
    X = book.X_test.head(50).copy()
    X["ltv"] = book.X_train["ltv"].max()
    codes = pd_model.reason_codes(X, k=3)
    assert np.mean([("ltv" in row) for row in codes.tolist()]) > 0.9
    texts = reason_texts(codes, pd_model.reasons)
    assert REASONS["ltv"] in texts.ravel().tolist()


def test_reason_texts_keeps_missing_slots():
    codes = np.array([["a", None]], dtype=object)
    assert reason_texts(codes, {"a": "Text A"}).tolist() == [["Text A", None]]


def test_reason_agreement_on_the_booster(book, booster):
    r = reason_agreement(booster, book.X_test, k=3)
    for key in ("topk_set_agreement", "topk_ordered_agreement", "top1_agreement"):
        assert 0.0 <= r[key] <= 1.0
    assert r["topk_ordered_agreement"] <= r["topk_set_agreement"]
    assert r["top1_agreement"] > 0.5
    assert r["exact_ms_per_1000"] > 0 and r["approx_ms_per_1000"] > 0
    assert r["rows"] == len(book.X_test)


def test_approximate_equals_exact_for_additive_model(book):
    """With depth-1 trees the model is additive and Saabas (approximate) attributions equal
    SHAP values, so every top-k set must agree: the agreement measure is not vacuous."""
    stumps = fit_booster(book.X_train, book.y_train, book.X_valid, book.y_valid,
                         {**PARAMS, "max_depth": 1}, MONOTONE, 60, 10, seed=0)
    exact = contributions(stumps, book.X_test, approx=False)
    approx = contributions(stumps, book.X_test, approx=True)
    assert np.allclose(exact, approx, atol=1e-5)
    assert reason_agreement(stumps, book.X_test, k=3)["topk_set_agreement"] == 1.0


def test_exact_contributions_only_where_a_notice_is_owed(pd_model: PDModel, book: Book) -> None:
    """A decline's reasons come from exact contributions, a referral's from the approximation:
    exact ones cost 20-50x more and only a decline is owed an adverse-action notice."""
    X = book.X_test
    policy = ScoringPolicy(base_score=600.0, base_odds=50.0, pdo=20.0, approve_at=600.0,
                           decline_below=560.0, exact_contributions=True)
    rows = score_rows(pd_model, X, policy)
    names = pd_model.feature_names
    for decision, approx in (("decline", False), ("review", True)):
        picked = (rows["decision"] == decision).to_numpy()
        assert picked.sum() > 20, decision  # both kinds present in the sample
        want = top_reasons(pd_model.contributions(X[picked], approx=approx), names, 3)
        other = top_reasons(pd_model.contributions(X[picked], approx=not approx), names, 3)
        got = rows.loc[picked, ["reason_1", "reason_2", "reason_3"]].to_numpy()
        assert (got == want).all(), decision
        assert not (got == other).all(), decision  # the two methods do differ on these rows
