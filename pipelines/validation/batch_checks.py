"""The gate's batch-level expectations evaluated in pandas, with Great Expectations' semantics,
returned as GX ``ExpectationValidationResult`` objects (what GX's own run would return, so the
Data Docs page and the rejection messages read the same).

Why not GX's ``ValidationDefinition.run``: at the demo's batch sizes (a few hundred rows) its
fixed cost per batch (batch fingerprint, metric graph over ~50 expectations, result objects) was
0.25-0.85 s on this machine, against 5-20 ms for these checks; a day of the demo runs three or
four gates. ``tests/unit/pipelines/validation/test_batch_checks.py`` runs GX's engine on the
same expectations and random frames with defects, and requires the same verdicts and counts.

Semantics copied from GX 1.x (``great_expectations/expectations``):
- column map expectations ignore missing values, except ``not_be_null`` which counts them; an
  expectation with nothing to consider is vacuously true; ``mostly`` defaults to 1;
- ``unique``: every copy of a repeated value is unexpected (``duplicated(keep=False)``); the
  compound form ignores rows whose key columns are all missing;
- ``in_type_list``: a column's dtype must be one of the listed dtypes; an ``object`` column is
  checked value by value (``isinstance`` of the listed numpy scalar types).
  GX does not recognise pandas' nullable "Int64"/"Float64" names, so neither do we.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from great_expectations.core.expectation_validation_result import (
    ExpectationValidationResult,
)

from pipelines.validation.masks import BatchMasks

_SAMPLE = 20  # partial_unexpected_list, as GX's BASIC result format
# (positions, columns) -> the frame's rows there as a report may show them
Shown = Callable[[np.ndarray, list[str]], pd.DataFrame]


def evaluate_expectation(expectation: Any, frame: pd.DataFrame, masks: BatchMasks | None = None,
                         shown: Shown | None = None) -> ExpectationValidationResult:
    """One batch-level expectation on ``frame``; ``masks``: the batch's masks, shared by its
    checks (found here when not given); ``shown``: the rows a result lists as examples, as a
    report may show them (the gate's Data Docs: with pseudonyms, found for those rows only);
    by default as they are."""
    check = _CHECKS[type(expectation).__name__]
    success, result = check(expectation, frame, BatchMasks(frame) if masks is None else masks,
                            partial(rows_as_they_are, frame) if shown is None else shown)
    return ExpectationValidationResult(success=bool(success),
                                       expectation_config=expectation.configuration,
                                       result=result, meta={})


def rows_as_they_are(frame: pd.DataFrame, rows: np.ndarray, columns: list[str]) -> pd.DataFrame:
    return frame.iloc[rows][columns]


def _row_count(e: Any, frame: pd.DataFrame, *_: Any) -> tuple[bool, dict[str, Any]]:
    n = len(frame)
    ok = (e.min_value is None or n >= e.min_value) and (e.max_value is None or n <= e.max_value)
    return ok, {"observed_value": n}


def _column_exists(e: Any, frame: pd.DataFrame, *_: Any) -> tuple[bool, dict[str, Any]]:
    return e.column in frame.columns, {}


def _not_null(e: Any, frame: pd.DataFrame, masks: BatchMasks,
              shown: Shown) -> tuple[bool, dict[str, Any]]:
    n = len(frame)
    return _map_result(e, n, n, masks[e.column], partial(_values, shown, e.column))


def _unique(e: Any, frame: pd.DataFrame, masks: BatchMasks,
            shown: Shown) -> tuple[bool, dict[str, Any]]:
    present = int((~masks[e.column]).sum())
    return _map_result(e, len(frame), present, masks.every_copy(e.column),
                       partial(_values, shown, e.column))


def _compound_unique(e: Any, frame: pd.DataFrame, masks: BatchMasks,
                     shown: Shown) -> tuple[bool, dict[str, Any]]:
    keys = frame[list(e.column_list)]
    considered = ~masks.all_missing(list(e.column_list))
    repeated = np.zeros(len(keys), dtype=bool)
    repeated[considered] = keys[considered].duplicated(keep=False).to_numpy()
    return _map_result(e, len(keys), int(considered.sum()), repeated,
                       partial(_keys_text, shown, keys))


def _in_type_list(e: Any, frame: pd.DataFrame, masks: BatchMasks,
                  shown: Shown) -> tuple[bool, dict[str, Any]]:
    values = frame[e.column]
    allowed = _types(e.type_list)
    if values.dtype != object:
        return values.dtype in allowed, {"observed_value": values.dtype.type.__name__}
    classes = tuple(t for t in allowed if isinstance(t, type))
    present = ~masks[e.column]
    wrong = np.zeros(len(values), dtype=bool)
    wrong[present] = [not isinstance(v, classes) for v in values[present]]
    return _map_result(e, len(values), int(present.sum()), wrong,
                       partial(_values, shown, e.column))


def _values(shown: Shown, column: str, rows: np.ndarray) -> list[Any]:
    return shown(rows, [column])[column].tolist()


def _keys_text(shown: Shown, keys: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """The keys at ``rows`` as text, "a|b". A column shown as it is is written whole, then
    taken at ``rows`` (pandas writes a date column's times only when some value has one); a
    column shown as text (a pseudonymised id) is written value by value."""
    if not len(rows):
        return []
    part = shown(rows, list(keys.columns))
    text = pd.DataFrame({c: part[c].astype(str).to_numpy() if part[c].dtype == object
                         else keys[c].astype(str).to_numpy()[rows] for c in keys.columns})
    return text.agg("|".join, axis=1).tolist()


_NATIVE = {"float": (float,), "int": (int,), "long": (int,), "str": (str,), "bool": (bool,)}


def _types(type_list: list[str]) -> list[Any]:
    """What GX compares a column's dtype (or an object column's values) with: each name's
    numpy dtype and scalar type, a pandas type of that name, and the Python type it names.
    As in GX, "Int64" names nothing (pandas calls it Int64Dtype)."""
    out: list[Any] = []
    for name in type_list:
        try:
            out += [np.dtype(name).type, np.dtype(name)]
        except TypeError:
            found = getattr(pd, name, None)
            if isinstance(found, type):
                out.append(found)
                if issubclass(found, pd.api.extensions.ExtensionDtype):
                    out.append(found())
        out += _NATIVE.get(name.lower(), ())
    return out


def _map_result(e: Any, n: int, considered: int, unexpected: np.ndarray,
                examples: Callable[[np.ndarray], list[Any]]) -> tuple[bool, dict[str, Any]]:
    """GX's BASIC result of a column map expectation; ``examples(rows)``: the values listed."""
    bad = int(unexpected.sum())
    mostly = 1.0 if e.mostly is None else float(e.mostly)
    ok = n == 0 or considered == 0 or (considered - bad) / considered >= mostly
    missing = n - considered
    result: dict[str, Any] = {
        "element_count": n, "unexpected_count": bad,
        "unexpected_percent": 100.0 * bad / considered if considered else None,
        "partial_unexpected_list": examples(np.flatnonzero(unexpected)[:_SAMPLE]) if bad else [],
    }
    if type(e).__name__ != "ExpectColumnValuesToNotBeNull":
        result.update({"missing_count": missing,
                       "missing_percent": 100.0 * missing / n if n else None,
                       "unexpected_percent_total": 100.0 * bad / n if n else None,
                       "unexpected_percent_nonmissing":
                           100.0 * bad / considered if considered else None})
    return ok, result


_CHECKS = {
    "ExpectTableRowCountToBeBetween": _row_count,
    "ExpectColumnToExist": _column_exists,
    "ExpectColumnValuesToNotBeNull": _not_null,
    "ExpectColumnValuesToBeUnique": _unique,
    "ExpectCompoundColumnsToBeUnique": _compound_unique,
    "ExpectColumnValuesToBeInTypeList": _in_type_list,
}
