"""The validation gate: every batch (applications, loans, repayment tapes, the feature matrix,
the scores) passes a suite from ``expectations/<kind>.yaml`` before anything downstream runs.

Two severities
--------------
- **Batch-level** failures reject the whole batch (``BatchRejected`` names each failed
  expectation; nothing of the batch is written): a required column missing, a column whose
  dtype cannot hold its type, an empty batch, a row count outside ``row_count_band`` x the
  trailing average of the last ``trailing_batches`` accepted batches of the kind (checked once
  ``min_trailing_batches`` exist), a column whose share of missing or unreadable values is above
  ``max_null_share``, a share of rows whose key occurs more than once above
  ``max_duplicate_key_share``, and more than ``max_quarantine_share`` of the rows failing a
  row-level rule (a systematic error such as amounts in cents or a wrong mapping).
- **Row-level** failures (``pipelines.validation.quarantine``) move rows into the quarantine
  table with the rule, column and offending value; the other rows go on. Conservation:
  ``rows_in == rows_passed + rows_quarantined`` unless the batch is rejected.

Business date
-------------
Timestamps may not be later than the end of the batch's business date (+ ``max_future_minutes``).
Callers that know it pass it (a daily run). For a plain file it is the latest date in the suite's
first date column marked ``not_after_business_date`` (``business_date``, ``origination_date``,
``as_of_month``), capped at today; with no such column, today.

Great Expectations
------------------
Every expectation is a GX expectation object and every outcome a GX result, evaluated in pandas
(``pipelines.validation.gx_suite`` says why, with the measurements) and rendered as Data Docs
(``pipelines.validation.datadocs``).

Results
-------
``record_gate`` writes the quarantine rows and one ``validation_results`` row (in the caller's
transaction, with the batch's own rows) through ``pipelines.warehouse.validation``.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.calendar import business_day_end
from pipelines.core.errors import CreditflowError
from pipelines.core.privacy import (
    ID_COLUMNS,
    pseudonymise_batch,
    pseudonymise_frame,
    require_own_salt,
    withhold_id,
)
from pipelines.core.settings import Settings, reveal
from pipelines.core.text import record_keys
from pipelines.validation.contract import load_contract, missing_declared, newly_provided
from pipelines.validation.gx_suite import GxBatch, GxOutcome
from pipelines.validation.masks import BatchMasks
from pipelines.validation.quarantine import (
    ISSUE_COLUMNS,
    QUARANTINE_COLUMNS,
    Suite,
    load_suite,
    payloads,
    row_issues,
)
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.validation import (
    Connection,
    accepted_batch_sizes,
    declare_columns,
    replace_quarantine,
    write_validation_result,
)

STATUSES = ("passed", "quarantined", "rejected")
CONTRACT_KINDS = ("applications", "loans", "repayments")  # what a lender's files bring


@dataclass
class GateResult:
    batch_id: str
    kind: str
    status: str  # "passed" | "quarantined" | "rejected"
    passed: pd.DataFrame  # the rows that go on (same columns as input)
    quarantined: pd.DataFrame  # row_number, record_key, rule, column_name, value, payload
    failed_expectations: list[str]
    evaluated: int
    rows_in: int
    report_path: str | None
    business_date: date | None = None
    batch_failures: list[str] = field(default_factory=list)  # the reasons for a rejection
    unknown_columns: list[str] = field(default_factory=list)  # allowed, reported
    empty_columns: list[str] = field(default_factory=list)  # entirely null where allowed
    checked_columns: list[str] = field(default_factory=list)  # the suite's columns checked
    declared_columns: list[str] = field(default_factory=list)  # new to the book's contract
    trailing_average: float | None = None
    seconds: float = 0.0

    @property
    def rows_passed(self) -> int:
        return len(self.passed)

    @property
    def rows_quarantined(self) -> int:
        """Distinct input rows moved to quarantine (0 for a rejected batch: nothing moved)."""
        if self.status == "rejected" or self.quarantined.empty:
            return 0
        return int(self.quarantined["row_number"].nunique())

    def by_rule(self) -> list[dict[str, Any]]:
        """Quarantined rows per (rule, column), with one example value."""
        q = self.quarantined
        if q.empty:
            return []
        grouped = q.groupby(["rule", "column_name"], sort=True, dropna=False)
        return [{"rule": r, "column": c, "rows": int(g["row_number"].nunique()),
                 "example": g["value"].iloc[0]} for (r, c), g in grouped]

    def summary(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "suite": self.kind, "status": self.status,
                "business_date": self.business_date, "rows_in": self.rows_in,
                "rows_passed": self.rows_passed, "rows_quarantined": self.rows_quarantined,
                "expectations_evaluated": self.evaluated,
                "expectations_failed": len(self.failed_expectations),
                "failed_expectations": self.failed_expectations,
                "quarantine_by_rule": self.by_rule(), "unknown_columns": self.unknown_columns,
                "empty_columns": self.empty_columns, "checked_columns": self.checked_columns,
                "declared_columns": self.declared_columns,
                "trailing_average": self.trailing_average,
                "report_path": self.report_path, "seconds": round(self.seconds, 3)}


class BatchRejected(CreditflowError):
    """A batch-level expectation failed: the whole batch is refused and nothing of it written."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(f"batch {result.batch_id} ({result.kind}) rejected, nothing written: "
                         + "; ".join(result.batch_failures))


# -- the stage --------------------------------------------------------------------------------

def run_gate(df: pd.DataFrame, kind: str, batch_id: str, settings: Settings,
             wh: Warehouse | None = None, business_date: date | None = None,
             problems: pd.DataFrame | None = None, *, raw: pd.DataFrame | None = None,
             record_rejection: bool = True, data_docs: bool = True) -> GateResult:
    """Validate one batch. ``problems`` are row-level issues found earlier (ingest's type and
    encoding problems: row_number (1-based position in ``df``), column, rule, value). ``raw`` is
    the batch as read (same row order), stored as each quarantined row's payload; default ``df``.
    ``wh`` supplies the trailing row counts; with it a rejection is recorded (unless
    ``record_rejection`` is False) before ``BatchRejected`` is raised."""
    t0 = time.perf_counter()
    suite = load_suite(kind, settings)
    frame = _with_key_columns(df, suite)
    day = business_date or default_business_date(frame, suite)
    end = business_day_end(day, settings.validation.max_future_minutes)
    earlier = _problems(problems)
    # a value ingest could not read (its type or its declared format) is not also "missing"
    unread = earlier["rule"].astype(str).str.startswith(("type:", "format:"))
    unreadable = set(earlier.loc[unread, "row_number"].astype(int))
    masks = BatchMasks(frame)  # nulls and repeated keys found once, for every check
    parts = [x for x in (earlier, row_issues(frame, suite, end, unreadable, masks))
             if not x.empty]
    issues = pd.concat(parts, ignore_index=True) if parts else _problems(None)
    trailing = trailing_average(wh, kind, batch_id, settings) if wh is not None else None
    contract = load_contract(wh, kind) if wh is not None and kind in CONTRACT_KINDS else None
    band = _band(suite, trailing)
    data_docs = data_docs and settings.validation.data_docs != "never"
    salt = (reveal(settings.security.id_salt) or "") if data_docs else None
    checks = _checks(frame, suite, band, issues, end, masks, salt)
    gx = checks.run(batch_id, settings.reports_dir / "validation" if data_docs else None,
                    settings.validation.data_docs == "on_issue")
    failures = gx.failures + _quarantine_share_failure(issues, len(frame), suite)
    if contract is not None:
        failures += missing_declared(frame, contract)
    result = _assemble(df, raw, frame, suite, batch_id, day, issues, gx, failures)
    result.unknown_columns = [c for c in map(str, frame.columns) if c not in _known(suite)]
    result.empty_columns = checks.empty_columns
    result.checked_columns = [r.name for r in checks.present]
    if contract is not None:
        result.declared_columns = newly_provided(frame, suite, contract)
    result.trailing_average = trailing
    result.seconds = time.perf_counter() - t0
    if result.status == "rejected":
        if wh is not None and record_rejection:
            record_gate(wh, result)
        raise BatchRejected(result)
    return result


def record_gate(wh: Warehouse, result: GateResult, conn: Connection | None = None) -> None:
    """Write the quarantine rows and the ``validation_results`` row. Pass the connection of the
    transaction that writes the batch's rows, so both land or neither does. A rejected batch
    writes only its ``validation_results`` row (no row of it moved anywhere)."""
    if conn is None:
        with wh.begin() as own:
            record_gate(wh, result, own)
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    if result.status != "rejected":
        rows = result.quarantined.drop_duplicates(["row_number", "rule", "column_name"])
        replace_quarantine(wh, result.batch_id, result.kind,
                           rows.assign(batch_id=result.batch_id, kind=result.kind,
                                       quarantined_at=now), conn)
        if result.declared_columns:
            declare_columns(wh, result.kind, result.declared_columns, result.batch_id, now,
                            conn)
    summary = result.summary()
    details = {k: summary[k] for k in ("failed_expectations", "quarantine_by_rule",
                                       "unknown_columns", "empty_columns", "checked_columns",
                                       "declared_columns", "trailing_average",
                                       "business_date", "seconds")}
    details["batch_failures"] = result.batch_failures
    row = {"batch_id": result.batch_id, "suite": result.kind, "status": result.status,
           "rows_in": result.rows_in, "rows_passed": result.rows_passed,
           "rows_quarantined": result.rows_quarantined,
           "expectations_evaluated": result.evaluated,
           "expectations_failed": len(result.failed_expectations),
           "details": json.dumps(details, default=str), "report_path": result.report_path,
           "validated_at": now}
    write_validation_result(wh, row, conn)



def summary_markdown(result: GateResult) -> str:
    """The gate's outcome as a markdown table (the Prefect artifact of a flow run)."""
    s = result.summary()
    lines = [f"## Validation of `{result.batch_id}` ({result.kind}): **{result.status}**", "",
             "| batch | suite | status | business date | rows in | passed | quarantined "
             "| expectations evaluated | failed |",
             "|---|---|---|---|---:|---:|---:|---:|---:|",
             f"| {_md(result.batch_id)} | {result.kind} | {result.status} | "
             f"{s['business_date'] or ''} | {s['rows_in']} | {s['rows_passed']} | "
             f"{s['rows_quarantined']} | {s['expectations_evaluated']} | "
             f"{s['expectations_failed']} |"]
    if result.batch_failures:
        lines += ["", "**Batch rejected because:**", ""]
        lines += [f"- {_md(f)}" for f in result.batch_failures]
    if s["quarantine_by_rule"] and result.status != "rejected":
        lines += ["", "| rule | column | rows quarantined | example value |",
                  "|---|---|---:|---|"]
        lines += [f"| {_md(q['rule'])} | {_md(q['column'])} | {q['rows']} | "
                  f"{_md(withhold_id(q['column'], q['example']))} |"
                  for q in s["quarantine_by_rule"]]
    if result.unknown_columns:
        lines += ["", "Columns not in the suite (allowed, not checked): "
                  + ", ".join(f"`{c}`" for c in result.unknown_columns)]
    if result.report_path:
        lines += ["", f"Data Docs: `{result.report_path}`"]
    return "\n".join(lines) + "\n"


# -- pieces -----------------------------------------------------------------------------------

def default_business_date(frame: pd.DataFrame, suite: Suite) -> date:
    """The latest date of the suite's first business-date column, capped at today."""
    today = date.today()
    for rule in suite.columns.values():
        if rule.type == "date" and rule.not_after_business_date and rule.name in frame:
            values = frame[rule.name]
            if pd.api.types.is_datetime64_any_dtype(values) and values.notna().any():
                return min(pd.Timestamp(values.max()).date(), today)
    return today


def trailing_average(wh: Warehouse, kind: str, batch_id: str,
                     settings: Settings) -> float | None:
    """Mean rows_in of the last ``trailing_batches`` accepted batches of this kind (None with
    fewer than ``min_trailing_batches``: the band is not checked on a young warehouse).
    Scoring's re-validation of a day already ingested (``score-*``) is not a new batch."""
    v = settings.validation
    recent = accepted_batch_sizes(wh, kind, batch_id).head(v.trailing_batches)
    if len(recent) < max(v.min_trailing_batches, 1):
        return None
    return float(recent.mean())


def _band(suite: Suite, trailing: float | None) -> tuple[int, int] | None:
    if suite.row_count_band is None or trailing is None:
        return None
    lo, hi = suite.row_count_band
    return int(np.ceil(lo * trailing)), int(np.floor(hi * trailing))


def _with_key_columns(df: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """Positional frame with the key as columns (build_features puts application_id in the
    index)."""
    frame = df
    names = [n for n in df.index.names if n and n in suite.key and n not in df.columns]
    if names:
        frame = df.reset_index(level=names)
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        frame = frame.reset_index(drop=True)
    return frame


def _problems(problems: pd.DataFrame | None) -> pd.DataFrame:
    if problems is None or problems.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ISSUE_COLUMNS})
    return problems[ISSUE_COLUMNS].astype({"row_number": "int64"})


def _checks(frame: pd.DataFrame, suite: Suite, band: tuple[int, int] | None,
            issues: pd.DataFrame, end: pd.Timestamp, masks: BatchMasks,
            salt: str | None) -> GxBatch:
    """The suite's GX checks of the batch. With a ``salt`` they render Data Docs, which leave
    the warehouse: the page shows pseudonyms, never an applicant id. Only the ids a page can
    show are pseudonymised (the issues' and those of the rows a result lists as examples), not
    every id of the batch: hashing them all took 1 s per million."""
    if salt is None:
        return GxBatch(frame, suite, band, issues, end, masks)
    if any(c in ID_COLUMNS for c in frame.columns):
        require_own_salt(salt)  # refused before any page, as pseudonymising the batch did
    return GxBatch(frame, suite, band, _shown_issues(frame, issues, salt), end, masks,
                   partial(_shown_rows, frame, salt))


def _shown_issues(frame: pd.DataFrame, issues: pd.DataFrame, salt: str) -> pd.DataFrame:
    """``issues`` as ``pseudonymise_batch`` shows them, given only the rows they name."""
    if issues.empty:
        return issues
    named, position = np.unique(issues["row_number"].to_numpy(dtype=np.int64),
                                return_inverse=True)
    _, shown = pseudonymise_batch(frame.iloc[named - 1].reset_index(drop=True),
                                  issues.assign(row_number=position + 1), salt)
    return shown.assign(row_number=issues["row_number"].to_numpy())


def _shown_rows(frame: pd.DataFrame, salt: str, rows: np.ndarray,
                columns: list[str]) -> pd.DataFrame:
    return pseudonymise_frame(frame.iloc[rows][columns], salt)


def _known(suite: Suite) -> set[str]:
    # written by ingest next to the suite's columns: not "unknown"
    return set(suite.columns) | set(suite.key) | {"known_bad", "extra", "batch_id"}


def _quarantine_share_failure(issues: pd.DataFrame, rows_in: int, suite: Suite) -> list[str]:
    if not rows_in or issues.empty:
        return []
    share = issues["row_number"].nunique() / rows_in
    if share <= suite.max_quarantine_share:
        return []
    return [f"row-level failures in {share:.1%} of rows > max_quarantine_share "
            f"{suite.max_quarantine_share:.1%} (a systematic error: check units and mapping)"]


def _assemble(df: pd.DataFrame, raw: pd.DataFrame | None, frame: pd.DataFrame, suite: Suite,
              batch_id: str, day: date, issues: pd.DataFrame, gx: GxOutcome,
              failures: list[str]) -> GateResult:
    bad_rows = np.zeros(len(frame), dtype=bool)
    if not issues.empty:
        bad_rows[issues["row_number"].to_numpy(dtype=np.int64) - 1] = True
    status = "rejected" if failures else ("quarantined" if bad_rows.any() else "passed")
    # all of it passed: a shallow copy, not every row of a 1M-row batch taken again
    passed = (df.iloc[0:0] if status == "rejected" else df.copy(deep=False)
              if status == "passed" else df.iloc[np.flatnonzero(~bad_rows)])
    return GateResult(batch_id=batch_id, kind=suite.kind, status=status, passed=passed,
                      quarantined=_quarantine_frame(issues, frame, raw, suite),
                      failed_expectations=failures + gx.row_failures,
                      evaluated=gx.evaluated, rows_in=len(frame), report_path=gx.report_path,
                      business_date=day, batch_failures=failures)


_KEY_WIDTH = schema.quarantine.c.record_key.type.length  # a longer key is cut, the row kept


def _quarantine_frame(issues: pd.DataFrame, frame: pd.DataFrame, raw: pd.DataFrame | None,
                      suite: Suite) -> pd.DataFrame:
    if issues.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in QUARANTINE_COLUMNS})
    rows = issues.sort_values(["row_number", "rule", "column"], kind="stable")
    positions = rows["row_number"].to_numpy(dtype=np.int64) - 1
    unique_pos = np.unique(positions)
    source = raw if raw is not None else frame
    by_pos = dict(zip(unique_pos, payloads(source.iloc[unique_pos]), strict=True))
    keys = dict(zip(unique_pos, record_keys(frame.iloc[unique_pos], suite.key), strict=True))
    return pd.DataFrame({
        "row_number": rows["row_number"].to_numpy(dtype=np.int64),
        "record_key": [keys[p] if keys[p] is None else keys[p][:_KEY_WIDTH] for p in positions],
        "rule": rows["rule"].astype(str).to_numpy(),
        "column_name": rows["column"].astype(str).to_numpy(),
        "value": rows["value"].to_numpy(dtype=object),
        "payload": [by_pos[p] for p in positions],
    })


def _md(value: Any) -> str:
    """A value in a markdown table cell: a Prefect artifact renders inline HTML, so a tape's
    ``<script>`` is shown as text, never as markup."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")
