"""The row-level half of the validation gate: suites read from ``expectations/*.yaml`` and the
vectorised checks that decide which rows of a batch go to quarantine.

A suite is a small YAML file an analyst edits (see ``expectations/README.md``); a value written
``${section.key}`` is read from the settings, so thresholds live in ``creditflow.toml``.
``pipelines.validation.gate`` turns a suite into Great Expectations expectations for the batch-level
verdicts and the Data Docs; this module evaluates the row-level rules with pandas masks (why, with
the measurements, is in ``pipelines.validation.gate``'s docstring).

Row-level rules, the ``rule`` column of the quarantine table:

=================  ===================================================================
``not_null``       a null in a ``required`` column (not reported in a row that already
                   has an unreadable value: the failed cast left that null, or one in a
                   column derived from it, such as business_date from application_ts)
``between``        a value (or a derived ratio such as ``ltv``) outside ``min``/``max``
``in_set``         a value outside the column's ``categories``
``not_future``     a timestamp or date after the end of the batch's business date
``finite``         +/-inf in a numeric column
``unique_key``     the key already occurred earlier in the batch (the first copy goes on)
``max_length:<n>`` text longer than its warehouse column (``String(n)``) holds
``type:<t>``       (from ingest) a value that cannot be read as ``<t>``
``format:<f>``     (from ingest) a value that does not read in the mapping's declared format
``encoding:utf-8`` (from ingest) bytes that are not UTF-8
=================  ===================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.core.text import key_text, record_keys
from pipelines.core.yaml_input import load_yaml_file
from pipelines.validation.masks import BatchMasks
from pipelines.warehouse import schema

KINDS = ("applications", "loans", "repayments", "features", "roll_features", "scores")
TYPES = ("str", "float", "int", "datetime", "date", "category")
ISSUE_COLUMNS = ["row_number", "rule", "column", "value"]
QUARANTINE_COLUMNS = ["row_number", "record_key", "rule", "column_name", "value", "payload"]
NAMED_CATEGORIES: dict[str, list[str]] = {**schema.CATEGORIES, "dpd_bucket": schema.DPD_BUCKETS,
                                          "loan_status": schema.LOAN_STATUSES}
_REF = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_COLUMN_KEYS = {"type", "required", "min", "max", "between", "categories",
                "not_after_business_date", "finite", "max_null_share"}
_BATCH_KEYS = {"min_rows", "row_count_band", "max_null_share", "max_duplicate_key_share",
               "max_quarantine_share", "all_numeric_finite", "allow_all_null_columns"}
_TOP_KEYS = {"key", "required_columns", "columns", "derived", "batch"}


class SuiteError(CreditflowError):
    """A suite file is missing, unreadable or names something that does not exist."""


@dataclass(frozen=True)
class ColumnRule:
    name: str
    type: str
    required: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    not_after_business_date: bool = False
    finite: bool = False
    max_null_share: float | None = None  # None: the suite's batch default


@dataclass(frozen=True)
class DerivedRule:
    name: str
    numerator: str
    denominator: str
    times: float = 1.0
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Suite:
    kind: str
    path: Path
    key: tuple[str, ...]
    required_columns: tuple[str, ...]
    columns: dict[str, ColumnRule]
    derived: tuple[DerivedRule, ...] = ()
    min_rows: int = 1
    row_count_band: tuple[float, float] | None = None
    max_null_share: float = 1.0
    max_duplicate_key_share: float = 1.0
    max_quarantine_share: float = 1.0
    all_numeric_finite: bool = False
    allow_all_null_columns: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


# -- loading ----------------------------------------------------------------------------------

def suite_path(kind: str, settings: Settings) -> Path:
    if kind not in KINDS:
        raise SuiteError(f"unknown kind '{kind}': expected one of {', '.join(KINDS)}")
    folder = settings.validation.suites_dir or PROJECT_ROOT / "expectations"
    return Path(folder) / f"{kind}.yaml"


def load_suite(kind: str, settings: Settings) -> Suite:
    """Read and check one suite; every error names the file and the offending entry."""
    path = suite_path(kind, settings)
    raw = load_yaml_file(path, SuiteError, "suite file")
    where = str(path)
    _only(raw, _TOP_KEYS, where)
    raw = _resolve(raw, settings, where)
    columns = {str(name): _column(str(name), spec or {}, f"{where}: column '{name}'")
               for name, spec in (raw.get("columns") or {}).items()}
    derived = tuple(_derived(str(name), spec or {}, f"{where}: derived '{name}'")
                    for name, spec in (raw.get("derived") or {}).items())
    batch = raw.get("batch") or {}
    _only(batch, _BATCH_KEYS, f"{where}: batch")
    band = batch.get("row_count_band")
    return Suite(
        kind=kind, path=path, key=tuple(raw.get("key") or ()),
        required_columns=tuple(raw.get("required_columns") or ()), columns=columns,
        derived=derived, min_rows=int(batch.get("min_rows", 1)),
        row_count_band=(float(band[0]), float(band[1])) if band else None,
        max_null_share=float(batch.get("max_null_share", 1.0)),
        max_duplicate_key_share=float(batch.get("max_duplicate_key_share", 1.0)),
        max_quarantine_share=float(batch.get("max_quarantine_share", 1.0)),
        all_numeric_finite=bool(batch.get("all_numeric_finite", False)),
        allow_all_null_columns=bool(batch.get("allow_all_null_columns", False)),
        meta={"file": str(path)},
    )


def _only(spec: Any, allowed: set[str], where: str) -> None:
    if not isinstance(spec, dict):
        raise SuiteError(f"{where}: expected a mapping, got {spec!r}")
    unknown = sorted(set(map(str, spec)) - allowed)
    if unknown:
        raise SuiteError(f"{where}: unknown entry {', '.join(unknown)} "
                         f"(allowed: {', '.join(sorted(allowed))})")


def _resolve(value: Any, settings: Settings, where: str) -> Any:
    """Replace every ``${section.key}`` string by that setting's value."""
    if isinstance(value, dict):
        return {k: _resolve(v, settings, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, settings, where) for v in value]
    if isinstance(value, str) and (m := _REF.match(value.strip())):
        target: Any = settings
        for part in m.group(1).split("."):
            if not hasattr(target, part):
                raise SuiteError(f"{where}: {value} names no setting (see creditflow.toml)")
            target = getattr(target, part)
        return list(target) if isinstance(target, tuple) else target
    return value


def _bounds(spec: dict[str, Any], where: str) -> tuple[float | None, float | None]:
    lo, hi = spec.get("min"), spec.get("max")
    if "between" in spec:
        pair = spec["between"]
        if not (isinstance(pair, list) and len(pair) == 2):
            raise SuiteError(f"{where}: 'between' needs [min, max], got {pair!r}")
        lo, hi = pair
    try:
        return (None if lo is None else float(lo)), (None if hi is None else float(hi))
    except (TypeError, ValueError):
        raise SuiteError(f"{where}: min/max must be numbers, got {lo!r} and {hi!r}") from None


def _column(name: str, spec: dict[str, Any], where: str) -> ColumnRule:
    _only(spec, _COLUMN_KEYS, where)
    kind_of = spec.get("type", "str")
    if kind_of not in TYPES:
        raise SuiteError(f"{where}: type '{kind_of}' is not one of {', '.join(TYPES)}")
    cats = spec.get("categories")
    if isinstance(cats, str):
        if cats not in NAMED_CATEGORIES:
            raise SuiteError(f"{where}: no category list named '{cats}' "
                             f"(known: {', '.join(sorted(NAMED_CATEGORIES))})")
        cats = NAMED_CATEGORIES[cats]
    lo, hi = _bounds(spec, where)
    share = spec.get("max_null_share")
    return ColumnRule(name=name, type=kind_of, required=bool(spec.get("required", False)),
                      min=lo, max=hi, categories=None if cats is None else tuple(map(str, cats)),
                      not_after_business_date=bool(spec.get("not_after_business_date", False)),
                      finite=bool(spec.get("finite", False)),
                      max_null_share=None if share is None else float(share))


def _derived(name: str, spec: dict[str, Any], where: str) -> DerivedRule:
    _only(spec, {"ratio", "times", "min", "max"}, where)
    ratio = spec.get("ratio")
    if not (isinstance(ratio, list) and len(ratio) == 2):
        raise SuiteError(f"{where}: 'ratio' needs [numerator, denominator], got {ratio!r}")
    lo, hi = _bounds(spec, where)
    return DerivedRule(name=name, numerator=str(ratio[0]), denominator=str(ratio[1]),
                       times=float(spec.get("times", 1.0)), min=lo, max=hi)


# -- row-level checks -------------------------------------------------------------------------

def row_issues(frame: pd.DataFrame, suite: Suite, business_end: pd.Timestamp,
               skip_null: set[int] | None = None,
               masks: BatchMasks | None = None) -> pd.DataFrame:
    """Every row-level failure as (row_number, rule, column, value); row_number is the 1-based
    position in ``frame``. ``skip_null`` holds the row numbers already reported as unreadable,
    so a failed cast is not also reported as a null. ``masks``: ``frame``'s masks, shared
    with the batch-level checks."""
    found: list[pd.DataFrame] = []
    widths = _widths(suite)
    masks = BatchMasks(frame) if masks is None else masks
    for rule in suite.columns.values():
        if rule.name not in frame.columns:
            continue
        s, null = frame[rule.name], masks[rule.name]
        try:
            found.extend(_column_issues(s, null, rule, business_end, skip_null or set()))
            if rule.name in widths:
                found.append(_width_issues(s, null, widths[rule.name]))
        except (TypeError, ValueError, AttributeError):
            continue  # a mistyped column: the batch-level type expectation rejects the batch
    if suite.all_numeric_finite:
        # a column bounded both ways already quarantines +/-inf as 'between': not twice
        listed = {r.name for r in suite.columns.values()
                  if r.finite or (r.min is not None and r.max is not None)}
        for name in frame.columns:
            if name not in listed and _is_float(frame[name]):
                found.append(_issues(frame[name], np.isinf(frame[name].to_numpy()), "finite"))
    for rule in suite.derived:
        if {rule.numerator, rule.denominator} <= set(frame.columns):
            found.append(_range_issues(ratio(frame, rule), rule.name, rule.min, rule.max))
    found.append(duplicate_issues(frame, suite.key, masks))
    found = [f for f in found if not f.empty]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ISSUE_COLUMNS})
    return pd.concat(found, ignore_index=True)


def _widths(suite: Suite) -> dict[str, int]:
    """Widths of the suite's free-text columns in its warehouse table (``String(n)``); a
    column with categories needs none: a longer value is outside the set anyway."""
    table = schema.metadata.tables.get(suite.kind)
    if table is None:
        return {}
    return {c.name: c.type.length for c in table.columns if c.name in suite.columns
            and suite.columns[c.name].categories is None and getattr(c.type, "length", None)}


def _width_issues(s: pd.Series, null: np.ndarray, width: int) -> pd.DataFrame:
    """Text wider than its column: PostgreSQL would refuse the whole batch at the write and
    SQLite would keep it whole; the row is quarantined on both (its value kept in full)."""
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)) \
            or widest(s, null) <= width:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    # some value is too wide: which ones (``str.len`` allocates a length per row, so only here)
    return _issues(s, (s.str.len() > width).fillna(False).to_numpy(dtype=bool),
                   f"max_length:{width}")


def widest(s: pd.Series, null: np.ndarray) -> float:
    """The length of the longest present value of a text column (``null``: its missing values),
    in one pass of C-level ``len`` with nothing kept per row; +inf when some present value has
    no length (a number in a text column), so that ``str.len`` looks at it as before."""
    values = s.to_numpy(dtype=object)
    present = values[~null] if null.any() else values
    try:
        return max(map(len, present), default=0)
    except TypeError:
        return np.inf


def ratio(frame: pd.DataFrame, rule: DerivedRule) -> pd.Series:
    num = pd.to_numeric(frame[rule.numerator], errors="coerce").astype("float64")
    den = pd.to_numeric(frame[rule.denominator], errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = rule.times * num / den  # a zero price gives inf: out of any finite range
    return out.rename(rule.name)


def _is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s.dtype)


def _column_issues(s: pd.Series, null: np.ndarray, rule: ColumnRule,
                   business_end: pd.Timestamp, skip_null: set[int]) -> list[pd.DataFrame]:
    out: list[pd.DataFrame] = []
    if rule.required:
        reported = null
        if skip_null and null.any():
            rows = np.flatnonzero(null)
            reported = null.copy()  # the mask is shared with the other checks
            reported[[r for r in rows if r + 1 in skip_null]] = False
        out.append(_issues(s, reported, "not_null"))
    if rule.type in ("float", "int") and (rule.min is not None or rule.max is not None):
        out.append(_range_issues(s, rule.name, rule.min, rule.max))
    if rule.categories is not None:
        values = s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s
        bad = ~null & ~values.isin(rule.categories).to_numpy()
        out.append(_issues(s, bad, "in_set"))
    if rule.not_after_business_date and rule.type in ("datetime", "date"):
        out.append(_issues(s, (s > business_end).to_numpy(), "not_future"))
    if rule.finite and _is_float(s):
        out.append(_issues(s, np.isinf(s.to_numpy()), "finite"))
    return out


def _range_issues(s: pd.Series, name: str, lo: float | None, hi: float | None) -> pd.DataFrame:
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    bad = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if lo is not None:
            bad |= values < lo
        if hi is not None:
            bad |= values > hi
    return _issues(s.rename(name), bad, "between")


def _issues(s: pd.Series, bad: np.ndarray, rule: str) -> pd.DataFrame:
    rows = np.flatnonzero(bad)
    if not len(rows):
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    values = s.iloc[rows]
    shown = [None if pd.isna(v) else key_text(v) for v in values.astype(object)]
    return pd.DataFrame({"row_number": rows + 1, "rule": rule, "column": s.name,
                         "value": shown})


def duplicate_issues(frame: pd.DataFrame, key: Iterable[str],
                     masks: BatchMasks | None = None) -> pd.DataFrame:
    """Rows whose complete key already occurred earlier in the frame (the first copy goes on)."""
    cols = [c for c in key if c in frame.columns]
    if not cols or frame.empty:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    keys = frame[cols].reset_index(drop=True)
    repeat = (BatchMasks(frame) if masks is None else masks).later_copies(cols)
    if not repeat.any():
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    position = pd.Series(np.arange(1, len(keys) + 1))
    first = position.groupby([keys[c] for c in cols], sort=False, dropna=True).transform("first")
    rows = np.flatnonzero(repeat)
    labels = record_keys(keys.iloc[rows], cols)
    return pd.DataFrame({"row_number": rows + 1, "rule": "unique_key", "column": ",".join(cols),
                         "value": [f"{k} (first at row {int(f)})" for k, f in
                                   zip(labels, first.iloc[rows], strict=True)]})




def payloads(rows: pd.DataFrame) -> list[str]:
    """Each row as one JSON object (the whole raw row, so nothing is lost in quarantine)."""
    names = [str(c) for c in rows.columns]
    columns = [_json_column(rows[c]) for c in rows.columns]
    return [json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False)
            for values in zip(*columns, strict=True)]


def _json_column(s: pd.Series) -> list[Any]:
    """``_json_value`` of each value of a column; a NumPy number or boolean column is converted
    whole (a mapping error can quarantine most of a 1M-row batch: value by value, its JSON
    took twice as long)."""
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "iub":
        return s.tolist()
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "f":
        values = s.to_numpy()
        out = values.tolist()
        for i in np.flatnonzero(~np.isfinite(values)):
            out[i] = None if np.isnan(values[i]) else str(out[i])
        return out
    return [_json_value(v) for v in s.astype(object).where(s.notna(), None)]


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return key_text(value) if isinstance(value, str) else value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _json_value(value.item())
    return key_text(value)
