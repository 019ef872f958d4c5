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
- **Row-level** failures (``pipelines.validation.quarantine``) move rows into the quarantine table
with the
  rule, column and offending value; the other rows go on. Conservation: ``rows_in ==
  rows_passed + rows_quarantined`` unless the batch is rejected.

Business date
-------------
Timestamps may not be later than the end of the batch's business date (+ ``max_future_minutes``).
Callers that know it pass it (a daily run). For a plain file it is the latest date in the suite's
first date column marked ``not_after_business_date`` (``business_date``, ``origination_date``,
``as_of_month``), capped at today; with no such column, today.

What Great Expectations does here, and why it does not run the checks (measured on this
machine, 2 cores shared; ``bench/bench_validate.py`` reproduces the figures)
-------------------------------------------------------------------------------------------
Every expectation of the suite is a GX 1.x expectation object and every outcome a GX
``ExpectationValidationResult``; GX renders them as Data Docs. The checks themselves are pandas:
- row level (``pipelines.validation.quarantine``): GX's pandas engine with
``result_format=COMPLETE`` (to
  read ``unexpected_index_list``) took 14.9 s on 1M applications x 25 columns against 1.0 s for
  the same masks (14.5x): it copies the frame to drop each column's nulls, and hashes it whole
  for a batch fingerprint;
- batch level (``pipelines.validation.batch_checks``): GX's ``ValidationDefinition.run`` over the
~50
  batch-level expectations cost 0.25-0.85 s per batch at any size (metric graph, fingerprint,
  result objects), which made a demo day of three or four gates cost seconds; the same verdicts
  in pandas take milliseconds. ``tests/code/test_batch_checks.py`` keeps GX's engine as the
  oracle: same success flags and counts on random frames with defects.
A 2,000-row batch: 0.6-0.7 s a gate with Data Docs and 0.35 s without before, 0.15-0.2 s and
0.06 s after (most of what remains with Data Docs is GX's rendering).

Results
-------
``record_gate`` writes the quarantine rows and one ``validation_results`` row (in the caller's
transaction, with the batch's own rows). Data Docs HTML goes under ``reports/validation`` (an
ephemeral GX context with a filesystem Data Docs site; no index page, because GX's index builder
deletes the pages of results it does not hold, and an ephemeral context holds only its own run).

GX's context and Data Docs SiteBuilder are cached per process and suite kind (``_GxState``,
guarded by one lock because Prefect runs tasks in worker threads): the SiteBuilder holds the
compiled Jinja templates; each result is removed from the context's store once rendered.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from pipelines.core.calendar import business_day_end as day_end
from pipelines.core.errors import CreditflowError
from pipelines.core.privacy import pseudonymise_batch, withhold_id
from pipelines.core.settings import Settings, reveal
from pipelines.validation.batch_checks import evaluate
from pipelines.validation.quarantine import (
    ISSUE_COLUMNS,
    QUARANTINE_COLUMNS,
    ColumnRule,
    Suite,
    load_suite,
    payloads,
    ratio,
    record_keys,
    row_issues,
)
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse

log = logging.getLogger(__name__)
STATUSES = ("passed", "quarantined", "rejected")
_GX_TYPES = {
    "float": ["float64", "float32", "int64", "int32"],
    "int": ["int64", "int32", "float64"],  # NaN-able ints arrive as float64
    "datetime": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
    "date": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
}


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
                "empty_columns": self.empty_columns, "trailing_average": self.trailing_average,
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
    unreadable = set(earlier.loc[earlier["rule"].astype(str).str.startswith("type:"),
                                 "row_number"].astype(int))
    parts = [x for x in (earlier, row_issues(frame, suite, end, unreadable)) if not x.empty]
    issues = pd.concat(parts, ignore_index=True) if parts else _problems(None)
    trailing = trailing_average(wh, kind, batch_id, settings) if wh is not None else None
    band = _band(suite, trailing)
    # Data Docs leave the warehouse: they show pseudonyms, never an applicant id
    data_docs = data_docs and settings.validation.data_docs != "never"
    salt = reveal(settings.security.id_salt) or ""
    shown = pseudonymise_batch(frame, issues, salt) if data_docs else (frame, issues)
    checks = GxBatch(shown[0], suite, band, shown[1], end)
    gx = checks.run(batch_id, settings.reports_dir / "validation" if data_docs else None,
                    settings.validation.data_docs == "on_issue")
    failures = gx.failures + _quarantine_share_failure(issues, len(frame), suite)
    result = _assemble(df, raw, frame, suite, batch_id, day, issues, gx, failures)
    result.unknown_columns = [c for c in map(str, frame.columns) if c not in _known(suite)]
    result.empty_columns = checks.empty_columns
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
        wh.execute("DELETE FROM quarantine WHERE batch_id = :b AND kind = :k",
                   {"b": result.batch_id, "k": result.kind}, conn=conn)
        rows = result.quarantined.drop_duplicates(["row_number", "rule", "column_name"])
        wh.upsert("quarantine", rows.assign(batch_id=result.batch_id, kind=result.kind,
                                            quarantined_at=now), conn=conn, update=False)
    summary = result.summary()
    details = {k: summary[k] for k in ("failed_expectations", "quarantine_by_rule",
                                       "unknown_columns", "empty_columns", "trailing_average",
                                       "business_date", "seconds")}
    details["batch_failures"] = result.batch_failures
    row = {"batch_id": result.batch_id, "suite": result.kind, "status": result.status,
           "rows_in": result.rows_in, "rows_passed": result.rows_passed,
           "rows_quarantined": result.rows_quarantined,
           "expectations_evaluated": result.evaluated,
           "expectations_failed": len(result.failed_expectations),
           "details": json.dumps(details, default=str), "report_path": result.report_path,
           "validated_at": now}
    wh.upsert("validation_results", pd.DataFrame([row]), conn=conn)


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


def validate_file(settings: Settings, path: Path, kind: str, mapping_path: Path | None = None,
                  business_date: date | None = None, wh: Warehouse | None = None,
                  record: bool = False) -> GateResult:
    """Run the gate alone on a file (``creditflow validate``): read and type it as ingest would,
    validate, and record the outcome only when asked (a dry run must not feed the trailing
    row-count average of batches that never landed)."""
    from pipelines.ingest.load import load_batch, load_table_file

    if kind in ("applications", "loans", "repayments"):
        batch = load_batch(path, kind, mapping_path, chunk_rows=settings.ingest.chunk_rows)
        frame, problems, raw, batch_id = batch.frame, batch.problems, batch.raw, batch.batch_id
    else:
        frame, problems, batch_id = load_table_file(path, load_suite(kind, settings))
        raw = None
    result = run_gate(frame, kind, batch_id, settings, wh, business_date, problems, raw=raw,
                      record_rejection=record)
    if record and wh is not None:
        record_gate(wh, result)
    return result


# -- pieces -----------------------------------------------------------------------------------

def business_day_end(day: date, future_minutes: int = 0) -> pd.Timestamp:
    """The business date's last instant, plus the tolerated clock skew for timestamps."""
    return day_end(day) + pd.Timedelta(minutes=future_minutes)


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
    done = wh.read("validation_results", where="suite = :s AND status <> 'rejected' "
                   "AND batch_id <> :b AND batch_id NOT LIKE :scoring",
                   params={"s": kind, "b": batch_id, "scoring": "score-%"},
                   columns=["rows_in", "validated_at"], order_by="validated_at DESC")
    recent = done["rows_in"].head(v.trailing_batches)
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
    passed = df.iloc[0:0] if status == "rejected" else df.iloc[np.flatnonzero(~bad_rows)]
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


# -- Great Expectations -----------------------------------------------------------------------

@dataclass
class GxOutcome:
    failures: list[str]  # failed batch-level expectations, described for people
    row_failures: list[str]  # row-level expectations with at least one quarantined row
    evaluated: int
    report_path: str | None


class GxBatch:
    """Translate a suite into GX expectations, run the batch-level ones in a GX
    ValidationDefinition on an ephemeral context, add the row-level outcomes, build Data Docs."""

    def __init__(self, frame: pd.DataFrame, suite: Suite, band: tuple[int, int] | None,
                 issues: pd.DataFrame, business_end: pd.Timestamp) -> None:
        self.frame, self.suite, self.band = frame, suite, band
        self.issues, self.business_end = issues, business_end
        present = [r for r in suite.columns.values() if r.name in frame.columns]
        self.empty_columns = [r.name for r in present if suite.allow_all_null_columns
                              and len(frame) and frame[r.name].isna().all()]
        self.present = present

    def batch_expectations(self) -> list[Any]:
        import great_expectations.expectations as gxe

        s = self.suite
        out: list[Any] = [gxe.ExpectTableRowCountToBeBetween(
            min_value=s.min_rows, meta={"why": "an empty batch is rejected"})]
        if self.band:
            out.append(gxe.ExpectTableRowCountToBeBetween(
                min_value=self.band[0], max_value=self.band[1],
                meta={"why": "row_count_band x trailing average"}))
        out += [gxe.ExpectColumnToExist(column=c) for c in s.required_columns]
        for rule in self.present:
            if rule.type in _GX_TYPES:
                out.append(gxe.ExpectColumnValuesToBeInTypeList(column=rule.name,
                                                                type_list=_GX_TYPES[rule.type]))
            if rule.name not in self.empty_columns:
                share = s.max_null_share if rule.max_null_share is None else rule.max_null_share
                out.append(gxe.ExpectColumnValuesToNotBeNull(column=rule.name,
                                                             mostly=_mostly(share)))
        key = [c for c in s.key if c in self.frame.columns]
        mostly = _mostly(s.max_duplicate_key_share)
        if len(key) == 1:
            out.append(gxe.ExpectColumnValuesToBeUnique(column=key[0], mostly=mostly))
        elif key:
            out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=key, mostly=mostly))
        return out

    def run(self, batch_id: str, docs_dir: Path | None, on_issue: bool = False) -> GxOutcome:
        """Evaluate the suite; render Data Docs into ``docs_dir`` (only for a batch with a
        failed expectation when ``on_issue``: GX's rendering is most of a small gate's cost).
        Without a page to render, only the failed row-level expectations become GX results."""
        batch = [evaluate(e, self.frame) for e in self.batch_expectations()]
        n_rows, failed_rows = self.row_results(only_failed=True)
        failed = failed_rows or any(not r.success for r in batch)
        report = None
        if docs_dir is not None and (failed or not on_issue):
            results = [_html_safe(r) for r in batch + self.row_results()[1]]
            with _GX_LOCK:  # a cached context is not safe across Prefect's worker threads
                report = _gx_state(self.suite.kind).docs(
                    self.suite_result(batch_id, results), docs_dir, batch_id)
        return GxOutcome(failures=[_describe(r) for r in batch if not r.success],
                         row_failures=[_describe(r) for r in failed_rows],
                         evaluated=len(batch) + n_rows, report_path=report)

    def suite_result(self, batch_id: str, results: list[Any]) -> Any:
        """The suite's validation result as GX's own run would store it."""
        from great_expectations import __version__
        from great_expectations.core.expectation_validation_result import (
            ExpectationSuiteValidationResult,
        )

        ok = sum(1 for r in results if r.success)
        now = datetime.now(UTC)
        return ExpectationSuiteValidationResult(
            success=ok == len(results), results=results, suite_name=self.suite.kind,
            statistics={"evaluated_expectations": len(results), "successful_expectations": ok,
                        "unsuccessful_expectations": len(results) - ok,
                        "success_percent": 100.0 * ok / len(results) if results else None},
            meta={"great_expectations_version": __version__,
                  "validation_time": now.isoformat(), "batch_spec": {"batch_data":
                                                                     "PandasDataFrame"},
                  "active_batch_definition": {"datasource_name": "creditflow",
                                              "data_asset_name": self.suite.kind},
                  "expectation_suite_meta": {"file": str(self.suite.path),
                                             "evaluated_by": "pandas (pipelines.validation."
                                                             "batch_checks, pipelines.validation."
                                                             "quarantine)"}})

    def row_results(self, only_failed: bool = False) -> tuple[int, list[Any]]:
        """The row-level expectations (evaluated by pandas masks in
        ``pipelines.validation.quarantine``)
        as GX results: how many there are, and the results (of the failed ones only, if
        asked)."""
        checks = self.row_checks()
        hits = dict(tuple(self.issues.groupby(["column", "rule"], sort=False))) \
            if len(self.issues) else {}
        chosen = [c for c in checks if not only_failed or (c[1], c[2]) in hits]
        return len(checks), [self._result(make(), column, rule, values(),
                                          hits.get((column, rule)))
                             for make, column, rule, values in chosen]

    def row_checks(self) -> list[tuple[Callable[[], Any], str, str, Callable[[], pd.Series]]]:
        """(expectation factory, column, rule, values) per row-level expectation: GX objects
        are built only for the results someone reads."""
        import great_expectations.expectations as gxe

        out: list[tuple[Callable[[], Any], str, str, Callable[[], pd.Series]]] = []
        for rule in self.present:
            out += self._column_checks(rule, gxe)
        for d in self.suite.derived:
            if {d.numerator, d.denominator} <= set(self.frame.columns):
                out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=d.name,
                                    min_value=d.min, max_value=d.max, meta={
                                        "derived": f"{d.times:g} * {d.numerator} / "
                                                   f"{d.denominator}"}),
                            d.name, "between", partial(ratio, self.frame, d)))
        key = [c for c in self.suite.key if c in self.frame.columns]
        meta = {"quarantines": "the later copies of a repeated key"}
        if key:
            unique = partial(gxe.ExpectColumnValuesToBeUnique, column=key[0], meta=meta) \
                if len(key) == 1 else partial(gxe.ExpectCompoundColumnsToBeUnique,
                                              column_list=key, meta=meta)
            out.append((unique, ",".join(key), "unique_key", partial(self._column, key[0])))
        return out

    def _column(self, name: str) -> pd.Series:
        return self.frame[name]

    def _column_checks(self, rule: ColumnRule, gxe: Any) -> list[Any]:
        col, out = rule.name, []
        values = partial(self._column, col)
        if rule.required:
            out.append((partial(gxe.ExpectColumnValuesToNotBeNull, column=col), col,
                        "not_null", values))
        if rule.type in ("float", "int") and (rule.min is not None or rule.max is not None):
            out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=col,
                                min_value=rule.min, max_value=rule.max), col, "between", values))
        if rule.categories is not None:
            out.append((partial(gxe.ExpectColumnValuesToBeInSet, column=col,
                                value_set=list(rule.categories)), col, "in_set", values))
        if rule.not_after_business_date and rule.type in ("datetime", "date"):
            out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=col,
                                max_value=self.business_end.isoformat()), col, "not_future",
                        values))
        return out

    def _result(self, expectation: Any, column: str, rule: str, values: pd.Series,
                hits: pd.DataFrame | None) -> Any:
        from great_expectations.core.expectation_validation_result import (
            ExpectationValidationResult,
        )

        hits = self.issues.iloc[0:0] if hits is None else hits
        n = len(values)
        missing = int(values.isna().sum()) if rule != "not_null" else 0
        counted = n - missing
        bad = int(hits["row_number"].nunique())
        sample = hits["value"].head(20).tolist()
        meta = {"severity": "row", "rule": rule, "evaluated_by": "pandas"}
        expectation.meta = {**(expectation.meta or {}), **meta}
        return ExpectationValidationResult(
            success=bad == 0, expectation_config=expectation.configuration,
            result={"element_count": n, "missing_count": missing,
                    "missing_percent": 100.0 * missing / n if n else None,
                    "unexpected_count": bad,
                    "unexpected_percent": 100.0 * bad / counted if counted else None,
                    "unexpected_percent_total": 100.0 * bad / n if n else None,
                    "partial_unexpected_list": sample},
            meta=meta)

# One ephemeral GX context per suite kind and process, holding the Data Docs SiteBuilder:
# a new SiteBuilder compiled GX's Jinja templates afresh for every batch.
_GX_LOCK = threading.RLock()
_GX_STATES: dict[str, _GxState] = {}


class _GxState:
    """The cached GX objects of one suite kind. Use only while holding ``_GX_LOCK``."""

    def __init__(self, kind: str) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.kind = kind
        # GX logs every temporary docs folder at INFO, and Prefect's logging setup re-enables it
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        self.ctx = gx.get_context(mode="ephemeral")
        self.ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.sites: dict[str, Any] = {}  # docs directory -> SiteBuilder

    def docs(self, result: Any, docs_dir: Path, batch_id: str) -> str | None:
        """Render this result's validation page only (no index: see the module docstring)."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        run_id = RunIdentifier(run_name=batch_id, run_time=datetime.now(UTC))
        result.meta["run_id"] = run_id
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=self.kind),
            run_id=run_id, batch_identifier=f"creditflow-{self.kind}")
        store = self.ctx.validation_results_store
        store.set(key, result)
        try:
            site = self._site(docs_dir)
            site.build(resource_identifiers=[key], build_index=False)
            url = site.get_resource_url(resource_identifier=key)
        except Exception as exc:  # a report is a by-product: it never fails the gate
            log.warning("Data Docs not written for %s: %s", batch_id, exc)
            return None
        finally:  # the cached context keeps no result
            store.remove_key(key)
        return (url or "").removeprefix("file://") or None

    def _site(self, docs_dir: Path) -> Any:
        """One SiteBuilder per directory: it holds the Jinja environment, so GX's templates are
        compiled once per process instead of once per batch."""
        name = str(docs_dir)
        if name not in self.sites:
            if len(self.sites) >= 8:  # tests and CLI runs use many homes: keep a few
                self.sites.pop(next(iter(self.sites)))
            config = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
                      "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                        "base_directory": name},
                      "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
            self.sites[name] = self.ctx._init_site_builder_for_data_docs_site_creation(
                site_name="creditflow", site_config=config)
        return self.sites[name]


def _gx_state(kind: str) -> _GxState:
    with _GX_LOCK:
        if kind not in _GX_STATES:
            _GX_STATES[kind] = _GxState(kind)
        return _GX_STATES[kind]


def _html_safe(result: Any) -> Any:
    """A copy of a GX result with every text that came from the data (sample values, observed
    values, exception messages) HTML-escaped: GX writes them into the Data Docs page as markup,
    so a tape's ``<script>`` ran in the reader's browser. The expectation's own arguments come
    from the suite file, not from the data, and are left as they are."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationValidationResult,
    )

    return ExpectationValidationResult(
        success=result.success, expectation_config=result.expectation_config,
        result=_escaped(result.result), meta=result.meta,
        exception_info=_escaped(result.exception_info))


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def _mostly(max_share: float) -> float:
    """GX's ``mostly`` for 'at most this share may fail' (GX refuses None: 1.0 is 'all')."""
    return min(1.0, max(0.0, 1.0 - max_share))


def _describe(r: Any) -> str:
    """One failed expectation for people: name, arguments and what was observed."""
    cfg = r.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",) and v is not None}
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    res = r.result or {}
    if r.exception_info and r.exception_info.get("raised_exception"):
        seen = "could not be evaluated: " + str(r.exception_info.get("exception_message"))[:120]
    elif "observed_value" in res:
        seen = f"observed {res['observed_value']}"
    elif res.get("unexpected_count") is not None:
        pct = res.get("unexpected_percent_total", res.get("unexpected_percent"))
        seen = f"{res['unexpected_count']} unexpected" + (f" ({pct:.2f}%)" if pct else "")
    else:
        seen = "failed"
    level = (r.meta or {}).get("severity", "batch")
    return f"{cfg.type}({args}): {seen} [{level}]"
