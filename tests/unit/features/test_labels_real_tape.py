"""Labels true to a real tape: a status can make a loan bad below 90+, a tape that stops early is
unobserved, maturity is judged against how far the tape reaches, and a lagged tape counts only
from its arrival. Read from a real warehouse (SQLite and PostgreSQL) through the same readers
training and scoring use."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features import FeatureConfig, build_features, label_applications
from pipelines.core.settings import Settings
from pipelines.ingest.load import ingest_frame
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    bad_buckets,
    business_day_end,
    feature_history,
    load_outcomes,
)

T = pd.Timestamp
ORIG = "2023-01-10"  # window (12 months) closes 2024-01-10; its last month end is 2023-12-31


def loans(ids: list[str], dealer: str = "D1", orig: str = ORIG) -> pd.DataFrame:
    return pd.DataFrame({"loan_id": ids, "application_id": [f"A{i}" for i in ids],
                         "origination_date": pd.to_datetime([orig] * len(ids)),
                         "dealer_id": dealer, "loan_amount": 20_000.0, "term_months": 60,
                         "interest_rate": 0.07, "monthly_payment": 400.0, "batch_id": "b"})


def tape(loan: str, path: list[tuple[str, str]], first: str = "2023-01-31",
         known_at: str | None = None) -> pd.DataFrame:
    """One row per month end: (bucket, status)."""
    months = pd.date_range(first, periods=len(path), freq="ME")
    return pd.DataFrame({"loan_id": loan, "as_of_month": months,
                         "months_on_book": np.arange(1, len(path) + 1),
                         "dpd_bucket": [b for b, _ in path], "balance": 1000.0,
                         "status": [s for _, s in path],
                         "known_at": pd.NaT if known_at is None else T(known_at),
                         "batch_id": "b"})


def labels_of(wh: Warehouse, ids: list[str], as_of: date,
              config: FeatureConfig = FeatureConfig()) -> pd.DataFrame:
    apps = pd.DataFrame({"application_id": [f"A{i}" for i in ids],
                         "application_ts": T(ORIG) - pd.Timedelta(days=2)})
    return label_applications(apps, load_outcomes(wh, as_of, config), T(as_of),
                              config.performance_window_months).set_index(
        pd.Index(ids, name="loan_id"))


OPEN = ("current", "open")


def test_a_repossession_at_61_90_is_bad_and_a_tape_that_stops_is_unobserved(
        any_wh: Warehouse) -> None:
    any_wh.upsert("loans", loans(["REPO", "STOPS", "PAID", "RUNS"]))
    any_wh.upsert("repayments", pd.concat([
        tape("REPO", [OPEN] * 4 + [("31-60", "open"), ("61-90", "repossessed")]),
        tape("STOPS", [OPEN] * 5 + [("31-60", "open"), ("61-90", "open")]),  # no closing row
        tape("PAID", [OPEN] * 5 + [("current", "paid_off")]),
        tape("RUNS", [OPEN] * 14)]))
    labels = labels_of(any_wh, ["REPO", "STOPS", "PAID", "RUNS"], date(2024, 3, 31))
    assert labels["mature"].all()
    assert labels.loc["REPO", "bad"] == 1.0  # the status makes it bad, the bucket is only 61-90
    assert np.isnan(labels.loc["STOPS", "bad"])  # not evidence of a good loan
    assert labels.loc["PAID", "bad"] == 0.0 and labels.loc["RUNS", "bad"] == 0.0


def test_the_bad_bucket_is_configurable(any_wh: Warehouse) -> None:
    any_wh.upsert("loans", loans(["L"]))
    any_wh.upsert("repayments", tape("L", [OPEN] * 4 + [("61-90", "open")] + [OPEN] * 9))
    as_of = date(2024, 3, 31)
    assert labels_of(any_wh, ["L"], as_of).loc["L", "bad"] == 0.0
    strict = FeatureConfig(bad_buckets=bad_buckets("61-90"))
    assert labels_of(any_wh, ["L"], as_of, strict).loc["L", "bad"] == 1.0


def test_maturity_is_judged_against_the_tape_reach(any_wh: Warehouse) -> None:
    """The calendar says the window closed on 2024-01-10, but the tape ends in November: the
    loan is immature, not good, until the December tape arrives."""
    any_wh.upsert("loans", loans(["L"]))
    any_wh.upsert("repayments", tape("L", [OPEN] * 11))  # Jan..Nov 2023
    before = labels_of(any_wh, ["L"], date(2024, 3, 31))
    assert not before.loc["L", "mature"] and np.isnan(before.loc["L", "bad"])
    any_wh.upsert("repayments", tape("L", [OPEN], first="2023-12-31"))
    after = labels_of(any_wh, ["L"], date(2024, 3, 31))
    assert after.loc["L", "mature"] and after.loc["L", "bad"] == 0.0


def test_a_lagged_tape_counts_from_its_arrival(any_wh: Warehouse) -> None:
    """December's tape, loaded on 10 January: an application on 15 January sees the loan in its
    dealer's history, one on 12 January does not (its window closes on the 10th but the tape
    month that decides it arrived later), whether built on the day or rebuilt later by
    training."""
    any_wh.upsert("loans", loans(["L"], orig="2023-01-05"))
    any_wh.upsert("repayments", pd.concat([
        tape("L", [OPEN] * 11), tape("L", [OPEN], first="2023-12-31", known_at="2024-01-12")]))
    apps = pd.DataFrame({"application_id": ["EARLY", "LATE"], "dealer_id": "D1",
                         "application_ts": [T("2024-01-11 09:00"), T("2024-01-15 09:00")]})
    cfg = FeatureConfig()
    on_the_day = [build_features(apps.iloc[[i]], feature_history(any_wh, day, cfg),
                                 business_day_end(day), cfg)
                  for i, day in enumerate((date(2024, 1, 11), date(2024, 1, 15)))]
    later = build_features(apps, load_outcomes(any_wh, date(2024, 6, 30), cfg),
                           T("2024-06-30"), cfg)
    # no matured loan yet: the prior alone; then one good loan pulls the dealer's rate down
    assert on_the_day[0]["dealer_bad_rate"].iloc[0] == cfg.base_rate
    assert on_the_day[1]["dealer_bad_rate"].iloc[0] < cfg.base_rate
    pd.testing.assert_frame_equal(pd.concat(on_the_day), later)


def test_a_configured_lag_delays_a_tape_without_load_dates(any_wh: Warehouse) -> None:
    any_wh.upsert("loans", loans(["L"]))
    any_wh.upsert("repayments", tape("L", [OPEN] * 12))  # through 2023-12-31, no load date
    lagged = FeatureConfig(tape_lag_days=10)
    assert not labels_of(any_wh, ["L"], date(2024, 1, 9), lagged).loc["L", "mature"]
    assert labels_of(any_wh, ["L"], date(2024, 1, 10), lagged).loc["L", "mature"]
    assert labels_of(any_wh, ["L"], date(2024, 1, 10)).loc["L", "mature"]


def test_a_tape_ingested_on_a_business_date_is_known_from_that_date(
        settings: Settings, sqlite_wh: Warehouse) -> None:
    """December's tape loaded on 10 January (``creditflow ingest --business-date``)."""
    sqlite_wh.upsert("loans", loans(["L"]))
    sqlite_wh.upsert("repayments", tape("L", [OPEN] * 11))
    december = tape("L", [OPEN], first="2023-12-31").drop(columns=["known_at", "batch_id"])
    ingest_frame(settings, sqlite_wh, december, "repayments", "dec-tape", date(2024, 1, 10))
    assert sqlite_wh.read("repayments", where="as_of_month = '2023-12-31'")[
        "known_at"].iloc[0] == T("2024-01-10")
    assert not labels_of(sqlite_wh, ["L"], date(2024, 1, 9)).loc["L", "mature"]
    assert labels_of(sqlite_wh, ["L"], date(2024, 1, 10)).loc["L", "mature"]
