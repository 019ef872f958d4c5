"""The warehouse readers behind the feature builder, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from features import FeatureConfig, LeakageError, build_features
from pipelines.core.settings import Settings
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    HistoryError,
    business_day_end,
    feature_config,
    infer_extra_features,
    load_applications,
    load_outcomes,
    outcomes_from_frames,
)

T = pd.Timestamp
LOANS = pd.DataFrame({
    "loan_id": ["L1", "L2", "L3", "L4"],
    "application_id": ["A1", "A2", "A3", "A4"],
    "origination_date": pd.to_datetime(["2023-01-10", "2023-02-15", "2023-03-20", "2023-05-02"]),
    "dealer_id": ["D1", "D1", None, "D2"],
    "loan_amount": 20_000.0, "term_months": 60, "interest_rate": 0.07, "monthly_payment": 400.0,
    "batch_id": "b",
})


def tape() -> pd.DataFrame:
    rows = []
    buckets = {  # loan: dpd bucket per month end from its first month end
        "L1": ["current", "1-30", "31-60", "61-90", "90+", "90+", "charge-off"],
        "L2": ["current", "1-30", "current", "current", "current", "current"],
        "L4": ["current", "current", "1-30", "31-60", "61-90", "90+"],
    }
    first = {"L1": "2023-01-31", "L2": "2023-02-28", "L4": "2023-05-31"}
    for loan, path in buckets.items():
        months = pd.date_range(first[loan], periods=len(path), freq="ME")
        rows += [{"loan_id": loan, "as_of_month": m, "months_on_book": i + 1, "dpd_bucket": b,
                  "balance": 1000.0, "status": "open", "batch_id": "b"}
                 for i, (m, b) in enumerate(zip(months, path, strict=True))]
    return pd.DataFrame(rows)  # L3 has no tape row at all


def test_load_outcomes_first_bad_and_last_tape_as_of(any_wh: Warehouse) -> None:
    any_wh.upsert("loans", LOANS)
    any_wh.upsert("repayments", tape())
    out = load_outcomes(any_wh, date(2023, 6, 30), FeatureConfig())
    assert list(out.columns) == ["loan_id", "application_id", "dealer_id", "origination_date",
                                 "first_bad_month", "closed_month", "last_tape_month",
                                 "window_known_at"]
    out = out.set_index("loan_id")
    assert out.loc["L1", "first_bad_month"] == T("2023-05-31")  # first 90+, not the charge-off
    assert out.loc["L1", "last_tape_month"] == T("2023-06-30")  # the 2023-07-31 row is later
    assert pd.isna(out.loc["L2", "first_bad_month"]) and out.loc["L2", "last_tape_month"] == T(
        "2023-06-30")
    assert pd.isna(out.loc["L3", "last_tape_month"]) and pd.isna(out.loc["L3", "dealer_id"])
    assert pd.isna(out.loc["L4", "first_bad_month"])  # its 90+ month (2023-10-31) is after as_of
    assert out["origination_date"].dtype == "datetime64[ns]"
    # Loans originated after as_of are not there yet.
    assert list(load_outcomes(any_wh, date(2023, 3, 19), FeatureConfig())["loan_id"]) == ["L1", "L2"]
    later = load_outcomes(any_wh, date(2023, 12, 31), FeatureConfig()).set_index("loan_id")
    assert later.loc["L4", "first_bad_month"] == T("2023-10-31")


def test_load_outcomes_agrees_with_the_pandas_reference(any_wh: Warehouse) -> None:
    any_wh.upsert("loans", LOANS)
    any_wh.upsert("repayments", tape())
    for as_of in (date(2023, 2, 1), date(2023, 6, 30), date(2024, 1, 1)):
        pd.testing.assert_frame_equal(load_outcomes(any_wh, as_of, FeatureConfig()),
                                      outcomes_from_frames(LOANS, tape(), as_of, FeatureConfig()))


def application_rows() -> pd.DataFrame:
    ts = pd.to_datetime(["2024-03-02 17:00", "2024-03-01 09:30", "2024-03-02 08:15",
                         "2024-03-04 11:00", "2024-03-02 08:15"])
    return pd.DataFrame({
        "application_id": ["P3", "P1", "P2", "P4", "P0"], "application_ts": ts,
        "business_date": ts.normalize(), "annual_income": [50_000.0, np.nan, 61_000.0, 1.0, 2.0],
        "term_months": [60, 48, 72, 36, 60], "housing": ["rent", None, "own", "own", "own"],
        "known_bad": [None, None, 1, None, None],
        "extra": [json.dumps({"months_at_address": 14, "state": "CA"}), None,
                  json.dumps({"months_at_address": 3, "state": "NV"}), None, None],
        "batch_id": "b",
    })


def test_load_applications_filters_sorts_and_unpacks_extras(any_wh: Warehouse) -> None:
    any_wh.upsert("applications", application_rows())
    out = load_applications(any_wh, date(2024, 3, 2), date(2024, 3, 3))
    assert list(out["application_id"]) == ["P0", "P2", "P3"]  # by timestamp, then id
    assert "batch_id" not in out.columns and "extra" not in out.columns
    assert out["application_ts"].dtype == "datetime64[ns]"
    assert out["months_at_address"].tolist()[1:] == [3.0, 14.0]
    assert pd.isna(out["months_at_address"].iloc[0])
    assert out["state"].tolist()[1:] == ["NV", "CA"]
    assert out["known_bad"].tolist()[1] == 1.0 and out["known_bad"].dtype == np.float64
    assert out["bureau_score"].dtype == np.float64  # all NULL, still numeric
    assert len(load_applications(any_wh)) == 5
    assert list(load_applications(any_wh, end=date(2024, 3, 1))["application_id"]) == ["P1"]
    assert list(load_applications(any_wh, start=date(2024, 3, 4))["application_id"]) == ["P4"]
    chunk = load_applications(any_wh, date(2024, 3, 2), date(2024, 3, 2), id_range=("P1", "P2"))
    assert list(chunk["application_id"]) == ["P2"]  # P1 is another day, P0 and P3 outside the ids


def test_extra_column_clashing_with_a_warehouse_column_is_refused(sqlite_wh: Warehouse) -> None:
    rows = application_rows().head(1).assign(extra=json.dumps({"housing": "own"}))
    sqlite_wh.upsert("applications", rows)
    with pytest.raises(HistoryError, match="housing"):
        load_applications(sqlite_wh)


def test_infer_extra_features_from_loaded_applications(sqlite_wh: Warehouse) -> None:
    sqlite_wh.upsert("applications", application_rows())
    numeric, categorical = infer_extra_features(load_applications(sqlite_wh))
    assert numeric == ["months_at_address"] and categorical == {"state": ["CA", "NV"]}


def test_feature_config_carries_the_settings(settings: Settings) -> None:
    cfg = feature_config(settings)
    assert cfg == FeatureConfig(settings.features.performance_window_months,
                                settings.features.dealer_prior_strength,
                                settings.features.base_rate,
                                tuple(settings.features.leakage_denylist))
    assert "recoveries" in cfg.leakage_denylist
    apps = pd.DataFrame({"application_id": ["A"], "application_ts": [T("2024-01-01")],
                         "recoveries": [0.0]})
    with pytest.raises(LeakageError, match="recoveries"):
        build_features(apps, outcomes_from_frames(LOANS, tape(), date(2024, 1, 1), FeatureConfig()),
                       T("2024-01-31"), cfg)


def test_business_day_end_is_the_last_instant_of_the_day() -> None:
    end = business_day_end(date(2024, 2, 29))
    assert end < T("2024-03-01") and end > T("2024-02-29 23:59:59.999999")
