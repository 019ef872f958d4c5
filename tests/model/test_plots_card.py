"""models.plots render real figures from a fitted model; models.model_card says what it is told."""

from __future__ import annotations

import io

import pytest
from matplotlib.figure import Figure

from models import metrics as M
from models import plots as P
from models.model_card import model_card
from models.scaling import pd_to_score

from .conftest import MONOTONE, REASONS


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_every_figure_renders(book, pd_model, booster):
    y, p = book.y_test, pd_model.predict_pd(book.X_test)
    score = pd_to_score(p, 600, 50, 20)
    figures = {
        "roc": P.roc_figure(y, {"xgboost": p, "raw": pd_model.raw_proba(book.X_test)}),
        "ks": P.ks_figure(y, p),
        "cal": P.calibration_figure(y, {"calibrated": p}),
        "dist": P.score_distribution_figure(y, score, 570, 535),
        "dec": P.decile_figure(M.decile_table(y, p)),
        "imp": P.importance_figure(booster),
        "shap": P.contribution_summary_figure(pd_model.contributions(book.X_test.head(300)),
                                              pd_model.feature_names),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        assert _png(fig)[:4] == b"\x89PNG", name
    assert "AUC" in figures["roc"].axes[0].get_legend().get_texts()[0].get_text()
    assert f"{M.ks(y, p):.3f}" in figures["ks"].axes[0].get_title()
    labels = [t.get_text() for t in figures["shap"].axes[0].get_yticklabels()]
    assert set(labels) == set(pd_model.feature_names)


def test_model_card_contents(pd_model):
    card = model_card(
        name="creditflow-pd", version="3", run_id="abc123",
        windows={"train": ("2022-01-01", "2023-12-31"), "oot": ("2024-03-01", "2024-05-31")},
        counts={"train": {"rows": 40_000, "bads": 2_400, "immature": 0},
                "oot": {"rows": 5_000, "bads": 310, "immature": 120}},
        feature_names=pd_model.feature_names, monotone=MONOTONE, descriptions=REASONS,
        feature_dtypes=pd_model.feature_dtypes,
        metrics={"oot": {"auc": 0.7612, "ks": 0.39}, "oot baseline": {"auc": 0.7311, "ks": 0.35}},
        calibration={"method": "isotonic", "n_fit": 4000, "ece_before": 0.031, "ece_after": 0.006},
        cutoffs={"base_score": 600.0, "base_odds": 50.0, "pdo": 20.0, "approve_at": 570.0,
                 "decline_below": 535.0},
        approval={"approval_rate": 0.62, "bad_rate_approved": 0.021},
        reason_codes={"k": 3, "contributions": "exact", "top-3 set agreement": 0.83},
        fairness=[{"dimension": "age_band", "group": "62+", "n": 400, "approval_rate": 0.31,
                   "mean_pd": 0.07, "bad_rate": 0.05, "adverse_impact_ratio": 0.45,
                   "judged": True, "flagged": True}],
        config_hash="deadbeef", git_commit="0123abc")
    assert card.startswith("# Model card: creditflow-pd version 3")
    assert "| ltv | float | risk rises with value |" in card
    assert "| bureau_score | float | risk falls with value |" in card
    assert "| vehicle_condition | category | unconstrained |" in card
    assert "| auc | 0.7612 | 0.7311 |" in card
    assert "| oot | 2024-03-01 | 2024-05-31 | 5,000 | 310 | 0.0620 | 120 |" in card
    assert "reject inference" in card
    assert "deadbeef" in card and "0123abc" in card
    assert "approval rate (out-of-time, every application) | 0.6200" in card
    assert "## Fair lending (out-of-time, every application)" in card
    assert "| age_band | 62+ | 400 | 0.3100 | 0.0700 | 0.0500 | 0.4500 | FLAGGED |" in card


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_model_card_shows_missing_numbers_plainly(pd_model, missing):
    card = model_card(name="m", version=None, run_id=None, windows={}, counts={},
                      feature_names=[], monotone={}, descriptions={}, feature_dtypes={},
                      metrics={"oot": {"auc": missing}}, calibration={}, cutoffs={})
    assert "(unregistered)" in card
    assert "| auc | - |" in card or "| auc | n/a |" in card


def test_model_card_flags_overlapping_windows():
    common = {"name": "m", "version": "1", "run_id": None, "counts": {}, "feature_names": [],
              "monotone": {}, "descriptions": {}, "feature_dtypes": {}, "metrics": {},
              "calibration": {}, "cutoffs": {}}
    fine = model_card(windows={"train": ("2022-01-01", "2023-12-31"),
                               "oot": ("2024-01-01", "2024-03-31")}, **common)
    assert "without overlap" in fine
    bad = model_card(windows={"train": ("2022-01-01", "2024-01-31"),
                              "oot": ("2024-01-01", "2024-03-31")}, **common)
    assert "WARNING: the windows above overlap" in bad
