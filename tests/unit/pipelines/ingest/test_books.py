"""The lender-shaped books of ``tests.books`` land through ingest exactly as the simulator made
them: every format and word in their mappings reads back the simulator's values."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.settings import Settings
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import read_extra
from tests.books import NON_AUTO_EXTRAS, auto_book, ingest_book, non_auto_book


@pytest.fixture(scope="module")
def book() -> Book:
    return simulate_book(400, date(2023, 1, 1), date(2023, 9, 30), seed=11)


def test_the_auto_book_lands_as_simulated(sqlite_wh: Warehouse, settings: Settings,
                                          book: Book, tmp_path: Path) -> None:
    lender = auto_book(book, tmp_path)
    assert len(pd.read_csv(lender.files["applications"]).columns) == 12
    results = ingest_book(sqlite_wh, lender, settings)
    assert {k: (r.rows_written, r.rows_quarantined) for k, r in results.items()} == {
        "applications": (400, 0), "loans": (len(book.loans), 0),
        "repayments": (len(book.repayments), 0)}
    apps = sqlite_wh.read("applications", order_by="application_id")
    want = book.applications.sort_values("application_id").reset_index(drop=True)
    for column in ("annual_income", "vehicle_price", "loan_amount", "monthly_payment",
                   "interest_rate", "bureau_score", "term_months"):
        np.testing.assert_allclose(apps[column].astype(float), want[column], err_msg=column)
    assert (apps["vehicle_condition"] == want["vehicle_condition"]).all()
    assert (apps["application_ts"] == want["application_ts"].dt.floor("min")).all()
    owner = read_extra(apps["extra"])["HomeOwner"]
    assert (owner == want["housing"].isin(["own", "mortgage"]).astype(float)).all()
    tape = sqlite_wh.read("repayments", order_by="loan_id, as_of_month")
    sim = book.repayments.sort_values(["loan_id", "as_of_month"]).reset_index(drop=True)
    for column in ("dpd_bucket", "status", "as_of_month", "months_on_book"):
        assert (tape[column] == sim[column]).all(), column
    np.testing.assert_allclose(tape["balance"], sim["balance"])


@pytest.mark.parametrize("tape", [False, True])
def test_the_non_auto_book_lands_with_its_label_or_tape(sqlite_wh: Warehouse, settings: Settings,
                                                        book: Book, tmp_path: Path,
                                                        tape: bool) -> None:
    lender = non_auto_book(book, tmp_path, tape=tape)
    results = ingest_book(sqlite_wh, lender, settings)
    assert all(r.rows_quarantined == 0 for r in results.values())
    assert sorted(results) == (["applications", "loans", "repayments"] if tape
                               else ["applications"])
    apps = sqlite_wh.read("applications", order_by="application_id")
    assert apps[["vehicle_price", "dealer_id", "bureau_score", "loan_amount",
                 "annual_income"]].isna().all().all()
    truth = book.truth.sort_values("application_id")["bad_12m"].to_numpy()
    if tape:
        assert apps["known_bad"].isna().all()
    else:
        np.testing.assert_array_equal(apps["known_bad"].astype(float), truth)
    extra = read_extra(apps["extra"])
    assert sorted(extra.columns) == sorted(NON_AUTO_EXTRAS)
    np.testing.assert_allclose(extra["Income"], want_income(book), atol=1e-6)
    want = book.applications.sort_values("application_id").reset_index(drop=True)
    np.testing.assert_allclose(extra["DebtRatio"],
                               want["monthly_debt"] * 12 / want["annual_income"], atol=1e-6)
    assert (apps["application_ts"] == want["application_ts"].dt.normalize()).all()


def want_income(book: Book) -> np.ndarray:
    return book.applications.sort_values("application_id")["annual_income"].to_numpy()
