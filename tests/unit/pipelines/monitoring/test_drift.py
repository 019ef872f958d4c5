"""Our CSI/PSI wiring: fixed reference bins, categories binned by level, bands from settings, and
reading Evidently's snapshot JSON (the Evidently run itself is in the scenario tests)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from models.metrics import psi
from pipelines.core.stage_settings import MonitoringSettings
from pipelines.monitoring.drift import (
    DriftInputError,
    _column_table,
    _drifted_count,
    csi_table,
    evidently_drift,
    feature_csi,
    score_psi,
)

BANDS = MonitoringSettings().psi_bands


def _frames(n: int = 20_000, seed: int = 0, shift: float = 0.0,
            used_share: float = 0.35) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ltv": rng.normal(1.0 + shift, 0.2, n),
        "vehicle_condition": pd.Categorical(
            np.where(rng.random(n) < used_share, "used", "new"), categories=["new", "used"]),
        "dealer_matured_loans": rng.poisson(20 + 40 * shift, n).astype(float),
    })


def test_same_population_is_stable_and_a_shift_is_a_shift() -> None:
    ref = _frames(seed=1)
    same = csi_table(ref, _frames(5_000, seed=2), list(ref.columns), 10, 1e-4, BANDS)
    assert (same["band"] == "stable").all() and (same["value"] < 0.02).all()
    moved = csi_table(ref, _frames(5_000, seed=3, shift=0.3, used_share=0.7),
                      list(ref.columns), 10, 1e-4, BANDS, trend_features=["dealer_matured_loans"])
    got = moved.set_index("feature")
    assert got.loc["ltv", "band"] == "shift" and got.loc["vehicle_condition", "band"] == "shift"
    assert got.loc["dealer_matured_loans", "trend"] and not got.loc["ltv", "trend"]
    assert moved["value"].is_monotonic_decreasing


def test_categories_are_binned_by_level_with_unseen_and_missing_bins() -> None:
    ref = pd.Series(["new"] * 60 + ["used"] * 40)
    cur = pd.Series(["new"] * 50 + ["used"] * 30 + ["lease"] * 10 + [None] * 10)
    value, kind = feature_csi(ref, cur, bins=10, eps=1e-4)
    expected_shares = np.array([0.6, 0.4, 1e-4, 1e-4])  # new, used, unseen, missing
    actual_shares = np.array([0.5, 0.3, 0.1, 0.1])
    assert kind == "category"
    assert value == pytest.approx(np.sum((actual_shares - expected_shares)
                                         * np.log(actual_shares / expected_shares)))
    as_category = feature_csi(ref.astype("category"), cur.astype("category"), 10, 1e-4)[0]
    assert as_category == pytest.approx(value)


def test_numeric_csi_is_models_metrics_psi_with_reference_edges() -> None:
    rng = np.random.default_rng(5)
    ref, cur = pd.Series(rng.normal(size=3_000)), pd.Series(rng.normal(0.2, 1.1, 2_000))
    cur.iloc[:100] = np.nan
    assert feature_csi(ref, cur, 10, 1e-4)[0] == pytest.approx(psi(ref, cur, bins=10, eps=1e-4))


def test_score_psi_band_follows_the_configured_bands() -> None:
    rng = np.random.default_rng(9)
    ref, cur = rng.normal(580, 30, 10_000), rng.normal(586, 30, 3_000)
    value, band = score_psi(ref, cur, 10, 1e-4, BANDS)
    assert 0.02 < value < 0.10 and band == "stable"
    assert score_psi(ref, cur, 10, 1e-4, (0.01, 0.02))[1] == "shift"
    assert score_psi(ref, cur, 10, 1e-4, (0.01, 0.30))[1] == "watch"


def test_missing_columns_and_empty_windows_are_refused() -> None:
    ref = _frames(100)
    with pytest.raises(DriftInputError, match="lacks the champion's feature column"):
        csi_table(ref, ref.drop(columns=["ltv"]), ["ltv"], 10, 1e-4, BANDS)
    with pytest.raises(DriftInputError, match="rows on both sides"):
        csi_table(ref, ref.iloc[:0], ["ltv"], 10, 1e-4, BANDS)


def test_evidently_snapshot_json_and_drift_table_are_read_per_feature() -> None:
    raw = {"metrics": [
        {"config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.3},
         "value": {"count": 1.0, "share": 0.5}},
    ], "tests": []}
    assert _drifted_count(raw) == (0.5, 1)
    assert np.isnan(_drifted_count({"metrics": []})[0])
    result = SimpleNamespace(stattest_name="Wasserstein distance (normed)",
                             stattest_threshold=0.1, drift_score=0.31, drift_detected=True)
    table = _column_table({"ltv": result, "other": result}, ["ltv", "housing"], None)
    assert table.to_dict("records") == [{"feature": "ltv",
                                         "method": "Wasserstein distance (normed)",
                                         "threshold": 0.1, "score": 0.31, "drifted": True}]
    assert _column_table({"ltv": result}, ["ltv"], "psi")["method"].tolist() == ["psi"]


def test_drift_report_scores_are_evidentlys_own_per_column_tests() -> None:
    """The report runs the preset's drift table without its per-column ValueDrift metrics:
    each feature's test, score and verdict must be the ones ValueDrift gives."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"ltv": rng.normal(1.0, 0.2, 400), "dti": rng.normal(0.3, 0.1, 400),
                        "housing": rng.choice(["own", "rent"], 400)})
    cur = ref.assign(ltv=rng.normal(1.3, 0.2, 400), housing=rng.choice(["own", "rent"], 400,
                                                                       p=[0.2, 0.8]))
    ours = evidently_drift(ref, cur, list(ref.columns), 5_000, 0.5, None, 0).table
    definition = DataDefinition(numerical_columns=["ltv", "dti"],
                                categorical_columns=["housing"])
    theirs = json.loads(Report([ValueDrift(column=c) for c in ref.columns]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition)).json())
    expected = {m["config"]["column"]: (m["config"]["method"], m["value"])
                for m in theirs["metrics"]}
    assert {r.feature: (r.method, r.score) for r in ours.itertuples()} == expected
    assert ours.set_index("feature")["drifted"].to_dict() == {
        "ltv": True, "dti": False, "housing": True}
