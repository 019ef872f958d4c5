from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.settings import Settings
from pipelines.ingest.load import IngestError, ingest_file
from pipelines.ingest.mapping import MappingError
from pipelines.validation.gate import BatchRejected
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import read_extra

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


HEADER = TAPE.splitlines()[0]


def long_tape(n: int = 40) -> list[str]:
    """n valid rows in TAPE's layout: big enough that one bad row stays under the batch-level
    shares (5% nulls), so it is quarantined rather than rejecting the file."""
    return [f"Y{i},2024-01-05 10:{i % 60:02d}:00,{50_000 + i},{600 + i},20000,18000,CA,{i},0"
            for i in range(1, n + 1)]


def write_tape(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8",
                    errors="surrogateescape")
    return path


def quarantined(wh: Warehouse) -> list[tuple[int, str, str, str]]:
    q = wh.read("quarantine", order_by="row_number, rule")
    return [(int(r.row_number), r.rule, r.column_name, r.value) for r in q.itertuples()]


def verdict(wh: Warehouse) -> tuple[str, int, int, int]:
    v = wh.read("validation_results")
    assert len(v) == 1
    return (v["status"].iloc[0], int(v["rows_in"].iloc[0]), int(v["rows_passed"].iloc[0]),
            int(v["rows_quarantined"].iloc[0]))


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


def test_empty_file_and_header_only_are_rejected_on_record(sqlite_wh: Warehouse,
                                                           settings: Settings,
                                                           tmp_path: Path) -> None:
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("application_id,application_ts\n")
    with pytest.raises(BatchRejected, match=r"expect_table_row_count_to_be_between\(min_value=1"
                                            r"\): observed 0"):
        ingest_file(sqlite_wh, empty, "applications", settings=settings)
    with pytest.raises(BatchRejected, match="observed 0"):
        ingest_file(sqlite_wh, header, "applications", settings=settings)
    assert sqlite_wh.count("applications") == 0
    v = sqlite_wh.read("validation_results")
    assert v["status"].tolist() == ["rejected"] * 2 and v["rows_in"].tolist() == [0, 0]


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


def test_missing_required_column_is_rejected_by_the_gate(sqlite_wh: Warehouse,
                                                         settings: Settings,
                                                         tape: tuple[Path, Path]) -> None:
    df = pd.read_csv(tape[0]).drop(columns=["submitted_at"])
    df.to_csv(tape[0], index=False)
    with pytest.raises(BatchRejected, match=r"expect_column_to_exist\(column=application_ts\)"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert sqlite_wh.count("applications") == 0
    assert verdict(sqlite_wh)[0] == "rejected"


def test_duplicate_key_above_the_share_rejects_the_file(sqlite_wh: Warehouse,
                                                        settings: Settings,
                                                        tape: tuple[Path, Path]) -> None:
    write_tape(tape[0], [*long_tape(), "Y2,2024-01-05 12:00:00,1,700,1,1,CA,1,0"])
    with pytest.raises(BatchRejected, match=r"expect_column_values_to_be_unique\(column="
                                            r"application_id, mostly=0.999\)"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert sqlite_wh.count("applications") == 0 and sqlite_wh.count("quarantine") == 0


def test_duplicate_key_below_the_share_quarantines_the_later_copy(
        sqlite_wh: Warehouse, home: Path, tape: tuple[Path, Path]) -> None:
    settings = Settings(validation={"max_duplicate_key_share": 0.05})
    write_tape(tape[0], [*long_tape(), "Y2,2024-01-05 12:00:00,1,700,1,1,CA,1,0"])
    result = ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert (result.status, result.rows_read, result.rows_written,
            result.rows_quarantined) == ("quarantined", 41, 40, 1)
    assert quarantined(sqlite_wh) == [(41, "unique_key", "application_id",
                                       "Y2 (first at row 2)")]
    kept = sqlite_wh.read("applications", where="application_id = 'Y2'")
    assert kept["annual_income"].tolist() == [50_002.0]  # the first copy, not the later one


def test_wrong_type_is_quarantined_with_row_column_and_value(sqlite_wh: Warehouse,
                                                             settings: Settings,
                                                             tape: tuple[Path, Path]) -> None:
    rows = long_tape()
    rows[1] = rows[1].replace("50002", "sixty-one k")
    write_tape(tape[0], rows)
    result = ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert quarantined(sqlite_wh) == [(2, "type:float", "annual_income", "sixty-one k")]
    assert verdict(sqlite_wh) == ("quarantined", 40, 39, 1)
    assert result.rows_written == sqlite_wh.count("applications") == 39
    payload = json.loads(sqlite_wh.read("quarantine")["payload"].iloc[0])
    assert payload["app_ref"] == "Y2" and payload["income_yearly"] == "sixty-one k"


def test_too_many_unreadable_values_reject_the_file(sqlite_wh: Warehouse, settings: Settings,
                                                    tape: tuple[Path, Path]) -> None:
    tape[0].write_text(TAPE.replace("61000", "sixty-one k"))  # 1 of 3 rows: 33% > 5%
    with pytest.raises(BatchRejected, match=r"expect_column_values_to_not_be_null\(column="
                                            r"annual_income, mostly=0.95\)"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert sqlite_wh.count("applications") == 0


def test_bad_value_in_a_late_chunk_is_quarantined(sqlite_wh: Warehouse, settings: Settings,
                                                  tape: tuple[Path, Path]) -> None:
    rows = long_tape()
    rows[-1] = rows[-1].replace("2024-01-05 10:40:00", "not-a-date")
    write_tape(tape[0], rows)
    ingest_file(sqlite_wh, tape[0], "applications", tape[1], chunk_rows=7, settings=settings)
    assert quarantined(sqlite_wh) == [(40, "type:datetime", "application_ts", "not-a-date")]
    assert sqlite_wh.count("applications") == 39


def test_rejection_in_small_chunks_leaves_nothing_half_written(sqlite_wh: Warehouse,
                                                               settings: Settings,
                                                               tape: tuple[Path, Path]) -> None:
    rows = [r.replace(",20000,18000,", ",20000,-18000,") for r in long_tape()]  # all bad
    write_tape(tape[0], rows)
    with pytest.raises(BatchRejected, match="max_quarantine_share"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], chunk_rows=1, settings=settings)
    assert sqlite_wh.count("applications") == 0 and sqlite_wh.count("quarantine") == 0


def test_label_outside_zero_one_is_quarantined(sqlite_wh: Warehouse, settings: Settings,
                                               tape: tuple[Path, Path]) -> None:
    rows = long_tape()
    rows[4] = rows[4][:-1] + "2"
    write_tape(tape[0], rows)
    ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert quarantined(sqlite_wh) == [(5, "type:label", "known_bad", "2")]


def test_non_utf8_bytes_in_a_text_column_are_quarantined(sqlite_wh: Warehouse,
                                                         settings: Settings,
                                                         tape: tuple[Path, Path]) -> None:
    rows = long_tape()
    rows[2] = rows[2].replace(",CA,", ",M\udce9xico,")  # a Latin-1 byte in a UTF-8 file
    write_tape(tape[0], rows)
    ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert quarantined(sqlite_wh) == [(3, "encoding:utf-8", "state", "M\\udce9xico")]
    assert sqlite_wh.count("applications") == 39


def test_quarantine_and_rows_land_in_one_transaction(sqlite_wh: Warehouse, settings: Settings,
                                                     tape: tuple[Path, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = long_tape()
    rows[0] = rows[0].replace(",20000,18000,", ",20000,-1,")
    write_tape(tape[0], rows)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("pipelines.ingest.load.record_gate", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(sqlite_wh, tape[0], "applications", tape[1], settings=settings)
    assert sqlite_wh.count("applications") == 0 and sqlite_wh.count("quarantine") == 0
