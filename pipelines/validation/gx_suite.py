"""A suite as Great Expectations expectations and results: the batch-level expectations evaluated
in pandas (``pipelines.validation.batch_checks``), the row-level outcomes of
``pipelines.validation.quarantine`` turned into GX results, and the Data Docs page rendered from
both (``pipelines.validation.datadocs``).

Why GX does not run the checks itself (measured on this machine, 2 cores shared;
``bench/bench_validate.py`` reproduces the figures)
-------------------------------------------------------------------------------------------
Every expectation of the suite is a GX 1.x expectation object and every outcome a GX
``ExpectationValidationResult``; GX renders them as Data Docs. The checks themselves are pandas:
- row level (``pipelines.validation.quarantine``): GX's pandas engine with
  ``result_format=COMPLETE`` (to read ``unexpected_index_list``) took 14.9 s on 1M applications
  x 25 columns against 1.0 s for the same masks (14.5x): it copies the frame to drop each
  column's nulls, and hashes it whole for a batch fingerprint;
- batch level (``pipelines.validation.batch_checks``): GX's ``ValidationDefinition.run`` over
  the ~50 batch-level expectations cost 0.25-0.85 s per batch at any size (metric graph,
  fingerprint, result objects), which made a demo day of three or four gates cost seconds; the
  same verdicts in pandas take milliseconds.
  ``tests/unit/pipelines/validation/test_batch_checks.py`` keeps GX's engine as the oracle:
  same success flags and counts on random frames with defects.
A 2,000-row batch: 0.6-0.7 s a gate with Data Docs and 0.35 s without before, 0.15-0.2 s and
0.06 s after (most of what remains with Data Docs is GX's rendering).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.validation.batch_checks import Shown, evaluate_expectation
from pipelines.validation.datadocs import GX_LOCK, gx_state, html_safe
from pipelines.validation.masks import BatchMasks
from pipelines.validation.quarantine import ColumnRule, DerivedRule, Suite, ratio

_GX_TYPES = {
    "float": ["float64", "float32", "int64", "int32"],
    "int": ["int64", "int32", "float64"],  # NaN-able ints arrive as float64
    "datetime": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
    "date": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"],
}


@dataclass
class GxOutcome:
    failures: list[str]  # failed batch-level expectations, described for people
    row_failures: list[str]  # row-level expectations with at least one quarantined row
    evaluated: int
    report_path: str | None


class GxBatch:
    """Translate a suite into GX expectations, evaluate the batch-level ones in pandas, add the
    row-level outcomes as GX results, build Data Docs. ``issues`` as the page may show them;
    ``masks``: the masks the row-level checks used; ``shown``: ``frame``'s rows as the page may
    show them (``batch_checks.evaluate_expectation``)."""

    def __init__(self, frame: pd.DataFrame, suite: Suite, band: tuple[int, int] | None,
                 issues: pd.DataFrame, business_end: pd.Timestamp,
                 masks: BatchMasks | None = None, shown: Shown | None = None) -> None:
        self.frame, self.suite, self.band = frame, suite, band
        self.issues, self.business_end = issues, business_end
        self.masks = BatchMasks(frame) if masks is None else masks
        self.shown = shown
        present = [r for r in suite.columns.values() if r.name in frame.columns]
        self.empty_columns = [r.name for r in present if suite.allow_all_null_columns
                              and len(frame) and self.masks[r.name].all()]
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
        batch = [evaluate_expectation(e, self.frame, self.masks, self.shown)
                 for e in self.batch_expectations()]
        n_rows, failed_rows = self.row_results(only_failed=True)
        failed = failed_rows or any(not r.success for r in batch)
        report = None
        if docs_dir is not None and (failed or not on_issue):
            results = [html_safe(r) for r in batch + self.row_results()[1]]
            with GX_LOCK:  # a cached context is not safe across Prefect's worker threads
                report = gx_state(self.suite.kind).docs(
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
        return len(checks), [self._result(make(), rule, missing(), hits.get((column, rule)))
                             for make, column, rule, missing in chosen]

    def row_checks(self) -> list[tuple[Callable[[], Any], str, str, Callable[[], np.ndarray]]]:
        """(expectation factory, column, rule, missing values) per row-level expectation: GX
        objects and the masks are built only for the results someone reads."""
        import great_expectations.expectations as gxe

        out: list[tuple[Callable[[], Any], str, str, Callable[[], np.ndarray]]] = []
        for rule in self.present:
            out += self._column_checks(rule, gxe)
        for d in self.suite.derived:
            if {d.numerator, d.denominator} <= set(self.frame.columns):
                out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=d.name,
                                    min_value=d.min, max_value=d.max, meta={
                                        "derived": f"{d.times:g} * {d.numerator} / "
                                                   f"{d.denominator}"}),
                            d.name, "between", partial(self._ratio_missing, d)))
        key = [c for c in self.suite.key if c in self.frame.columns]
        meta = {"quarantines": "the later copies of a repeated key"}
        if key:
            unique = partial(gxe.ExpectColumnValuesToBeUnique, column=key[0], meta=meta) \
                if len(key) == 1 else partial(gxe.ExpectCompoundColumnsToBeUnique,
                                              column_list=key, meta=meta)
            out.append((unique, ",".join(key), "unique_key", partial(self._missing, key[0])))
        return out

    def _missing(self, name: str) -> np.ndarray:
        return self.masks[name]

    def _ratio_missing(self, rule: DerivedRule) -> np.ndarray:
        return ratio(self.frame, rule).isna().to_numpy()

    def _column_checks(self, rule: ColumnRule, gxe: Any) -> list[Any]:
        col, out = rule.name, []
        missing = partial(self._missing, col)
        if rule.required:
            out.append((partial(gxe.ExpectColumnValuesToNotBeNull, column=col), col,
                        "not_null", missing))
        if rule.type in ("float", "int") and (rule.min is not None or rule.max is not None):
            out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=col,
                                min_value=rule.min, max_value=rule.max), col, "between", missing))
        if rule.categories is not None:
            out.append((partial(gxe.ExpectColumnValuesToBeInSet, column=col,
                                value_set=list(rule.categories)), col, "in_set", missing))
        if rule.not_after_business_date and rule.type in ("datetime", "date"):
            out.append((partial(gxe.ExpectColumnValuesToBeBetween, column=col,
                                max_value=self.business_end.isoformat()), col, "not_future",
                        missing))
        return out

    def _result(self, expectation: Any, rule: str, missing_values: np.ndarray,
                hits: pd.DataFrame | None) -> Any:
        from great_expectations.core.expectation_validation_result import (
            ExpectationValidationResult,
        )

        hits = self.issues.iloc[0:0] if hits is None else hits
        n = len(missing_values)
        missing = int(missing_values.sum()) if rule != "not_null" else 0
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
