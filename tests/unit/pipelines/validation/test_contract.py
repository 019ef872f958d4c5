"""The book's data contract: declared by the first batch that brings a column, checked on every
later batch, and the day's scoring re-validation checks what the book declared, not the
warehouse's full schema."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.core.settings import Settings
from pipelines.ingest.load import ingest_frame
from pipelines.validation.contract import load_contract, unchecked_columns
from pipelines.validation.gate import BatchRejected
from pipelines.validation.quarantine import load_suite
from pipelines.warehouse.engine import Warehouse

KEYS_BY_B1 = dict.fromkeys(("application_id", "application_ts", "business_date"), "b1")


def applications(day: str, n: int = 20, **columns: object) -> pd.DataFrame:
    ts = pd.Timestamp(day) + pd.Timedelta(hours=10)
    frame = pd.DataFrame({"application_id": [f"{day}-{i}" for i in range(n)],
                          "application_ts": ts, "business_date": ts.normalize()})
    for name, value in columns.items():
        frame[name] = value
    return frame


def ingest(settings: Settings, wh: Warehouse, frame: pd.DataFrame, batch: str) -> None:
    day = pd.Timestamp(frame["business_date"].iloc[0]).date()
    ingest_frame(settings, wh, frame, "applications", batch, day)


def test_a_declared_column_that_goes_missing_rejects_the_batch(settings: Settings,
                                                               sqlite_wh: Warehouse) -> None:
    ingest(settings, sqlite_wh, applications("2024-03-01", annual_income=50_000.0,
                                             term_months=60), "b1")
    assert load_contract(sqlite_wh, "applications").declared == {
        **KEYS_BY_B1, "annual_income": "b1", "term_months": "b1"}
    with pytest.raises(BatchRejected, match=r"expect_column_to_exist\(column=annual_income\): "
                                            r"failed \[the book's data contract declares it, "
                                            r"first brought by batch b1\]"):
        ingest(settings, sqlite_wh, applications("2024-03-04", term_months=60), "b2")
    assert sqlite_wh.count("applications") == 20  # nothing of the rejected batch


def test_a_mostly_empty_declared_column_is_rejected_by_name(settings: Settings,
                                                            sqlite_wh: Warehouse) -> None:
    ingest(settings, sqlite_wh, applications("2024-03-01", annual_income=50_000.0), "b1")
    half = applications("2024-03-04", annual_income=50_000.0)
    half.loc[::2, "annual_income"] = None
    with pytest.raises(BatchRejected, match="annual_income"):
        ingest(settings, sqlite_wh, half, "b2")


def test_a_new_column_extends_the_contract(settings: Settings, sqlite_wh: Warehouse) -> None:
    ingest(settings, sqlite_wh, applications("2024-03-01", term_months=60), "b1")
    ingest(settings, sqlite_wh, applications("2024-03-04", term_months=60,
                                             annual_income=40_000.0), "b2")
    assert load_contract(sqlite_wh, "applications").declared == {
        **KEYS_BY_B1, "term_months": "b1", "annual_income": "b2"}
    details = sqlite_wh.read("validation_results", where="batch_id = 'b2'")["details"].iloc[0]
    assert '"declared_columns": ["annual_income"]' in details
    assert '"checked_columns": ["application_id", "application_ts", "business_date"' in details


def test_scoring_rechecks_what_the_book_declared_and_the_models_use(
        settings: Settings, sqlite_wh: Warehouse) -> None:
    suite = load_suite("applications", settings)
    assert unchecked_columns(suite, load_contract(sqlite_wh, "applications"), []) == []
    ingest(settings, sqlite_wh, applications("2024-03-01", term_months=60), "b1")
    skipped = unchecked_columns(suite, load_contract(sqlite_wh, "applications"),
                                ["bureau_score"])
    assert "term_months" not in skipped and "bureau_score" not in skipped
    assert {"vehicle_price", "annual_income", "dealer_id"} <= set(skipped)
    assert not {"application_id", "application_ts", "business_date"} & set(skipped)


