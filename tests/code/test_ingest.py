from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest import IngestError, ingest_file, read_extra
from pipelines.mapping import MappingError
from pipelines.warehouse import Warehouse

TAPE = """app_ref,submitted_at,income_yearly,score,vehicle_price,loan_amount,state,months_at_address,defaulted
X1,2024-01-05 09:30:00,52000,702,24000,21000,CA,14,0
X2,2024-01-05 11:00:00,61000,655,31000,30000,NV,3,1
X3,2024-01-06 15:45:10,48000,590,12000,11500,CA,40,0
"""
MAPPING = """kind: applications
columns:
  application_id: app_ref
  application_ts: submitted_at
  annual_income: income_yearly
  bureau_score: score
target: defaulted
extra_features:
  numeric: [months_at_address]
  categorical: [state]
"""


@pytest.fixture
def tape(tmp_path: Path) -> tuple[Path, Path]:
    csv, mapping = tmp_path / "tape.csv", tmp_path / "mapping.yaml"
    csv.write_text(TAPE)
    mapping.write_text(MAPPING)
    return csv, mapping


def test_csv_with_mapping_lands_typed_with_extras_and_label(any_wh: Warehouse,
                                                            tape: tuple[Path, Path]) -> None:
    result = ingest_file(any_wh, tape[0], "applications", tape[1])
    assert (result.rows_read, result.rows_written) == (3, 3)
    assert result.extra_columns == ["months_at_address", "state"]
    back = any_wh.read("applications", order_by="application_id")
    assert back["annual_income"].tolist() == [52000.0, 61000.0, 48000.0]
    assert back["business_date"].tolist() == [pd.Timestamp("2024-01-05")] * 2 + [
        pd.Timestamp("2024-01-06")]
    assert back["known_bad"].tolist() == [0, 1, 0]
    extras = read_extra(back["extra"])
    assert extras["state"].tolist() == ["CA", "NV", "CA"]
    assert extras["months_at_address"].tolist() == [14.0, 3.0, 40.0]


def test_ingest_twice_is_idempotent(any_wh: Warehouse, tape: tuple[Path, Path]) -> None:
    first = ingest_file(any_wh, tape[0], "applications", tape[1])
    second = ingest_file(any_wh, tape[0], "applications", tape[1])
    assert first.batch_id == second.batch_id
    assert any_wh.count("applications") == 3


def test_parquet_in_small_chunks(sqlite_wh: Warehouse, tmp_path: Path,
                                 tape: tuple[Path, Path]) -> None:
    df = pd.read_csv(tape[0], parse_dates=["submitted_at"])
    big = pd.concat([df.assign(app_ref=df["app_ref"] + f"-{i}") for i in range(10)])
    path = tmp_path / "tape.parquet"
    big.to_parquet(path, index=False)
    result = ingest_file(sqlite_wh, path, "applications", tape[1], chunk_rows=4)
    assert result.rows_written == 30
    assert sqlite_wh.count("applications") == 30


def test_missing_file(sqlite_wh: Warehouse, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="file not found"):
        ingest_file(sqlite_wh, tmp_path / "nope.csv", "applications")


def test_empty_file_and_header_only(sqlite_wh: Warehouse, tmp_path: Path) -> None:
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("application_id,application_ts\n")
    with pytest.raises(IngestError, match="file is empty"):
        ingest_file(sqlite_wh, empty, "applications")
    with pytest.raises(IngestError, match="no rows"):
        ingest_file(sqlite_wh, header, "applications")


def test_unreadable_file(sqlite_wh: Warehouse, tmp_path: Path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"not a parquet file at all")
    with pytest.raises(IngestError, match="cannot read"):
        ingest_file(sqlite_wh, bad, "applications")


def test_mapping_naming_absent_columns(sqlite_wh: Warehouse, tape: tuple[Path, Path]) -> None:
    tape[1].write_text(MAPPING.replace("income_yearly", "income_monthly"))
    with pytest.raises(MappingError, match="mapped column 'annual_income' -> 'income_monthly'"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1])
    assert sqlite_wh.count("applications") == 0


def test_mapping_onto_unknown_warehouse_column(sqlite_wh: Warehouse,
                                               tape: tuple[Path, Path]) -> None:
    tape[1].write_text(MAPPING.replace("  bureau_score: score", "  fico: score"))
    with pytest.raises(MappingError, match="fico are not warehouse columns"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1])


def test_duplicate_key_inside_one_file_names_both_rows(sqlite_wh: Warehouse,
                                                       tape: tuple[Path, Path]) -> None:
    tape[0].write_text(TAPE + "X2,2024-01-07 10:00:00,1,700,1,1,CA,1,0\n")
    with pytest.raises(IngestError, match=r"row 4, column 'application_id': unique_key.*first "
                                          r"at row 2"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1])
    assert sqlite_wh.count("applications") == 0


def test_wrong_type_names_row_column_and_value(sqlite_wh: Warehouse,
                                               tape: tuple[Path, Path]) -> None:
    tape[0].write_text(TAPE.replace("61000", "sixty-one k"))
    with pytest.raises(IngestError, match=r"row 2, column 'annual_income': type:float "
                                          r"\(value 'sixty-one k'\)"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1])
    assert sqlite_wh.count("applications") == 0


def test_error_in_a_late_chunk_leaves_nothing_half_written(sqlite_wh: Warehouse,
                                                           tape: tuple[Path, Path]) -> None:
    tape[0].write_text(TAPE.replace("2024-01-06 15:45:10", "not-a-date"))
    with pytest.raises(IngestError, match="row 3, column 'application_ts'"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], chunk_rows=1)
    assert sqlite_wh.count("applications") == 0


def test_label_outside_zero_one_is_rejected(sqlite_wh: Warehouse,
                                            tape: tuple[Path, Path]) -> None:
    tape[0].write_text(TAPE.replace(",3,1\n", ",3,2\n"))
    with pytest.raises(IngestError, match="column 'known_bad': type:label"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1])
