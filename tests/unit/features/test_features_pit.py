"""Point-in-time invariance, train/serve parity and label correctness on a simulated book loaded
into a real SQLite warehouse, read back through the same readers training and scoring use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import build_features, label_applications, maturity_summary
from features.build import FeatureConfig
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    business_day_end,
    load_applications,
    load_outcomes,
    outcomes_from_frames,
)

START, END = date(2022, 1, 1), date(2023, 12, 31)
CUT = date(2023, 6, 30)  # "today" for the point-in-time warehouse


@pytest.fixture(scope="module")
def book() -> Book:
    return simulate_book(3_000, START, END, seed=7, n_dealers=15)


def _warehouse(path: Path, book: Book) -> Warehouse:
    wh = Warehouse(f"sqlite:///{path}")
    wh.init()
    load_book(wh, book, "test-book")
    return wh


def known_at(book: Book, day: date) -> Book:
    """The book as the warehouse held it at the end of ``day``."""
    cut = pd.Timestamp(day)
    apps = book.applications[book.applications["business_date"] <= cut]
    loans = book.loans[book.loans["origination_date"] <= cut]
    tape = book.repayments[book.repayments["as_of_month"] <= cut]
    return replace(book, applications=apps, loans=loans, repayments=tape)


@pytest.fixture(scope="module")
def full_wh(book: Book, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = _warehouse(tmp_path_factory.mktemp("full") / "wh.db", book)
    yield wh
    wh.dispose()


@pytest.fixture(scope="module")
def past_wh(book: Book, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = _warehouse(tmp_path_factory.mktemp("past") / "wh.db", known_at(book, CUT))
    yield wh
    wh.dispose()


def test_features_do_not_change_when_the_future_arrives(past_wh: Warehouse,
                                                        full_wh: Warehouse) -> None:
    as_of = business_day_end(CUT)
    window = (date(2023, 1, 1), CUT)
    before = build_features(load_applications(past_wh, *window), load_outcomes(past_wh, CUT, FeatureConfig()),
                            as_of)
    # Later applications, loans and tape months exist now; the same as_of must give the same
    # features, whether the reader or the builder drops the later facts.
    assert full_wh.count("applications") > past_wh.count("applications")
    assert full_wh.count("repayments") > past_wh.count("repayments")
    for history in (load_outcomes(full_wh, CUT, FeatureConfig()), load_outcomes(full_wh, END, FeatureConfig())):
        after = build_features(load_applications(full_wh, *window), history, as_of)
        pd.testing.assert_frame_equal(before, after, check_exact=True)
    assert (before["dealer_matured_loans_12m"] > 0).mean() > 0.9  # dealer history is exercised


def test_scoring_path_equals_training_path_to_the_bit(full_wh: Warehouse) -> None:
    train_as_of = business_day_end(END)
    training = build_features(load_applications(full_wh, date(2023, 1, 1), END),
                              load_outcomes(full_wh, END, FeatureConfig()), train_as_of)
    days = pd.to_datetime(load_applications(full_wh, date(2023, 1, 1), END)["business_date"])
    for day in sorted(set(days.dt.date))[::37]:
        scoring = build_features(load_applications(full_wh, day, day),
                                 load_outcomes(full_wh, day, FeatureConfig()), business_day_end(day))
        assert len(scoring) > 0
        pd.testing.assert_frame_equal(scoring, training.loc[scoring.index], check_exact=True)
    # The dealer features are not trivially equal: they move from day to day.
    assert training["dealer_matured_loans_12m"].nunique() > 20


def test_load_outcomes_matches_the_simulated_tape(book: Book, full_wh: Warehouse) -> None:
    for as_of in (CUT, END):
        pd.testing.assert_frame_equal(load_outcomes(full_wh, as_of, FeatureConfig()),
                                      outcomes_from_frames(book.loans, book.repayments, as_of, FeatureConfig()))


def test_labels_agree_with_the_ground_truth_on_mature_loans(book: Book,
                                                            full_wh: Warehouse) -> None:
    apps = load_applications(full_wh)
    labels = label_applications(apps, load_outcomes(full_wh, END, FeatureConfig()), pd.Timestamp(END), 12)
    truth = book.truth.set_index("application_id").loc[labels.index]
    np.testing.assert_array_equal(labels["booked"], truth["booked"])
    labelled = labels["bad"].notna()
    np.testing.assert_array_equal(labels.loc[labelled, "bad"], truth.loc[labelled, "bad_12m"])
    # Immature: booked less than 12 months before the cut-off, by the loans' own dates.
    orig = book.loans["origination_date"]
    young = int((orig + pd.DateOffset(months=12) > pd.Timestamp(END)).sum())
    summary = maturity_summary(labels)
    assert summary["immature"] == young > 0
    assert summary["unobserved"] == 0 and summary["labelled"] == summary["mature"] > 1000
    assert 0.03 < summary["bad_rate"] < 0.10
