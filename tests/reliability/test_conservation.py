"""Conservation end to end: hypothesis-generated application tapes with random defects go through
ingest (file -> types -> gate -> warehouse) and then the day's scoring run with the trained
champion. Every input row must end in exactly one place: scored, quarantined with a reason that
names its column and rule (at ingest or at scoring), or inside a rejected batch whose error says
why. The run manifest's counts must add up to the input.

tests/unit/pipelines/validation/test_validate_conservation.py checks the gate alone on typed frames; this one adds the
file reader (wrong types arrive as text), the warehouse write and the scoring stage on top."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from pipelines.core.settings import Settings
from pipelines.ingest.load import IngestResult, ingest_file
from pipelines.scoring.chunks import day_batch_id
from pipelines.scoring.models import ScoringModel, load_models
from pipelines.scoring.run import score_day
from pipelines.simulation.simulate import simulate_book
from pipelines.validation.gate import BatchRejected
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.scoring import manifest_rows

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

FIRST_DAY = date(2025, 7, 1)  # the trained book ends 2025-06-30: these dates hold nothing yet
_days = itertools.count()  # one fresh business date per example, shrinking replays included

# Row defects, written into the CSV as text: each makes its row fail a row-level rule.
ROW_DEFECTS: dict[str, tuple[str, str]] = {
    "missing_key": ("application_id", ""),
    "missing_timestamp": ("application_ts", ""),
    "young": ("applicant_age", "15"),
    "bureau_off_scale": ("bureau_score", "9999"),
    "negative_amount": ("loan_amount", "-100"),
    "usurious_rate": ("interest_rate", "0.95"),
    "bad_category": ("vehicle_segment", "hovercraft"),
    "unknown_housing": ("housing", "castle"),
    "text_in_number": ("annual_income", "sixty k"),
    "fractional_term": ("term_months", "60.5"),
    "unreadable_date": ("application_ts", "not-a-date"),
    "future": ("application_ts", "FUTURE"),  # replaced by the next day's timestamp
}
# Not a defect of the row: an optional value left empty (scored with a missing feature).
MISSING_OPTIONAL = ("employment_years", "")
# Defects of the whole file: the gate must reject it and write nothing.
BATCH_DEFECTS = ("drop_required_column", "amounts_in_cents", "header_only")

tapes = st.integers(min_value=20, max_value=50).flatmap(lambda n: st.fixed_dictionaries({
    "n": st.just(n),
    "seed": st.integers(0, 10_000),
    "defects": st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(sorted(ROW_DEFECTS))),
                        max_size=5),
    "optional_gaps": st.lists(st.integers(0, n - 1), max_size=2),
    "copies": st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2),
    "tampered": st.lists(st.integers(0, n - 1), max_size=2),
    # mostly none: each whole-file defect also has an explicit example below
    "batch_defect": st.sampled_from((None,) * 6 + BATCH_DEFECTS),
}))
# What a rejection of each whole-file defect must name.
REJECTED_BY = {"drop_required_column": "expect_column_to_exist(column=application_ts)",
               "amounts_in_cents": "max_quarantine_share",
               "header_only": "expect_table_row_count_to_be_between(min_value=1"}


def batch_example(defect: str) -> dict:
    return {"n": 25, "seed": 1, "defects": [(3, "young")], "optional_gaps": [], "copies": [],
            "tampered": [], "batch_defect": defect}


@dataclass
class Tape:
    path: Path
    day: date
    n: int
    defective: set[int]  # 1-based rows that carry a row-level defect


def write_tape(tmp: Path, spec: dict, day: date) -> Tape:
    """A day of simulated applications as CSV text, with the drawn defects applied."""
    n = spec["n"]
    apps = simulate_book(n, day, day, seed=spec["seed"]).applications
    apps["application_id"] = [f"R{day:%Y%m%d}-{i:03d}" for i in range(n)]  # unique per day
    text = apps.astype(str)
    text["application_ts"] = apps["application_ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    text = text.drop(columns=["business_date"])  # ingest derives it from the timestamp
    for src, dst in spec["copies"]:  # keys repeated first, so a defect below is never undone
        text.loc[dst, "application_id"] = text.loc[src, "application_id"]
    defective = set()
    for row, name in spec["defects"]:
        column, value = ROW_DEFECTS[name]
        if value == "FUTURE":
            value = f"{day + timedelta(days=1)} 09:00:00"
        text.loc[row, column] = value
        defective.add(row + 1)
    for row in spec["optional_gaps"]:
        text.loc[row, MISSING_OPTIONAL[0]] = MISSING_OPTIONAL[1]
    match spec["batch_defect"]:
        case "drop_required_column":
            text = text.drop(columns=["application_ts"])
        case "amounts_in_cents":  # every LTV above the cap: a systematic error
            text["loan_amount"] = (apps["loan_amount"] * 100).astype(str)
        case "header_only":
            text = text.iloc[0:0]
    path = tmp / f"tape-{day}.csv"
    text.to_csv(path, index=False)
    return Tape(path, day, n, defective)


def check_rejected(wh: Warehouse, tape: Tape, spec: dict, exc: BatchRejected) -> None:
    """A rejected file: the error names each failed expectation, the verdict is on record and
    not one of its rows was written or quarantined."""
    result, defect = exc.result, spec["batch_defect"]
    assert result.batch_failures and "rejected, nothing written" in str(exc)
    assert all(f.startswith("expect_") or "max_quarantine_share" in f
               for f in result.batch_failures), result.batch_failures
    assert defect is None or REJECTED_BY[defect] in str(exc), str(exc)
    verdict = wh.read("validation_results", "batch_id = :b", {"b": result.batch_id})
    assert verdict["status"].tolist() == ["rejected"]
    assert verdict["rows_in"].tolist() == [0 if defect == "header_only" else tape.n]
    assert wh.count("applications", "business_date = :d", {"d": tape.day}) == 0
    assert wh.count("applications", "batch_id = :b", {"b": result.batch_id}) == 0
    assert wh.count("quarantine", "batch_id = :b", {"b": result.batch_id}) == 0


def check_ingested(wh: Warehouse, tape: Tape, result: IngestResult,
                   ids: pd.Series) -> tuple[set[int], set[str]]:
    """Rows quarantined at ingest (1-based) and the ids written: disjoint, covering the file."""
    q = wh.read("quarantine", "batch_id = :b", {"b": result.batch_id})
    assert q["rule"].str.len().gt(0).all() and q["column_name"].str.len().gt(0).all()
    assert q["payload"].notna().all()
    q_rows = set(q["row_number"].astype(int))
    assert tape.defective <= q_rows  # every injected defect was caught, by its row
    written = wh.read("applications", "business_date = :d", {"d": tape.day})
    assert (written["batch_id"] == result.batch_id).all() and written["application_id"].is_unique
    kept_rows = set(range(1, tape.n + 1)) - q_rows
    assert set(written["application_id"]) == {ids.iloc[r - 1] for r in kept_rows}
    assert len(written) == len(kept_rows) == result.rows_written
    assert result.rows_read == tape.n == result.rows_written + result.rows_quarantined
    assert result.rows_quarantined == len(q_rows)
    return q_rows, set(written["application_id"])


def tamper(wh: Warehouse, ids: set[str]) -> None:
    """A row changed in the warehouse after ingest (another writer, a manual fix gone wrong):
    scoring's own gate must catch it rather than score it."""
    for app_id in ids:
        wh.execute("UPDATE applications SET bureau_score = 9999 WHERE application_id = :a",
                   {"a": app_id})


def check_scored(wh: Warehouse, settings: Settings, tape: Tape, written: set[str],
                 tampered: set[str], models: list[ScoringModel]) -> tuple[int, int]:
    """Score the day: each written application is scored or quarantined by scoring's gate.
    Returns (scored, quarantined) as the manifest counts them."""
    tamper(wh, tampered)
    result = score_day(settings, wh, tape.day, models=lambda: models)
    assert result.status == "completed", result.error
    scores = wh.read("scores", "business_date = :d AND role = 'champion'", {"d": tape.day})
    scored = set(scores["application_id"])
    q = wh.read("quarantine", "batch_id = :b", {"b": day_batch_id(tape.day)})
    q_ids = set(q["record_key"])
    assert q["rule"].notna().all() and q["column_name"].notna().all()
    assert q_ids == tampered
    assert set(zip(q["rule"], q["column_name"], strict=True)) <= {("between", "bureau_score")}
    assert scored.isdisjoint(q_ids) and scored | q_ids == written
    assert len(scores) == len(scored) == result.counts["scored"]
    manifest = manifest_rows(wh, tape.day)
    assert manifest["status"].tolist() == ["completed"]
    counts = manifest["counts"].iloc[0]
    assert counts["read"] == len(written) == counts["scored"] + counts["quarantined"]
    assert counts == {k: result.counts[k] for k in counts}
    return counts["scored"], counts["quarantined"]


@pytest.fixture
def conservation_home(trained_settings: Settings) -> tuple[Settings, Warehouse,
                                                            list[ScoringModel]]:
    # a repeated key is quarantined (the later copy) unless a fifth of the rows repeat one
    settings = trained_settings.model_copy(update={"validation": trained_settings.validation
                                                   .model_copy(update={
                                                       "max_duplicate_key_share": 0.2})})
    wh = Warehouse.from_settings(settings)
    return settings, wh, load_models(settings)  # loaded once, as a backfill does


@hyp_settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=tapes)
@example(spec=batch_example("drop_required_column"))  # each whole-file defect at least once
@example(spec=batch_example("amounts_in_cents"))
@example(spec=batch_example("header_only"))
def test_every_row_is_scored_quarantined_or_in_a_rejected_batch(
        conservation_home: tuple[Settings, Warehouse, list[ScoringModel]], tmp_path: Path,
        spec: dict) -> None:
    settings, wh, models = conservation_home
    tape = write_tape(tmp_path, spec, FIRST_DAY + timedelta(days=next(_days)))
    ids = pd.read_csv(tape.path, dtype=str, keep_default_na=False).get(
        "application_id", pd.Series(dtype=str))
    try:
        result = ingest_file(wh, tape.path, "applications", settings=settings,
                             business_date=tape.day)
    except BatchRejected as exc:
        check_rejected(wh, tape, spec, exc)
        event(f"rejected ({spec['batch_defect'] or 'row defects above a batch share'})")
        return
    assert spec["batch_defect"] is None, f"{spec['batch_defect']} was not rejected"
    q_ingest, written = check_ingested(wh, tape, result, ids)
    tampered = {ids.iloc[r] for r in spec["tampered"]} & written
    scored, q_scoring = check_scored(wh, settings, tape, written, tampered, models)
    assert tape.n == len(q_ingest) + scored + q_scoring
    event(f"accepted, rows quarantined at ingest: {bool(q_ingest)}, at scoring: "
          f"{bool(q_scoring)}")
