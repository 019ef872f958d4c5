from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import inspect

from pipelines.warehouse.engine import Warehouse, WarehouseError
from pipelines.warehouse.schema import metadata


def _apps(ids: list[str], income: float = 50_000.0) -> pd.DataFrame:
    ts = pd.to_datetime(["2025-03-01 10:15:30.250000"] * len(ids))
    return pd.DataFrame({
        "application_id": ids, "application_ts": ts, "business_date": ts.normalize(),
        "annual_income": income, "term_months": 60, "housing": ["rent"] * len(ids),
        "bureau_score": [700.0, None][: len(ids)] + [650.0] * max(0, len(ids) - 2),
        "batch_id": "b1",
    })


def test_init_creates_every_table_and_is_idempotent(any_wh: Warehouse) -> None:
    rev1 = any_wh.init()
    rev2 = any_wh.init()
    assert rev1 == rev2
    tables = set(inspect(any_wh.engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_round_trip_preserves_types_nulls_and_timestamps(any_wh: Warehouse) -> None:
    df = _apps(["A1", "A2"])
    any_wh.upsert("applications", df)
    back = any_wh.read("applications", order_by="application_id")
    assert list(back["application_id"]) == ["A1", "A2"]
    assert back["application_ts"].iloc[0] == pd.Timestamp("2025-03-01 10:15:30.250000")
    assert back["business_date"].iloc[0] == pd.Timestamp("2025-03-01")
    assert back["bureau_score"].isna().tolist() == [False, True]
    assert back["term_months"].tolist() == [60, 60]


def test_upsert_on_natural_key_never_duplicates(any_wh: Warehouse) -> None:
    any_wh.upsert("applications", _apps(["A1", "A2"]))
    any_wh.upsert("applications", _apps(["A1", "A2", "A3"], income=90_000.0))
    back = any_wh.read("applications", order_by="application_id")
    assert len(back) == 3
    assert (back["annual_income"] == 90_000.0).all()


def test_read_with_bound_parameters(any_wh: Warehouse) -> None:
    any_wh.upsert("applications", _apps(["A1", "A2", "A3"]))
    hostile = "A1' OR '1'='1"
    assert any_wh.read("applications", "application_id = :i", {"i": hostile}).empty
    assert len(any_wh.read("applications", "application_id = :i", {"i": "A2"})) == 1


def test_transaction_rolls_back_every_write_on_error(any_wh: Warehouse) -> None:
    with pytest.raises(RuntimeError), any_wh.begin() as conn:
        any_wh.upsert("applications", _apps(["A1", "A2"]), conn=conn)
        raise RuntimeError("crash after first write")
    assert any_wh.count("applications") == 0


def test_chunked_read_streams_all_rows(any_wh: Warehouse) -> None:
    any_wh.upsert("applications", _apps([f"A{i:03d}" for i in range(25)]), chunk_rows=7)
    chunks = list(any_wh.read_chunks("applications", None, None, 10, "application_id"))
    assert [len(c) for c in chunks] == [10, 10, 5]


def test_unreachable_database_is_a_clear_error_without_password() -> None:
    wh = Warehouse("postgresql+psycopg://user:topsecret@127.0.0.1:1/nowhere")
    with pytest.raises(WarehouseError) as err:
        wh.init()
    assert "topsecret" not in str(err.value)
    assert "cannot initialise warehouse" in str(err.value)
