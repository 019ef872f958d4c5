"""Issue 16, hardening from a hostile-input probe (items 8 and 10), one test each:

8. no raw applicant id in any CLI output: the validate and ingest summaries show pseudonyms, as
   the reports do;
10. every error is one line that names what is wrong:
   - timestamps with UTC offsets (one or mixed) are stored UTC-naive; an unreadable one is
     quarantined by rule, column and value;
   - a malformed mapping YAML names the key and what it should be;
   - an absurd ``--date`` (year 1, 2300), a bad ``--kind`` or ``--scenario`` is a usage error:
     exit 2, one line; the closed sets are listed in ``--help``;
   - a NUL byte in a CSV value quarantines the row (it used to cut the value short);
   - a CSV or Parquet header that repeats a column is refused by name;
   - a flow that fails prints one line, not Prefect's traceback (which ``--debug`` shows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from pipelines.core.privacy import pseudonymise
from pipelines.core.settings import Settings, reveal
from pipelines.ingest.load import IngestError, ingest_file, load_batch
from pipelines.ingest.mapping import MappingError, load_mapping
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.engine import Warehouse

pytestmark = pytest.mark.reliability
runner = CliRunner()
DAY = date(2025, 7, 20)


def tape(tmp: Path, n: int = 40, name: str = "tape.csv", **edits: dict[int, object]) -> Path:
    """A clean applications tape of ``n`` rows, with ``edits`` (column -> {row: value})."""
    apps = simulate_book(n, DAY, DAY, seed=3).applications.drop(columns=["business_date"])
    # the simulator's tail may break a rule (PTI above 1): keep the tape clean but for the edits
    apps["annual_income"] = apps["annual_income"].clip(lower=24 * apps["monthly_payment"])
    apps["application_ts"] = apps["application_ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    apps = apps.astype({c: object for c in edits})
    for column, rows in edits.items():
        for row, value in rows.items():
            apps.loc[row, column] = value
    path = tmp / name
    apps.to_csv(path, index=False)
    return path


def one_line_error(result: object, code: int) -> str:
    """The one stderr line of a failed command (its exit code checked)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


# -- 8. applicant ids in CLI output -------------------------------------------------------------

def test_cli_summaries_show_pseudonyms_never_a_raw_applicant_id(home: Path,
                                                                 tmp_path: Path) -> None:
    path = tape(tmp_path, application_id={5: "APP-SECRET-7", 6: "APP-SECRET-7",
                                          9: "APP-SECRET-9"}, vehicle_segment={9: "zeppelin"})
    raw_ids = set(pd.read_csv(path, dtype=str)["application_id"])
    pseudonym = pseudonymise(["APP-SECRET-7"], reveal(Settings().security.id_salt) or "")[0]
    for args in (["validate", str(path)], ["validate", str(path), "--json"],
                 ["ingest", str(path), "--json"]):
        result = runner.invoke(app, args)  # rejected: a repeated key is over its batch share
        assert result.exit_code == 1 and "rejected" in result.output, result.output
        shown = [i for i in raw_ids if i in result.stdout or i in result.stderr]
        assert not shown, (args, shown)
    out = json.loads(runner.invoke(app, ["validate", str(path), "--json"]).stdout)
    examples = {q["rule"]: q["example"] for q in out["quarantine_by_rule"]}
    assert examples["unique_key"] == f"{pseudonym} (first at row 6)"
    assert examples["in_set"] == "zeppelin"  # not an identifier: shown as it is


# -- 10. timestamps with UTC offsets ---------------------------------------------------------

def test_timestamps_with_offsets_are_stored_utc_naive(sqlite_wh: Warehouse, settings: Settings,
                                                      tmp_path: Path) -> None:
    path = tape(tmp_path, application_ts={
        0: "2025-07-20T10:00:00+02:00", 1: "2025-07-20T10:00:00-05:00",
        2: "2025-07-20T10:00:00Z", 3: "2025-07-20 10:00:00", 4: "2025-07-20T20:30:00-03:00",
        5: "0001-07-20T10:00:00+02:00"})
    ids = pd.read_csv(path, dtype=str)["application_id"]
    result = ingest_file(sqlite_wh, path, "applications", settings=settings, business_date=DAY)
    assert (result.rows_written, result.rows_quarantined) == (39, 1)
    back = sqlite_wh.read("applications").set_index("application_id")
    stored = pd.to_datetime(back.loc[ids[:5], "application_ts"]).dt.strftime("%Y-%m-%d %H:%M")
    assert stored.tolist() == ["2025-07-20 08:00", "2025-07-20 15:00", "2025-07-20 10:00",
                               "2025-07-20 10:00", "2025-07-20 23:30"]
    q = sqlite_wh.read("quarantine")
    assert q[["row_number", "rule", "column_name", "value"]].values.tolist() == [
        [6, "type:datetime", "application_ts", "0001-07-20T10:00:00+02:00"]]


def test_a_single_offset_and_a_parquet_time_zone_are_converted_too(tmp_path: Path) -> None:
    path = tape(tmp_path, n=3, application_ts={i: f"2025-07-20T1{i}:00:00+02:00"
                                               for i in range(3)})
    frame = load_batch(path, "applications").frame
    assert frame["application_ts"].dt.hour.tolist() == [8, 9, 10]
    apps = pd.read_csv(path)
    apps["application_ts"] = pd.to_datetime(apps["application_ts"], utc=True).dt.tz_convert(
        "Europe/Berlin")
    apps.to_parquet(tmp_path / "tz.parquet")
    frame = load_batch(tmp_path / "tz.parquet", "applications").frame
    assert frame["application_ts"].dt.hour.tolist() == [8, 9, 10]
    assert frame["application_ts"].dt.tz is None


# -- 10. malformed mapping YAML --------------------------------------------------------------

@pytest.mark.parametrize(("mapping", "key"), [
    ({"columns": ["application_id", "app_ref"]}, "columns"),
    ({"columns": {"application_id": ["app_ref"]}}, "columns.application_id"),
    ({"extra_features": ["state"]}, "extra_features"),
    ({"extra_features": {"numeric": "months_at_address"}}, "extra_features.numeric"),
    ({"extra_features": {"categorical": ["state", {"x": 1}]}}, "extra_features.categorical"),
    ({"target": {"column": "bad"}}, "target"),
])
def test_a_malformed_mapping_names_the_key_and_what_it_expects(
        home: Path, tmp_path: Path, mapping: dict, key: str) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    with pytest.raises(MappingError) as err:
        load_mapping(path, "applications")
    assert f"mapping file {path}: {key} must " in str(err.value)
    result = runner.invoke(app, ["ingest", str(tape(tmp_path, n=3)), "--mapping", str(path)])
    assert str(err.value) in one_line_error(result, 1)


@pytest.mark.parametrize(("mapping", "where", "entry"), [
    ({"colums": {"application_id": "app_ref"}}, "", "colums"),
    ({"kind": "applications", "tagret": "defaulted"}, "", "tagret"),
    ({"extra_features": {"numerics": ["months_at_address"]}}, ": extra_features", "numerics"),
])
def test_a_misspelt_mapping_entry_is_refused_not_ignored(
        home: Path, tmp_path: Path, mapping: dict, where: str, entry: str) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    with pytest.raises(MappingError, match=rf"{where}: unknown entry {entry} \(allowed: "):
        load_mapping(path, "applications")


# -- 10. usage errors ------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["score", "--date", "0001-01-01"], ["score", "--date", "2300-01-01"],
    ["score", "--date", "2025-13-01"], ["backfill", "--from", "2025-06-01", "--to", "0001-01-01"],
    ["monitor", "--date", "99999-01-01"], ["simulate", "--start", "yesterday", "--no-load"],
    ["validate", "x.csv", "--kind", "invoices"], ["ingest", "x.csv", "--kind", "scores"],
    ["simulate", "--scenario", "meteor", "--no-load"], ["demo", "--scenario", "meteor"],
    ["no-such-command"],
])
def test_every_usage_error_exits_2_with_one_line(home: Path, args: list[str]) -> None:
    line = one_line_error(runner.invoke(app, args), 2)
    assert "Invalid value" in line or "No such command" in line
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 2
    assert json.loads(as_json.stdout)["ok"] is False


def test_closed_sets_are_listed_in_help() -> None:
    def help_of(*command: str) -> str:  # wide enough for rich not to wrap a choice list
        return runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"}).stdout

    assert "applications|loans|repayments|features|roll_features|scores" in help_of("validate")
    assert "applications|loans|repayments" in help_of("ingest")
    assert "features" not in help_of("ingest")
    for command in ("simulate", "demo"):
        assert "none|used_car_mix|income_shock|dealer_fraud" in help_of(command)


# -- 10. NUL bytes and repeated headers ------------------------------------------------------

def test_a_nul_byte_in_a_value_quarantines_the_row(any_wh: Warehouse, settings: Settings,
                                                   tmp_path: Path) -> None:
    path = tape(tmp_path, vehicle_segment={3: "suv\x00truck"}, dealer_id={7: "D\x0012"},
                application_id={11: "A\x00B"})
    result = ingest_file(any_wh, path, "applications", settings=settings, business_date=DAY)
    assert (result.rows_written, result.rows_quarantined) == (37, 3)
    q = any_wh.read("quarantine", order_by="row_number")
    assert q[q["rule"] == "encoding:nul"][["row_number", "column_name", "value"]].values.tolist() \
        == [[4, "vehicle_segment", "suv\\x00truck"], [8, "dealer_id", "D\\x0012"],
            [12, "application_id", "A\\x00B"]]
    assert "\x00" not in "".join(q["record_key"].dropna())  # stored escaped, on PostgreSQL too
    assert json.loads(q["payload"].iloc[0])["vehicle_segment"] == "suv\\x00truck"  # escaped


def test_a_repeated_header_is_refused_by_name(home: Path, tmp_path: Path) -> None:
    clean = pd.read_csv(tape(tmp_path, n=3), dtype=str)
    csv = tmp_path / "twice.csv"
    csv.write_text(clean.to_csv(index=False).replace("loan_amount", "bureau_score", 1))
    with pytest.raises(IngestError, match="the header repeats column\\(s\\) 'bureau_score'"):
        load_batch(csv, "applications")
    line = one_line_error(runner.invoke(app, ["validate", str(csv)]), 1)
    assert "'bureau_score'" in line
    table = pa.Table.from_pandas(clean, preserve_index=False)
    parquet = tmp_path / "twice.parquet"
    pq.write_table(table.rename_columns(
        ["vehicle_price" if c == "loan_amount" else c for c in table.column_names]), parquet)
    with pytest.raises(IngestError, match="repeats column\\(s\\) 'vehicle_price'"):
        load_batch(parquet, "applications")


# -- 10. a failing flow ----------------------------------------------------------------------

def test_a_failed_flow_run_prints_one_line_and_debug_the_traceback(
        home: Path, prefect_harness: None) -> None:
    """A real process (Prefect's console handler writes to the process's stderr, which
    CliRunner does not capture), against the session's Prefect API: no champion to score with."""
    from prefect.settings import PREFECT_API_URL

    assert runner.invoke(app, ["init"]).exit_code == 0
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "PYTHONWARNINGS": "ignore"}  # library warnings at import are not the point here

    def score(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "flows.cli", "score", "--date",
                               "2025-06-02", *extra], env=env, capture_output=True, text=True,
                              timeout=300, check=False)

    plain = score()
    assert plain.returncode == 1, plain.stderr
    lines = plain.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error")] == lines[-1:], plain.stderr
    assert "no champion" in lines[-1]
    assert "Traceback" not in plain.stderr and "Encountered exception" not in plain.stderr
    debug = score("--debug")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "no champion" in debug.stderr
