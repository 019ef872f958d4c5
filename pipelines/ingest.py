"""Load loan tapes (CSV or Parquet, any lender's column names via a mapping) into the warehouse.

A file is read in chunks and written inside one transaction: either every row lands, or none does
and the error names the file, row and column. Rows are upserted on their natural key, so loading the
same file twice leaves the same rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import Connection

from pipelines import schema
from pipelines.errors import CreditflowError
from pipelines.mapping import KEYS, Mapping, load_mapping
from pipelines.warehouse import Warehouse

TYPES: dict[str, dict[str, str]] = {
    "applications": schema.APPLICATION_COLUMNS,
    "loans": {"loan_id": "str", "application_id": "str", "origination_date": "date",
              "dealer_id": "str", "loan_amount": "float", "term_months": "int",
              "interest_rate": "float", "monthly_payment": "float"},
    "repayments": schema.REPAYMENT_COLUMNS,
}
PROBLEM_COLUMNS = ["row_number", "column", "rule", "value"]


class IngestError(CreditflowError):
    """The file cannot be loaded; nothing of it was written."""


@dataclass
class IngestResult:
    batch_id: str
    kind: str
    path: str
    rows_read: int = 0
    rows_written: int = 0
    extra_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def file_batch_id(path: Path, kind: str) -> str:
    """Same bytes, same batch id: a reloaded file is recognisably the same batch."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{kind}-{digest.hexdigest()[:12]}"


def read_tape(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the file in chunks of raw (string-typed for CSV) columns."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise IngestError(f"file is empty: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        elif suffix in (".csv", ".txt", ".gz"):
            # Undecodable bytes are kept (as surrogates) so the row can be named, not lost.
            yield from pd.read_csv(path, dtype=str, chunksize=chunk_rows, keep_default_na=True,
                                   encoding="utf-8", encoding_errors="surrogateescape")
        else:
            raise IngestError(f"unsupported file type '{suffix}' for {path}: use .csv or .parquet")
    except IngestError:
        raise
    except pd.errors.EmptyDataError:
        raise IngestError(f"file has no header or rows: {path}") from None
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def map_columns(raw: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """Rename the user's columns to warehouse names; return the frame and the ignored columns."""
    spec = TYPES[mapping.kind]
    out = pd.DataFrame(index=raw.index)
    for name in spec:
        src = mapping.source_for(name)
        if src in raw.columns:
            out[name] = raw[src]
    for name in mapping.extras:
        out[name] = raw[name]
    if mapping.target:
        out["known_bad"] = raw[mapping.target]
    used = {mapping.source_for(n) for n in spec} | set(mapping.extras) | {mapping.target}
    return out, [c for c in raw.columns if c not in used]


def coerce(df: pd.DataFrame, kind: str, mapping: Mapping,
           first_row: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cast columns to warehouse types. Values that cannot be cast become NULL and are reported
    as problems (row number counted from 1 over the whole file, column, rule, offending value)."""
    spec = TYPES[kind] | dict.fromkeys(mapping.extra_numeric, "float")
    spec |= dict.fromkeys(mapping.extra_categorical, "str")
    if "known_bad" in df.columns:
        spec = spec | {"known_bad": "label"}
    problems: list[pd.DataFrame] = []
    rows = np.arange(first_row, first_row + len(df))
    out = df.copy()
    for name, kind_of in spec.items():
        if name not in out.columns:
            continue
        raw = out[name]
        cast, bad = _cast(raw, kind_of)
        out[name] = cast
        if bad.any():
            problems.append(pd.DataFrame({"row_number": rows[bad], "column": name,
                                          "rule": f"type:{kind_of}",
                                          "value": raw[bad].astype(str).to_numpy()}))
        if kind_of == "str" and raw.notna().any():
            enc = _undecodable(cast)
            if enc.any():
                problems.append(pd.DataFrame({"row_number": rows[enc], "column": name,
                                              "rule": "encoding:utf-8",
                                              "value": cast[enc].map(_printable).to_numpy()}))
    if kind == "applications" and "business_date" not in df.columns and \
            "application_ts" in out.columns:
        out["business_date"] = out["application_ts"].dt.normalize()
    found = pd.concat(problems, ignore_index=True) if problems else \
        pd.DataFrame(columns=PROBLEM_COLUMNS)
    return out, found


def _cast(raw: pd.Series, kind_of: str) -> tuple[pd.Series, np.ndarray]:
    present = raw.notna().to_numpy()
    if kind_of in ("float", "int", "label"):
        cast = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = present & cast.isna().to_numpy()
        if kind_of in ("int", "label"):
            frac = cast.notna().to_numpy() & (cast.to_numpy() % 1 != 0)
            bad |= frac
            cast[frac] = np.nan
        if kind_of == "label":
            out_of_set = cast.notna().to_numpy() & ~cast.isin([0.0, 1.0]).to_numpy()
            bad |= out_of_set
            cast[out_of_set] = np.nan
        return cast, bad
    if kind_of in ("datetime", "date"):
        if pd.api.types.is_datetime64_any_dtype(raw):
            cast = raw.dt.tz_localize(None) if raw.dt.tz is not None else raw
        else:
            cast = pd.to_datetime(raw, errors="coerce", format="ISO8601")
            retry = present & cast.isna().to_numpy()
            if retry.any():
                cast[retry] = pd.to_datetime(raw[retry], errors="coerce", format="mixed")
        cast = cast.astype("datetime64[ns]")
        if kind_of == "date":
            cast = cast.dt.normalize()
        return cast, present & cast.isna().to_numpy()
    cast = raw.where(raw.isna(), raw.astype(str).str.strip())
    return cast, np.zeros(len(raw), dtype=bool)


def _undecodable(s: pd.Series) -> np.ndarray:
    # surrogateescape maps each undecodable byte to U+DC80..U+DCFF
    return s.fillna("").str.contains("[\udc80-\udcff]", regex=True).to_numpy()


def _printable(value: object) -> str:
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def duplicate_keys(df: pd.DataFrame, kind: str, first_row: int,
                   seen: dict[tuple, int]) -> pd.DataFrame:
    """Rows whose natural key already occurred in this file (`seen` spans chunks)."""
    keys = KEYS[kind]
    found = []
    for offset, key in enumerate(df[keys].itertuples(index=False, name=None)):
        if any(pd.isna(k) for k in key):
            continue
        row = first_row + offset
        if key in seen:
            found.append({"row_number": row, "column": ",".join(keys), "rule": "unique_key",
                          "value": f"{key if len(key) > 1 else key[0]} (first at row {seen[key]})"})
        else:
            seen[key] = row
    return pd.DataFrame(found, columns=PROBLEM_COLUMNS)


def to_warehouse_frame(df: pd.DataFrame, mapping: Mapping, batch_id: str) -> pd.DataFrame:
    """Pack extra feature columns into the JSON ``extra`` column and stamp the batch."""
    out = df.drop(columns=list(mapping.extras))
    if mapping.extras:
        out["extra"] = df[list(mapping.extras)].to_json(
            orient="records", lines=True, date_format="iso").splitlines()
    out["batch_id"] = batch_id
    return out


def write_frame(wh: Warehouse, df: pd.DataFrame, kind: str, conn: Connection | None = None,
                chunk_rows: int = 50_000) -> int:
    """Upsert already-typed rows of one kind (the simulator and the demo use this directly)."""
    return wh.upsert(kind, df, conn=conn, chunk_rows=chunk_rows)


def ingest_file(wh: Warehouse, path: Path, kind: str, mapping_path: Path | None = None,
                chunk_rows: int = 100_000) -> IngestResult:
    """Load one file in a single transaction; any bad row rejects the file with a named error."""
    mapping = load_mapping(mapping_path, kind)
    path = Path(path)
    result = IngestResult(batch_id="", kind=kind, path=str(path),
                          extra_columns=list(mapping.extras))
    chunks = read_tape(path, chunk_rows)  # raises on a missing or empty file before hashing
    first = next(chunks, None)
    if first is None or first.empty:
        raise IngestError(f"file has a header but no rows: {path}")
    result.batch_id = file_batch_id(path, kind)
    mapping.check_against([str(c) for c in first.columns])
    seen: dict[tuple, int] = {}
    with wh.begin() as conn:
        for raw in _chain(first, chunks):
            mapped, ignored = map_columns(raw, mapping)
            result.ignored_columns = ignored
            typed, problems = coerce(mapped, kind, mapping, result.rows_read + 1)
            problems = pd.concat([problems, duplicate_keys(typed, kind, result.rows_read + 1,
                                                           seen)], ignore_index=True)
            if not problems.empty:
                raise IngestError(describe_problems(path, problems))
            result.rows_read += len(raw)
            frame = to_warehouse_frame(typed, mapping, result.batch_id)
            result.rows_written += write_frame(wh, frame, kind, conn=conn)
    return result


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def describe_problems(path: Path, problems: pd.DataFrame, limit: int = 5) -> str:
    lines = [f"row {p.row_number}, column '{p.column}': {p.rule} (value {p.value!r})"
             for p in problems.head(limit).itertuples()]
    more = f" and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{path}: {len(problems)} bad value(s), nothing loaded: " + "; ".join(lines) + more


def read_extra(extra: pd.Series) -> pd.DataFrame:
    """Unpack the JSON ``extra`` column back into columns (NaN where a row has none)."""
    filled = extra.fillna("{}")
    return pd.DataFrame([json.loads(x) for x in filled], index=extra.index)
