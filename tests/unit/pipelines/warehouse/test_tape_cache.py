"""Tape-derived reads are cached per process and invalidated by what changes them: a late row of
the month's tape, a late loan, a tape re-ingested through the gate; a new day of the same month
reuses them."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from features.build import FeatureConfig
from pipelines.monitoring import portfolio as R
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse import tape_cache
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_history, load_outcomes, shared_outcomes

DAY = date(2024, 3, 15)


@pytest.fixture
def wh(sqlite_wh: Warehouse) -> Warehouse:
    book = simulate_book(3_000, date(2022, 7, 1), date(2024, 3, 31), seed=5)
    for name in ("applications", "loans", "repayments"):
        frame = getattr(book, name)
        if name == "repayments":  # the March tape comes later in the test
            frame = frame[frame["as_of_month"] < pd.Timestamp("2024-03-01")]
        sqlite_wh.upsert(name, frame.assign(batch_id="t"))
    tape_cache.clear()
    return sqlite_wh


def test_same_month_reuses_the_read(wh: Warehouse) -> None:
    first = R.load_transition_counts(wh, DAY, 4)
    assert R.load_transition_counts(wh, date(2024, 3, 20), 4) is first
    assert feature_history(wh, DAY, FeatureConfig()) is feature_history(wh, date(2024, 3, 16), FeatureConfig())


def test_late_tape_row_invalidates(wh: Warehouse) -> None:
    before = R.load_transition_counts(wh, DAY, 4)
    row = wh.read("repayments", "as_of_month = :m", {"m": date(2024, 2, 29)}).head(1)
    wh.upsert("repayments", row.assign(loan_id="L-late"))  # a late row of the latest tape
    after = R.load_transition_counts(wh, DAY, 4)
    assert after is not before


def test_late_loan_invalidates(wh: Warehouse) -> None:
    before = feature_history(wh, DAY, FeatureConfig())
    loan = wh.read("loans").head(1)
    wh.upsert("loans", loan.assign(loan_id="L-late", application_id="A-late"))
    assert feature_history(wh, DAY, FeatureConfig()) is not before


def test_tape_after_the_date_does_not_invalidate(wh: Warehouse) -> None:
    before = R.load_vintage_counts(wh, DAY, 12)
    march = wh.read("repayments", "as_of_month = :m", {"m": date(2024, 2, 29)}).head(5)
    wh.upsert("repayments", march.assign(as_of_month=pd.Timestamp("2024-03-31")))
    assert R.load_vintage_counts(wh, DAY, 12) is before


def test_reingested_tape_invalidates(wh: Warehouse) -> None:
    before = R.load_transition_counts(wh, DAY, 4)
    wh.upsert("validation_results", pd.DataFrame([{
        "batch_id": "tape-fix", "suite": "repayments", "status": "passed", "rows_in": 1,
        "rows_passed": 1, "rows_quarantined": 0, "expectations_evaluated": 1,
        "expectations_failed": 0, "details": "{}", "report_path": None,
        "validated_at": pd.Timestamp("2030-01-01")}]))
    assert R.load_transition_counts(wh, DAY, 4) is not before


def test_shared_outcomes_are_one_read_until_the_book_changes(wh: Warehouse) -> None:
    """Training and the promotion after it label the same data date from one read."""
    first = shared_outcomes(wh, DAY, FeatureConfig())
    assert shared_outcomes(wh, DAY, FeatureConfig()) is first
    pd.testing.assert_frame_equal(first, load_outcomes(wh, DAY, FeatureConfig()))
    loan = wh.read("loans", "origination_date <= :d", {"d": DAY}).head(1)
    wh.upsert("loans", loan.assign(loan_id="L-late", application_id="A-late"))
    after = shared_outcomes(wh, DAY, FeatureConfig())
    assert after is not first and "L-late" in set(after["loan_id"])
    pd.testing.assert_frame_equal(after, load_outcomes(wh, DAY, FeatureConfig()))
