"""Our CSI/PSI wiring: fixed reference bins, categories binned by level, bands from settings, and
reading Evidently's snapshot JSON (the Evidently run itself is in the scenario tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.metrics import psi
from pipelines.core.settings import MonitoringSettings
from pipelines.monitoring.drift import (
    DriftInputError,
    _drifted,
    _read_snapshot,
    csi_table,
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


def test_evidently_snapshot_json_is_read_per_feature() -> None:
    raw = {"metrics": [
        {"config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.3},
         "value": {"count": 1.0, "share": 0.5}},
        {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "ltv",
                    "method": "Wasserstein distance (normed)", "threshold": 0.1},
         "value": 0.31},
        {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "housing",
                    "method": "chi-square p_value", "threshold": 0.05},
         "value": 0.4},
    ], "tests": []}
    table, share, count = _read_snapshot(raw, ["ltv", "housing"])
    assert (share, count) == (0.5, 1)
    assert table.set_index("feature")["drifted"].to_dict() == {"ltv": True, "housing": False}
    # p-values drift below the threshold, distances at or above it
    assert _drifted("K-S p_value", 0.01, 0.05) and not _drifted("K-S p_value", 0.2, 0.05)
    assert _drifted("Jensen-Shannon distance", 0.1, 0.1)
    assert not _drifted("psi", float("nan"), 0.1)
