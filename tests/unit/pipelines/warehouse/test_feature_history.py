"""feature_history (cached per tape month) must give exactly the features load_outcomes gives."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features import build_features
from features.build import FeatureConfig
from pipelines.core.settings import Settings
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    business_day_end,
    feature_config,
    feature_history,
    load_applications,
    load_outcomes,
)


def test_same_features_as_the_uncached_history(sqlite_wh: Warehouse, settings: Settings) -> None:
    book = simulate_book(8_000, date(2022, 1, 1), date(2024, 6, 30), seed=3)
    load_book(sqlite_wh, book, "t")
    cfg = feature_config(settings)
    for day in (date(2024, 3, 15), date(2024, 3, 31), date(2024, 4, 1), date(2024, 4, 29),
                date(2024, 6, 29)):
        apps = load_applications(sqlite_wh, day, day)
        as_of = business_day_end(day)
        exact = build_features(apps, load_outcomes(sqlite_wh, day, FeatureConfig()), as_of, cfg)
        cached = build_features(apps, feature_history(sqlite_wh, day, FeatureConfig()), as_of, cfg)
        pd.testing.assert_frame_equal(exact, cached)
    # The March tape serves every day until the April tape: one read across the month change.
    march = feature_history(sqlite_wh, date(2024, 3, 31), FeatureConfig())
    assert feature_history(sqlite_wh, date(2024, 4, 1), FeatureConfig()) is march
    assert feature_history(sqlite_wh, date(2024, 4, 29), FeatureConfig()) is march
    assert feature_history(sqlite_wh, date(2024, 4, 30), FeatureConfig()) is not march


@pytest.mark.parametrize("tape", ["none", "stale"])
def test_without_a_recent_tape_only_loans_that_can_have_matured_are_read(
        sqlite_wh: Warehouse, settings: Settings, tape: str) -> None:
    day = date(2024, 6, 20)
    book = simulate_book(8_000, date(2022, 1, 1), day, seed=4)
    load_book(sqlite_wh, book, "t")
    kept = {"none": "1900-01-01", "stale": "2023-01-31"}[tape]  # stale: older than the window
    sqlite_wh.execute("DELETE FROM repayments WHERE as_of_month > :m", {"m": kept})
    apps = load_applications(sqlite_wh, day, day)
    as_of, cfg = business_day_end(day), feature_config(settings)
    history = feature_history(sqlite_wh, day, FeatureConfig())
    assert history["origination_date"].max() <= pd.Timestamp("2023-06-30")
    assert len(history) < len(load_outcomes(sqlite_wh, day, FeatureConfig()))
    pd.testing.assert_frame_equal(build_features(apps, load_outcomes(sqlite_wh, day, FeatureConfig()), as_of, cfg),
                                  build_features(apps, history, as_of, cfg))
