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


def test_a_key_repeated_in_one_frame_keeps_its_last_row_or_with_no_update_its_first(
        any_wh: Warehouse) -> None:
    """What row-by-row upserts do, and what PostgreSQL's single staged INSERT must do too (one
    statement cannot touch a key twice)."""
    twice = pd.concat([_apps(["A1", "A2"], income=1.0), _apps(["A1"], income=2.0)],
                      ignore_index=True)
    assert any_wh.upsert("applications", twice) == 3
    back = any_wh.read("applications", order_by="application_id")
    assert back["annual_income"].tolist() == [2.0, 1.0]
    kept = pd.concat([_apps(["A2", "A3"], income=5.0), _apps(["A3"], income=6.0)],
                     ignore_index=True)
    any_wh.upsert("applications", kept, update=False)
    back = any_wh.read("applications", order_by="application_id")
    assert back["annual_income"].tolist() == [2.0, 1.0, 5.0]


def _scores(n: int, version: str = "3") -> pd.DataFrame:
    decisions = ["approve", "review", "decline"]
    return pd.DataFrame({
        "application_id": [f"A{i:06d}" for i in range(n)], "model_version": version,
        "role": "champion", "model_name": "creditflow-pd",
        "business_date": pd.Timestamp("2025-06-02"),
        "pd": [i / (n + 1) for i in range(n)], "score": [500.0 + i % 200 for i in range(n)],
        "decision": [decisions[i % 3] for i in range(n)],
        "reason_1": [None if i % 3 == 0 else f"R{i % 7}" for i in range(n)],
        "reason_text_1": [None if i % 3 == 0 else f"Text, \"quoted\"\t{i}\\n" for i in range(n)],
        "run_id": "run-1", "scored_at": pd.Timestamp("2025-06-02 06:00:01.500000"),
    })


def test_scores_upsert_round_trips_and_replaces(any_wh: Warehouse) -> None:
    first = _scores(2_500)
    any_wh.upsert("scores", first)
    again = first.assign(pd=first["pd"] / 2, run_id="run-2")
    any_wh.upsert("scores", pd.concat([again, _scores(10, version="4")], ignore_index=True))
    back = any_wh.read("scores", where="model_version = :v", params={"v": "3"},
                       order_by="application_id")
    assert len(back) == 2_500 and any_wh.count("scores") == 2_510
    assert back["pd"].tolist() == again["pd"].tolist() and set(back["run_id"]) == {"run-2"}
    for col in ("reason_1", "reason_text_1"):  # NULL stays NULL, text verbatim
        assert back[col].where(back[col].notna(), None).tolist() == again[col].tolist()
    assert (back["business_date"] == pd.Timestamp("2025-06-02")).all()
    assert (back["scored_at"] == pd.Timestamp("2025-06-02 06:00:01.500000")).all()


def test_integer_column_held_as_float_with_a_gap(any_wh: Warehouse) -> None:
    frame = _apps(["A1", "A2"]).assign(term_months=[72.0, float("nan")])
    any_wh.upsert("applications", frame)
    back = any_wh.read("applications", order_by="application_id")
    assert back["term_months"].iloc[0] == 72 and pd.isna(back["term_months"].iloc[1])


def test_postgresql_upsert_stages_through_copy(pg_wh: Warehouse, sqlite_wh: Warehouse) -> None:
    """On PostgreSQL the rows are COPY-ed into a temporary table that is gone once the upsert
    is done, in the same transaction; SQLite keeps executemany."""
    assert pg_wh.copies and not sqlite_wh.copies
    with pg_wh.begin() as conn:
        pg_wh.upsert("scores", _scores(100), conn=conn)
        pg_wh.upsert("scores", _scores(100, version="4"), conn=conn)  # the stage name again
        left = conn.exec_driver_sql("SELECT to_regclass('pg_temp.stage_scores')").scalar()
    assert left is None and pg_wh.count("scores") == 200
