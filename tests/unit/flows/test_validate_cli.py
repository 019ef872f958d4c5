"""``creditflow validate PATH --kind ...``: the gate alone on a file, as a person runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from flows.cli import app
from pipelines.core.settings import Settings
from pipelines.warehouse.engine import Warehouse

runner = CliRunner()
HEADER = "application_id,application_ts,applicant_age,loan_amount,vehicle_price,vehicle_segment"


def apps_csv(path: Path, rows: int = 40, bad: dict[int, str] | None = None) -> Path:
    lines = [HEADER] + [f"A{i},2024-02-01 10:00:00,{30 + i % 40},18000,20000,suv"
                        for i in range(rows)]
    for i, line in (bad or {}).items():
        lines[i + 1] = line
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["validate", *args, "--json"])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_validate_json_reports_quarantined_rows_without_writing(home: Path,
                                                                tmp_path: Path) -> None:
    path = apps_csv(tmp_path / "apps.csv", bad={3: "A3,2024-02-01 10:00:00,12,18000,20000,suv",
                                                5: "A5,2024-02-01 10:00:00,40,18000,20000,"
                                                   "zeppelin"})
    code, out = invoke(str(path), "--kind", "applications")
    assert code == 0 and out["ok"] is True
    assert (out["status"], out["rows_in"], out["rows_passed"], out["rows_quarantined"]) == (
        "quarantined", 40, 38, 2)
    assert {(q["rule"], q["column"], q["rows"]) for q in out["quarantine_by_rule"]} == {
        ("between", "applicant_age", 1), ("in_set", "vehicle_segment", 1)}
    assert out["business_date"] == "2024-02-01"
    assert Path(out["report_path"]).is_file()
    wh = Warehouse.from_settings(Settings())
    assert wh.count("validation_results") == 0 and wh.count("quarantine") == 0  # a dry run


def test_validate_record_stores_the_verdict(home: Path, tmp_path: Path) -> None:
    path = apps_csv(tmp_path / "apps.csv", bad={0: "A0,2024-02-01 10:00:00,101,1,1,suv"})
    code, out = invoke(str(path), "--kind", "applications", "--record")
    assert code == 0 and out["rows_quarantined"] == 1
    wh = Warehouse.from_settings(Settings())
    assert wh.read("validation_results")["status"].tolist() == ["quarantined"]
    assert wh.read("quarantine")["row_number"].tolist() == [1]


def test_validate_rejected_file_exits_1_naming_the_expectation(home: Path,
                                                               tmp_path: Path) -> None:
    path = tmp_path / "no_ts.csv"
    pd.DataFrame({"application_id": ["A1", "A2"], "applicant_age": [30, 40]}).to_csv(
        path, index=False)
    code, out = invoke(str(path), "--kind", "applications")
    assert code == 1 and out["ok"] is False and out["status"] == "rejected"
    assert "expect_column_to_exist(column=application_ts)" in out["error"]
    plain = runner.invoke(app, ["validate", str(path), "--kind", "applications"])
    assert plain.exit_code == 1 and "expect_column_to_exist" in plain.output


def test_validate_a_scores_file(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    pd.DataFrame({"application_id": [f"A{i}" for i in range(10)], "pd": [0.1] * 9 + [2.0],
                  "score": 600.0, "decision": "approve"}).to_parquet(path)
    code, out = invoke(str(path), "--kind", "scores", "--business-date", "2024-02-01")
    assert code == 0 and out["rows_quarantined"] == 1
    assert out["quarantine_by_rule"][0]["column"] == "pd"


def test_validate_unknown_kind_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    code, out = invoke(str(apps_csv(tmp_path / "a.csv")), "--kind", "invoices")
    assert code == 2 and "'invoices' is not one of" in out["error"]
