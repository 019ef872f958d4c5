"""The warehouse aggregations behind monitoring give exactly what the pandas definitions give on
the same simulated tape (SQLite and PostgreSQL), and realised performance read back through
scores + labels matches the simulator's truth."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from features import FeatureConfig
from models import metrics as M
from models.estimate import auc_standard_error, expected_auc
from pipelines.monitoring import performance as P
from pipelines.monitoring import portfolio as R
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.engine import Warehouse

AS_OF = date(2024, 3, 15)


@pytest.fixture(scope="module")
def book() -> Book:
    return simulate_book(4_000, date(2022, 7, 1), date(2024, 6, 30), seed=11)


@pytest.fixture
def wh(any_wh: Warehouse, book: Book) -> Warehouse:
    for name in ("applications", "loans", "repayments"):
        any_wh.upsert(name, getattr(book, name).assign(batch_id="t"))
    return any_wh


def _same(sql: pd.DataFrame, frames: pd.DataFrame, keys: list[str]) -> None:
    a = sql.sort_values(keys, ignore_index=True)
    b = frames.sort_values(keys, ignore_index=True)[list(a.columns)]
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_transition_counts_sql_equals_pandas(wh: Warehouse, book: Book) -> None:
    sql = R.load_transition_counts(wh, AS_OF, 7)
    froms = R.month_ends_back(R.month_end_on_or_before(AS_OF) - pd.offsets.MonthEnd(1), 7)
    frames = R.transition_counts(book.repayments, froms[0].date(), froms[-1].date())
    assert sql["as_of_month"].max() == pd.Timestamp("2024-01-31")  # Feb tape: the latest known
    assert sql["loans"].sum() > 10_000
    _same(sql, frames, R.COUNT_COLUMNS[:3])


def test_transition_counts_from_a_wider_read_equal_a_direct_read(wh: Warehouse) -> None:
    from pipelines.warehouse import tape_cache

    tape_cache.clear()
    direct = R.load_transition_counts(wh, AS_OF, 7)
    tape_cache.clear()
    wide = R.load_transition_counts(wh, AS_OF, 12)
    shared = R.load_transition_counts(wh, AS_OF, 7, 12)
    assert direct["as_of_month"].min() > wide["as_of_month"].min()
    pd.testing.assert_frame_equal(shared, direct)  # same rows, order, index and dtypes
    assert R.load_transition_counts(wh, AS_OF, 12, 7) is wide  # one read: the cached frame


def test_vintage_counts_sql_equals_pandas(wh: Warehouse, book: Book) -> None:
    sql = R.load_vintage_counts(wh, AS_OF, 12)
    # loans of March (after the last tape, Feb 29) are left out: no month on book yet
    frames = R.vintage_counts(book.loans, book.repayments, date(2023, 4, 1), date(2024, 2, 29))
    _same(sql.fillna({"first_bad_mob": -1}), frames.fillna({"first_bad_mob": -1}),
          ["origination_date", "first_bad_mob"])
    curves = R.vintage_curves(sql, AS_OF)
    assert curves.index[0] == "2023-04" and curves.index[-1] == "2024-02"
    seen = curves.notna().sum(axis=1)
    assert seen["2023-04"] == 11 and seen["2024-02"] == 1
    through_day = R.vintage_curves(R.vintage_counts(book.loans, book.repayments,
                                                    date(2023, 4, 1), AS_OF), AS_OF)
    assert through_day.loc["2024-03"].isna().all()  # what leaving March out loses: nothing
    pd.testing.assert_frame_equal(curves, through_day.drop(index="2024-03"))


def test_early_delinquency_counts_sql_equals_pandas(wh: Warehouse, book: Book) -> None:
    recent, baseline = P.ed_months(AS_OF, 3, 6)
    sql = P.load_early_delinquency_counts(wh, baseline[0].date(), recent[-1].date(), 3, "31-60")
    frames = P.early_delinquency_counts(book.repayments, book.loans, baseline[0].date(),
                                        recent[-1].date(), 3, "31-60")
    assert sql["events"].sum() > 0
    _same(sql, frames, P.ED_COLUMNS[:3])


def test_realised_performance_matches_the_truth(wh: Warehouse, book: Book) -> None:
    """Score every application of 2022-09..2023-03 with its true PD (a perfectly calibrated
    model): labels read back as of mid-2024 must be the simulator's 12-month outcomes, and the
    estimate from PDs must sit within sampling error of the realised AUC."""
    apps, truth = book.applications, book.truth
    keep = ((apps["business_date"] >= "2022-09-01") & (apps["business_date"] <= "2023-03-31"))
    wh.upsert("scores", pd.DataFrame({
        "application_id": apps.loc[keep, "application_id"], "model_version": "1",
        "role": "champion", "model_name": "m", "business_date": apps.loc[keep, "business_date"],
        "pd": truth.loc[keep, "true_pd"], "score": 0.0, "decision": "approve",
        "run_id": "t", "scored_at": pd.Timestamp("2024-01-01")}))
    as_of = date(2024, 6, 30)
    vintages = P.mature_vintages(as_of, 12, 12)
    assert str(vintages[-1]) == "2023-06"
    frame = P.load_realised(wh, as_of, FeatureConfig(), vintages)
    booked = truth[keep & truth["booked"]]
    assert len(frame) == len(booked)  # every booked loan is matured and observed
    assert frame["bad"].sum() == booked["bad_12m"].sum()
    table = P.realised_by_vintage(frame)
    assert sorted(table["vintage"]) == [f"{m}" for m in pd.period_range("2022-09", "2023-03",
                                                                        freq="M")]
    y, p = frame["bad"].to_numpy(), frame["pd"].to_numpy()
    se = auc_standard_error(M.auc(y, p), y.sum(), y.size - y.sum())
    assert abs(expected_auc(p) - M.auc(y, p)) < 3.5 * se
    assert abs(y.mean() - p.mean()) < 3.5 * np.sqrt(np.sum(p * (1 - p))) / y.size
    assert P.load_realised(wh, as_of, FeatureConfig(), []).empty


def test_window_applications_read_by_date_equal_one_read_and_see_changes(wh: Warehouse) -> None:
    from pipelines.monitoring import window as W
    from pipelines.warehouse.history import load_applications

    W.clear()
    start, end = date(2024, 3, 2), date(2024, 3, 15)
    first = W.window_applications(wh, start, end)
    pd.testing.assert_frame_equal(first, load_applications(wh, start, end))
    # The next day's window: the 13 dates it shares are served from the cache, same result.
    nxt = W.window_applications(wh, date(2024, 3, 3), date(2024, 3, 16))
    pd.testing.assert_frame_equal(nxt, load_applications(wh, date(2024, 3, 3),
                                                         date(2024, 3, 16)))
    # A late application of a cached date, and a date's batch re-validated through the gate.
    late = load_applications(wh, date(2024, 3, 10), date(2024, 3, 10)).head(1)
    wh.upsert("applications", late.drop(columns=["known_bad"]).assign(
        application_id="A-late", batch_id="late", application_ts=pd.Timestamp("2024-03-10 23:00")))
    wh.upsert("validation_results", pd.DataFrame([{
        "batch_id": "t", "suite": "applications", "status": "passed", "rows_in": 1,
        "rows_passed": 1, "rows_quarantined": 0, "expectations_evaluated": 1,
        "expectations_failed": 0, "details": "{}", "report_path": None,
        "validated_at": pd.Timestamp("2030-01-01")}]))
    again = W.window_applications(wh, start, end)
    assert "A-late" in set(again["application_id"])
    pd.testing.assert_frame_equal(again, load_applications(wh, start, end))
    assert W.window_applications(wh, date(2030, 1, 1), date(2030, 1, 14)).empty
