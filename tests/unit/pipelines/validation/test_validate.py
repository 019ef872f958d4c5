"""The validation gate on small hand-made batches: each bad input of issue 3, both severities,
conservation, the suite format, and what is recorded."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.validation.gate import (
    BatchRejected,
    GateResult,
    record_gate,
    run_gate,
    summary_markdown,
    trailing_average,
)
from pipelines.validation.quarantine import SuiteError, load_suite
from pipelines.warehouse.engine import Warehouse

DAY = date(2024, 3, 1)


def clean_apps(n: int = 100, start: int = 0) -> pd.DataFrame:
    """A valid applications batch of one business day, typed as ingest leaves it."""
    i = np.arange(start, start + n)
    ts = pd.Timestamp(DAY) + pd.to_timedelta(9 * 3600 + i % 3600 * 10, unit="s")
    price = 20_000.0 + (i % 50) * 300
    return pd.DataFrame({
        "application_id": [f"A{k:06d}" for k in i], "application_ts": ts,
        "business_date": ts.normalize(), "applicant_age": 25.0 + i % 40,
        "annual_income": 40_000.0 + (i % 30) * 1_000, "employment_years": (i % 12).astype(float),
        "housing": np.array(["own", "rent", "mortgage", "other"])[i % 4],
        "vehicle_condition": np.array(["new", "used"])[i % 2], "vehicle_price": price,
        "vehicle_age_years": (i % 2) * 3.0,
        "vehicle_segment": np.array(["small", "suv", "truck"])[i % 3],
        "dealer_id": [f"D{k % 7:03d}" for k in i],
        "dealer_region": np.array(["north", "south", "east", "west", "central"])[i % 5],
        "dealer_channel": np.array(["franchise", "independent", "online"])[i % 3],
        "loan_amount": price * 0.9, "down_payment": price * 0.1, "term_months": 60.0,
        "interest_rate": 0.07, "monthly_payment": price * 0.9 / 55, "monthly_debt": 500.0,
        "bureau_score": 600.0 + i % 200, "inquiries_6m": 1.0, "delinquencies_2y": 0.0,
        "open_trades": 4.0, "revolving_utilization": 0.4,
    })


def gate(df: pd.DataFrame, settings: Settings, kind: str = "applications", **kw: object
         ) -> GateResult:
    kw.setdefault("business_date", DAY)
    kw.setdefault("data_docs", False)
    return run_gate(df, kind, kw.pop("batch_id", "b-test"), settings, **kw)  # type: ignore[arg-type]


def conserved(r: GateResult) -> bool:
    return r.rows_in == r.rows_passed + r.rows_quarantined


def only(r: GateResult) -> list[tuple[int, str, str, object]]:
    return [(int(q.row_number), q.rule, q.column_name, q.value)
            for q in r.quarantined.itertuples()]


def test_clean_batch_passes_untouched(settings: Settings) -> None:
    df = clean_apps()
    r = gate(df, settings)
    assert r.status == "passed" and r.failed_expectations == [] and r.quarantined.empty
    pd.testing.assert_frame_equal(r.passed, df)
    assert r.evaluated > 40  # batch-level (GX) plus row-level expectations


def test_null_key_is_quarantined_below_the_null_share(settings: Settings) -> None:
    df = clean_apps()
    df.loc[3, "application_id"] = None
    r = gate(df, settings)
    assert r.status == "quarantined" and conserved(r)
    assert only(r) == [(4, "not_null", "application_id", None)]
    assert r.quarantined["record_key"].iloc[0] is None
    assert json.loads(r.quarantined["payload"].iloc[0])["applicant_age"] == 28.0


def test_null_keys_above_the_share_reject_the_batch(settings: Settings) -> None:
    df = clean_apps()
    df.loc[:9, "application_id"] = None  # 10% > max_null_share 5%
    with pytest.raises(BatchRejected, match=r"expect_column_values_to_not_be_null\(column="
                                            r"application_id, mostly=0.95\)") as err:
        gate(df, settings)
    assert err.value.result.passed.empty and err.value.result.rows_passed == 0


def test_string_column_where_numbers_belong_rejects_as_mistyped(settings: Settings) -> None:
    df = clean_apps()
    df["annual_income"] = "lots"
    with pytest.raises(BatchRejected, match=r"expect_column_values_to_be_in_type_list\(column="
                                            r"annual_income"):
        gate(df, settings)


def test_type_problems_from_ingest_are_quarantined_not_also_null(settings: Settings) -> None:
    df = clean_apps()
    df.loc[4, "application_ts"] = pd.NaT  # what coerce leaves for an unreadable timestamp
    problems = pd.DataFrame({"row_number": [5], "column": ["application_ts"],
                             "rule": ["type:datetime"], "value": ["yesterday-ish"]})
    r = gate(df, settings, problems=problems)
    assert only(r) == [(5, "type:datetime", "application_ts", "yesterday-ish")]
    assert r.rows_passed == 99


def test_negative_amounts(settings: Settings) -> None:
    df = clean_apps()
    df.loc[7, "loan_amount"] = -500.0
    df.loc[8, "annual_income"] = -1.0
    r = gate(df, settings)
    assert only(r) == [(8, "between", "loan_amount", "-500"),
                       (9, "between", "annual_income", "-1")]
    assert conserved(r) and r.rows_passed == 98


def test_ltv_above_three_is_quarantined_as_derived_ltv(settings: Settings) -> None:
    df = clean_apps()
    df.loc[2, "loan_amount"] = df.loc[2, "vehicle_price"] * 3.5
    df.loc[5, "vehicle_price"] = 0.0  # LTV infinite: never a plausible value
    r = gate(df, settings)
    rows = {(q[0], q[1], q[2]) for q in only(r)}
    assert rows == {(3, "between", "ltv"), (6, "between", "ltv")}
    assert any("ltv" in f and "[row]" in f for f in r.failed_expectations)


def test_ltv_threshold_comes_from_settings(home: Path) -> None:
    df = clean_apps()
    df.loc[2, "loan_amount"] = df.loc[2, "vehicle_price"] * 2.5
    assert gate(df, Settings()).status == "passed"  # 2.5 <= max_ltv 3.0
    r = gate(df, Settings(validation={"max_ltv": 2.0}))
    assert [(q[0], q[2]) for q in only(r)] == [(3, "ltv")]


def test_ages_under_18_and_over_100(settings: Settings) -> None:
    df = clean_apps()
    df.loc[[10, 20], "applicant_age"] = [17.0, 101.0]
    df.loc[30, "applicant_age"] = 18.0  # the bounds themselves are allowed
    r = gate(df, settings)
    assert only(r) == [(11, "between", "applicant_age", "17"),
                       (21, "between", "applicant_age", "101")]


def test_pti_above_max(settings: Settings) -> None:
    df = clean_apps()
    df.loc[0, "monthly_payment"] = df.loc[0, "annual_income"] / 12 * 1.2
    assert [(q[0], q[2]) for q in only(gate(df, settings))] == [(1, "pti")]


def test_unknown_vehicle_type(settings: Settings) -> None:
    df = clean_apps()
    df.loc[12, "vehicle_segment"] = "spaceship"
    df.loc[13, "vehicle_condition"] = "salvage"
    r = gate(df, settings)
    assert only(r) == [(13, "in_set", "vehicle_segment", "spaceship"),
                       (14, "in_set", "vehicle_condition", "salvage")]


def test_duplicated_ids_below_the_share_keep_the_first_copy(home: Path) -> None:
    settings = Settings(validation={"max_duplicate_key_share": 0.05})
    df = clean_apps()
    df.loc[50, "application_id"] = df.loc[10, "application_id"]
    r = gate(df, settings)
    assert only(r) == [(51, "unique_key", "application_id", "A000010 (first at row 11)")]
    assert "A000010" in set(r.passed["application_id"]) and conserved(r)


def test_duplicated_ids_above_the_share_reject(settings: Settings) -> None:
    df = clean_apps()
    df.loc[50, "application_id"] = df.loc[10, "application_id"]  # 2% of rows share a key > 0.1%
    with pytest.raises(BatchRejected, match=r"expect_column_values_to_be_unique\(column="
                                            r"application_id, mostly=0.999\)"):
        gate(df, settings)


def test_missing_required_column(settings: Settings) -> None:
    with pytest.raises(BatchRejected, match=r"expect_column_to_exist\(column=application_ts\)"):
        gate(clean_apps().drop(columns=["application_ts"]), settings)


def test_extra_unknown_columns_are_allowed_and_reported(settings: Settings) -> None:
    df = clean_apps().assign(favourite_colour="teal", shoe_size=42)
    r = gate(df, settings)
    assert r.status == "passed" and r.unknown_columns == ["favourite_colour", "shoe_size"]
    assert list(r.passed.columns) == list(df.columns)
    assert "favourite_colour" in summary_markdown(r)


def test_empty_batch_is_rejected(settings: Settings) -> None:
    with pytest.raises(BatchRejected, match=r"expect_table_row_count_to_be_between\(min_value=1"
                                            r"\): observed 0"):
        gate(clean_apps().iloc[0:0], settings)
    with pytest.raises(BatchRejected, match="expect_column_to_exist"):
        gate(pd.DataFrame(), settings)  # an empty file: no header either


def test_a_batch_where_every_row_is_bad_is_rejected(settings: Settings) -> None:
    df = clean_apps(40)
    df["loan_amount"] = -1.0
    with pytest.raises(BatchRejected, match=r"row-level failures in 100.0% of rows > "
                                            r"max_quarantine_share") as err:
        gate(df, settings)
    r = err.value.result
    assert r.status == "rejected" and r.rows_passed == 0 and r.rows_quarantined == 0
    assert len(r.quarantined) == 40  # the findings are kept on the result for the report


def test_future_dated_applications(settings: Settings) -> None:
    df = clean_apps()
    df.loc[3, "application_ts"] = pd.Timestamp(DAY) + pd.Timedelta(days=1, minutes=1)
    df.loc[4, "application_ts"] = pd.Timestamp(DAY) + pd.Timedelta(hours=23, minutes=59)
    r = gate(df, settings)
    assert only(r) == [(4, "not_future", "application_ts", "2024-03-02T00:01:00")]


def test_default_business_date_is_the_latest_date_capped_at_today(settings: Settings) -> None:
    df = clean_apps()
    assert gate(df, settings, business_date=None).business_date == DAY
    future = pd.Timestamp.today().normalize() + pd.Timedelta(days=3)
    df.loc[0, ["application_ts", "business_date"]] = [future + pd.Timedelta(hours=9), future]
    r = gate(df, settings, business_date=None)
    assert r.business_date == date.today()
    assert {q[1] for q in only(r)} == {"not_future"} and r.rows_quarantined == 1


def test_row_count_spike_against_the_trailing_average(settings: Settings,
                                                      sqlite_wh: Warehouse) -> None:
    for k in range(3):
        record_gate(sqlite_wh, gate(clean_apps(100, k * 100), settings, batch_id=f"day-{k}"))
    assert trailing_average(sqlite_wh, "applications", "next", settings) == 100.0
    with pytest.raises(BatchRejected, match=r"expect_table_row_count_to_be_between\(min_value="
                                            r"20, max_value=500\): observed 1000"):
        gate(clean_apps(1000, 5000), settings, wh=sqlite_wh, batch_id="spike")
    stored = sqlite_wh.read("validation_results", where="batch_id = 'spike'")
    assert stored["status"].tolist() == ["rejected"] and stored["rows_passed"].tolist() == [0]
    assert "row_count" in json.loads(stored["details"].iloc[0])["batch_failures"][0]
    # the rejected spike does not count in the next batch's trailing average
    assert trailing_average(sqlite_wh, "applications", "next", settings) == 100.0
    assert gate(clean_apps(400, 9000), settings, wh=sqlite_wh).status == "passed"


def test_no_band_on_a_young_warehouse(settings: Settings, sqlite_wh: Warehouse) -> None:
    record_gate(sqlite_wh, gate(clean_apps(10), settings, batch_id="first"))
    assert trailing_average(sqlite_wh, "applications", "x", settings) is None
    assert gate(clean_apps(1000), settings, wh=sqlite_wh).status == "passed"


def test_record_gate_writes_quarantine_and_summary(any_wh: Warehouse,
                                                   settings: Settings) -> None:
    df = clean_apps()
    df.loc[[1, 2], "applicant_age"] = [12.0, 130.0]
    df.loc[2, "housing"] = "castle"  # one row, two reasons: two quarantine rows, one row counted
    r = gate(df, settings, batch_id="b1")
    for _ in range(2):  # recording twice replaces, never duplicates
        record_gate(any_wh, r)
    q = any_wh.read("quarantine", order_by="row_number, rule")
    assert q[["row_number", "rule", "column_name", "value"]].values.tolist() == [
        [2, "between", "applicant_age", "12"], [3, "between", "applicant_age", "130"],
        [3, "in_set", "housing", "castle"]]
    assert set(q["batch_id"]) == {"b1"} and set(q["kind"]) == {"applications"}
    assert json.loads(q["payload"].iloc[0])["application_id"] == "A000001"
    v = any_wh.read("validation_results")
    assert v[["status", "rows_in", "rows_passed", "rows_quarantined"]].values.tolist() == [
        ["quarantined", 100, 98, 2]]
    assert v["expectations_failed"].iloc[0] == 2 and v["expectations_evaluated"].iloc[0] > 40


def test_summary_markdown_is_a_table(settings: Settings) -> None:
    df = clean_apps()
    df.loc[1, "housing"] = "a|b"
    text = summary_markdown(gate(df, settings, batch_id="b-md"))
    assert "| b-md | applications | quarantined | 2024-03-01 | 100 | 99 | 1 |" in text
    assert "| in_set | housing | 1 | a\\|b |" in text


def test_data_docs_page_is_written_under_reports(settings: Settings) -> None:
    df = clean_apps()
    df.loc[1, "applicant_age"] = 7.0
    r = gate(df, settings, batch_id="b-docs", data_docs=True)
    path = Path(r.report_path or "")
    assert path.is_file() and path.is_relative_to(settings.reports_dir / "validation")
    html = path.read_text()
    assert "applicant_age" in html and "b-docs" in str(path)


def test_features_suite_infinities_index_key_and_absent_features(settings: Settings) -> None:
    feats = pd.DataFrame({"ltv": [0.9, np.inf, 1.1, 0.8], "pti": [0.1, 0.1, 0.2, 0.1],
                          "my_extra": [1.0, 2.0, -np.inf, 3.0],
                          "vehicle_age_years": [np.nan] * 4,  # the tape had no vehicle age
                          "housing": pd.Categorical(["own", "rent", "own", "other"])},
                         index=pd.Index(["a", "b", "c", "d"], name="application_id"))
    r = gate(feats, settings, kind="features")
    assert {(q[0], q[2]) for q in only(r)} == {(2, "ltv"), (3, "my_extra")}
    assert sorted(set(r.quarantined["record_key"])) == ["b", "c"]  # inf: out of range, not finite
    assert r.empty_columns == ["vehicle_age_years"] and r.unknown_columns == ["my_extra"]
    assert list(r.passed.index) == ["a", "d"]  # the input's own shape comes back


def test_scores_suite(settings: Settings) -> None:
    scores = pd.DataFrame({"application_id": list("abcdefghijkl"), "model_version": "3",
                           "role": "champion", "pd": [0.1, 1.5, 0.2, 0.05] * 3,
                           "score": [600.0, 610.0, np.inf, 640.0] + [620.0] * 8,
                           "decision": ["approve", "review", "decline", "maybe"] + ["review"] * 8})
    r = gate(scores, settings, kind="scores")
    assert {(q[0], q[1], q[2]) for q in only(r)} == {
        (2, "between", "pd"), (3, "finite", "score"), (4, "in_set", "decision"),
        (6, "between", "pd"), (10, "between", "pd")}
    assert r.passed["application_id"].tolist() == list("aeghikl")


def test_repayments_compound_key(home: Path) -> None:
    settings = Settings(validation={"max_duplicate_key_share": 0.5})
    tape = pd.DataFrame({"loan_id": ["L1", "L1", "L2", "L1"],
                         "as_of_month": pd.to_datetime(["2024-01-31", "2024-02-29",
                                                        "2024-01-31", "2024-01-31"]),
                         "months_on_book": [1.0, 2.0, 1.0, 1.0],
                         "dpd_bucket": ["current", "1-30", "current", "current"],
                         "balance": [100.0, 90.0, 50.0, 100.0], "status": "open"})
    r = gate(tape, settings, kind="repayments", business_date=date(2024, 2, 29))
    assert only(r) == [(4, "unique_key", "loan_id,as_of_month",
                        "L1|2024-01-31 (first at row 1)")]


def test_suite_errors_name_the_file_and_entry(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "suites"
    folder.mkdir()
    settings = Settings(validation={"suites_dir": folder})
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite("applications", settings)
    (folder / "applications.yaml").write_text("columns:\n  x:\n    type: float\n    mnx: 3\n")
    with pytest.raises(SuiteError, match=r"column 'x': unknown entry mnx"):
        load_suite("applications", settings)
    (folder / "applications.yaml").write_text("columns:\n  x:\n    max: ${validation.nope}\n")
    with pytest.raises(SuiteError, match=r"\$\{validation.nope\} names no setting"):
        load_suite("applications", settings)
    (folder / "applications.yaml").write_text("columns:\n  x:\n    categories: colours\n")
    with pytest.raises(SuiteError, match="no category list named 'colours'"):
        load_suite("applications", settings)


def test_an_analyst_edit_to_a_suite_takes_effect(home: Path, tmp_path: Path) -> None:
    suite = PROJECT_ROOT / "expectations" / "applications.yaml"
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "applications.yaml").write_text(suite.read_text().replace(
        "  open_trades:\n    type: float\n    min: 0\n    max: 500\n",
        "  open_trades:\n    type: float\n    min: 0\n    max: 8\n"))
    df = clean_apps()
    df.loc[6, "open_trades"] = 9.0
    assert gate(df, Settings()).status == "passed"
    r = gate(df, Settings(validation={"suites_dir": folder}))
    assert only(r) == [(7, "between", "open_trades", "9")]


def test_every_shipped_suite_loads_with_its_settings(settings: Settings) -> None:
    for kind in ("applications", "loans", "repayments", "features", "scores"):
        suite = load_suite(kind, settings)
        assert suite.key and suite.required_columns and suite.max_null_share == 0.05
    apps = load_suite("applications", settings)
    assert (apps.columns["applicant_age"].min, apps.columns["applicant_age"].max) == (18, 100)
    assert apps.columns["bureau_score"].max == 850 and apps.row_count_band == (0.2, 5.0)
