"""Load loan tapes (CSV or Parquet, any lender's column names via a mapping) into the warehouse.

A file is one batch. It is read in chunks, mapped onto warehouse names, typed, and passed whole
through the validation gate (``pipelines.validation.gate``): a batch-level failure rejects the file
and
nothing of it is written; rows failing a row-level rule (a value that cannot be read as its type,
bytes that are not UTF-8, a repeated key, a value out of range, ...) go to the quarantine table and
the other rows are written, in one transaction with the quarantine rows and the validation
summary. The gate needs the whole batch for its batch-level verdicts, so one file is held in memory
(about 1 GB for 1M application rows); ``chunk_rows`` bounds the reads and the writes. Rows are
upserted on their natural key, so loading the same file twice leaves the same rows.
"""

from __future__ import annotations

import gzip
import hashlib
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, get_settings
from pipelines.core.text import printable
from pipelines.ingest.formats import translate
from pipelines.ingest.mapping import REQUIRED, TYPES, Mapping, load_mapping
from pipelines.validation.gate import record_gate, run_gate
from pipelines.validation.quarantine import Suite
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Connection, Warehouse

PROBLEM_COLUMNS = ["row_number", "column", "rule", "value"]
# a time of day followed by a UTC offset: "10:00:00+02:00", "10:00Z", "10:00:00.5 -0500"
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


class IngestError(CreditflowError):
    """The file cannot be read; nothing of it was written."""


@dataclass
class IngestResult:
    batch_id: str
    kind: str
    path: str
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    status: str = ""  # the gate's verdict: passed | quarantined (a rejection raises)
    report_path: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class Batch:
    """One file, read and typed, ready for the gate."""

    batch_id: str
    kind: str
    path: Path
    raw: pd.DataFrame  # as read: the user's column names and text (the quarantine payload)
    frame: pd.DataFrame  # warehouse names and types, plus the unmapped columns as read
    problems: pd.DataFrame  # row_number (1-based over the file), column, rule, value
    mapping: Mapping
    ignored: list[str]


def file_batch_id(path: Path, kind: str) -> str:
    """Same bytes, same batch id: a reloaded file is recognisably the same batch."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{kind}-{digest.hexdigest()[:12]}"


def read_tape(path: Path, chunk_rows: int, *,
              keep_nul: bool | None = None) -> Iterator[pd.DataFrame]:
    """Yield the file in chunks of raw (string-typed for CSV) columns. An empty file yields one
    empty frame: an empty batch, which the gate rejects by name. ``keep_nul``: whether a CSV
    holds NUL bytes (None: look)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".txt", ".gz"):
        raise IngestError(f"unsupported file type '{suffix}' for {path}: use .csv or .parquet")
    if path.stat().st_size == 0:
        yield pd.DataFrame()
        return
    try:
        if suffix in (".parquet", ".pq"):
            pf = pq.ParquetFile(path)
            _refuse_repeated_names(path, pf.schema_arrow.names)
            if pf.metadata.num_rows == 0:
                yield pf.schema_arrow.empty_table().to_pandas()
            for batch in pf.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        else:
            # Undecodable bytes are kept (as surrogates) so the row can be named, not lost.
            # pandas' C parser ends a value at a NUL byte; the Python parser keeps it, so
            # ``coerce`` can quarantine the row (it is slower: only for files holding one).
            options: dict[str, Any] = {
                "dtype": str, "encoding": "utf-8", "encoding_errors": "surrogateescape",
                "engine": "python" if keep_nul or (keep_nul is None and holds_nul(path))
                else "c"}
            header = pd.read_csv(path, header=None, nrows=1, **options)
            _refuse_repeated_names(path, header.iloc[0].dropna().tolist() if len(header) else [])
            yield from pd.read_csv(path, chunksize=chunk_rows, keep_default_na=True, **options)
    except pd.errors.EmptyDataError:
        yield pd.DataFrame()
    except IngestError:
        raise
    except Exception as exc:
        raise IngestError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None


def holds_nul(path: Path) -> bool:
    """Whether a CSV file holds a NUL byte anywhere (Parquet's binary pages always do)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return False
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        return any(b"\x00" in block for block in iter(lambda: fh.read(1 << 20), b""))


def _refuse_repeated_names(path: Path, names: list[str]) -> None:
    """pandas renames a repeated header (``x``, ``x.1``) and Arrow keeps both: either way one
    column would be read under another's name or silently dropped."""
    repeated = sorted(str(n) for n, seen in Counter(names).items() if seen > 1)
    if repeated:
        raise IngestError(f"{path}: the header repeats column(s) "
                          + ", ".join(f"'{printable(n)}'" for n in repeated)
                          + ": rename or drop the copies")


def read_whole(path: Path, chunk_rows: int, keep_nul: bool | None = None) -> pd.DataFrame:
    chunks = list(read_tape(path, chunk_rows, keep_nul=keep_nul))
    if len(chunks) == 1:
        return chunks[0].reset_index(drop=True)
    return pd.concat(chunks, ignore_index=True)


def load_batch(path: Path, kind: str, mapping_path: Path | None = None,
               chunk_rows: int = 100_000) -> Batch:
    """Read, map and type one file. A mapping that names absent columns is an error here; a
    missing *required* column is left to the gate, which rejects the batch by name."""
    mapping = load_mapping(mapping_path, kind)
    path = Path(path)
    nul = path.is_file() and holds_nul(path)
    raw = read_whole(path, chunk_rows, keep_nul=nul)
    columns = [str(c) for c in raw.columns]
    if all(mapping.source_for(c) in columns for c in REQUIRED[kind]):
        mapping.check_against(columns)
    mapped, ignored = map_columns(raw, mapping)
    typed, problems = coerce(mapped, kind, mapping, 1, nul=nul)
    for name in ignored:  # reported by the gate as unknown columns, never written
        if name not in typed.columns:
            typed[name] = raw[name]
    return Batch(batch_id=file_batch_id(path, kind), kind=kind, path=path, raw=raw,
                 frame=typed, problems=problems, mapping=mapping, ignored=ignored)


def load_table_file(path: Path, suite: Suite,
                    chunk_rows: int = 100_000) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A features or scores file typed by its suite: (frame, type problems, batch id)."""
    raw = read_whole(Path(path), chunk_rows)
    problems = []
    frame = raw.copy()
    for rule in suite.columns.values():
        if rule.name in frame.columns:
            cast, bad = _cast(raw[rule.name], "str" if rule.type == "category" else rule.type)
            frame[rule.name] = cast
            if bad.any():
                problems.append(pd.DataFrame({
                    "row_number": np.flatnonzero(bad) + 1, "column": rule.name,
                    "rule": f"type:{rule.type}", "value": raw[rule.name][bad].astype(str)}))
    found = pd.concat(problems, ignore_index=True) if problems else \
        pd.DataFrame(columns=PROBLEM_COLUMNS)
    return frame, found, file_batch_id(Path(path), suite.kind)


def map_columns(raw: pd.DataFrame, mapping: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """Rename the user's columns to warehouse names; return the frame and the ignored columns."""
    spec = TYPES[mapping.kind]
    out = pd.DataFrame(index=raw.index)
    for name in spec:
        src = mapping.source_for(name)
        if src in raw.columns:
            out[name] = raw[src]
    for name in mapping.extras:
        if name in raw.columns:  # absent only when a required column is missing too
            out[name] = raw[name]
    if mapping.target and mapping.target in raw.columns:
        out["known_bad"] = raw[mapping.target]
    used = {mapping.source_for(n) for n in spec} | set(mapping.extras) | {mapping.target}
    return out, [c for c in raw.columns if c not in used]


def coerce(df: pd.DataFrame, kind: str, mapping: Mapping, first_row: int,
           nul: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cast columns to warehouse types. Values that cannot be cast become NULL and are reported
    as problems (row number counted from 1 over the whole file, column, rule, offending value),
    as are text values holding a NUL byte when ``nul`` says the file has one (looking costs
    0.15 s per column and million rows). A column with a format in the mapping is read by it
    (rule ``format:...``); a ``values:`` map translates a column's words after it is read."""
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
        cast, checks = _read(raw, kind_of, mapping, name)
        if name in mapping.values:
            cast = translate(cast, mapping.values[name])
        out[name] = cast
        if nul and raw.dtype == object:
            checks.append(("encoding:nul", raw.str.contains("\x00", regex=False)
                           .fillna(False).to_numpy(dtype=bool)))
            if kind_of == "str":  # what the gate's rules report must be storable text too
                out[name] = cast.str.replace("\x00", "\\x00", regex=False)
        if kind_of == "str" and raw.notna().any():
            checks.append(("encoding:utf-8", _undecodable(cast)))
        problems += [pd.DataFrame({"row_number": rows[hit], "column": name, "rule": rule,
                                   "value": raw[hit].map(printable).to_numpy()})
                     for rule, hit in checks if hit.any()]
    if kind == "applications" and "business_date" not in df.columns and \
            "application_ts" in out.columns:
        out["business_date"] = out["application_ts"].dt.normalize()
    found = pd.concat(problems, ignore_index=True) if problems else \
        pd.DataFrame(columns=PROBLEM_COLUMNS)
    return out, found


def _read(raw: pd.Series, kind_of: str, mapping: Mapping,
          name: str) -> tuple[pd.Series, list[tuple[str, np.ndarray]]]:
    """One column typed, by its declared format when it has one: (values, [(rule, rows)])."""
    declared = mapping.label if name == "known_bad" else mapping.formats.get(name)
    if declared is None:
        cast, bad = _cast(raw, kind_of)
        return cast, [(f"type:{kind_of}", bad)]
    parsed, unread = declared.parse(raw)
    cast, bad = _cast(parsed, kind_of)  # e.g. 1,234.5 is a number but not a whole month count
    return cast, [(declared.rule, unread), (f"type:{kind_of}", bad & ~unread)]


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
        cast = _datetimes(raw, present)
        if kind_of == "date":
            cast = cast.dt.normalize()
        return cast, present & cast.isna().to_numpy()
    cast = raw.where(raw.isna(), raw.astype(str).str.strip())
    return cast, np.zeros(len(raw), dtype=bool)


def _datetimes(raw: pd.Series, present: np.ndarray) -> pd.Series:
    """Naive timestamps. One with a UTC offset is converted to UTC and the offset dropped: the
    warehouse stores UTC-naive (no business time zone is configured)."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return _naive(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: parsed apart below
        try:
            cast = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        except (TypeError, ValueError):  # what pandas 3 does with mixed offsets
            cast = raw.astype(object)
    if not (isinstance(cast.dtype, np.dtype) and cast.dtype.kind == "M"):
        cast = _offsets_apart(raw, present)
    retry = present & cast.isna().to_numpy()
    if retry.any():  # other layouts ("03/01/2025 10:00", "... UTC"), each value on its own
        cast[retry] = _naive(pd.to_datetime(raw[retry], errors="coerce", format="mixed",
                                            utc=True)).to_numpy()
    return cast.astype("datetime64[ns]")


def _offsets_apart(raw: pd.Series, present: np.ndarray) -> pd.Series:
    """A column holding offsets parsed in two parts, with and without: given both, pandas'
    ISO8601 parser lends a plain value the offset of the value before it (and it cannot hold
    mixed offsets in one column). The pattern costs 2 s per million values: only here."""
    aware = present & raw.astype(str).str.contains(_OFFSET, regex=True).to_numpy()
    cast = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    for part, utc in ((present & ~aware, False), (aware, True)):
        if part.any():
            cast[part] = _naive(pd.to_datetime(raw[part], errors="coerce", format="ISO8601",
                                               utc=utc)).to_numpy()
    return cast


def _naive(parsed: pd.Series) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert(None)
    return parsed.astype("datetime64[ns]")


def _undecodable(s: pd.Series) -> np.ndarray:
    # surrogateescape maps each undecodable byte to U+DC80..U+DCFF
    return s.fillna("").str.contains("[\udc80-\udcff]", regex=True).to_numpy()


def to_warehouse_frame(df: pd.DataFrame, mapping: Mapping, batch_id: str) -> pd.DataFrame:
    """Pack extra feature columns into the JSON ``extra`` column and stamp the batch."""
    extras = [c for c in mapping.extras if c in df.columns]
    out = df.drop(columns=extras)
    if extras:
        out["extra"] = df[extras].to_json(
            orient="records", lines=True, date_format="iso").splitlines() if len(df) else []
    elif "extra" in schema.metadata.tables[mapping.kind].c and "extra" not in out.columns:
        out["extra"] = None  # a row loaded again without extras must not keep the old ones
    out["batch_id"] = batch_id
    return out


def write_frame(wh: Warehouse, df: pd.DataFrame, kind: str, conn: Connection | None = None,
                chunk_rows: int = 50_000) -> int:
    """Upsert already-typed rows of one kind (the simulator and the demo use this directly)."""
    return wh.upsert(kind, df, conn=conn, chunk_rows=chunk_rows)


def ingest_file(wh: Warehouse, path: Path, kind: str, mapping_path: Path | None = None,
                chunk_rows: int = 100_000, settings: Settings | None = None,
                business_date: date | None = None) -> IngestResult:
    """Load one file through the validation gate, in a single transaction: the rows that pass,
    the quarantined rows and the validation summary land together. A rejected batch raises
    ``pipelines.validation.gate.BatchRejected`` (its rejection recorded) and writes no row."""
    settings = settings or get_settings()
    batch = load_batch(path, kind, mapping_path, chunk_rows)
    result = ingest_frame(settings, wh, batch.frame, kind, batch.batch_id, business_date,
                          problems=batch.problems, raw=batch.raw, mapping=batch.mapping,
                          chunk_rows=chunk_rows)
    result.path = str(path)
    result.ignored_columns = batch.ignored
    return result


def ingest_frame(settings: Settings, wh: Warehouse, frame: pd.DataFrame, kind: str,
                 batch_id: str, business_date: date | None = None, *,
                 problems: pd.DataFrame | None = None, raw: pd.DataFrame | None = None,
                 mapping: Mapping | None = None, chunk_rows: int = 100_000) -> IngestResult:
    """Gate and write an already-typed batch (a file's rows, or a day's feed) in one
    transaction; a rejected batch raises ``BatchRejected`` and writes no row."""
    mapping = mapping or Mapping(kind=kind)
    gate = run_gate(frame, kind, batch_id, settings, wh, business_date, problems, raw=raw)
    rows = to_warehouse_frame(gate.passed, mapping, batch_id)
    if kind == "repayments" and business_date is not None:
        # a feed loaded on a known day: its rows are known from then, not from their month
        # end (features.outcome); without a date, month end + features.tape_lag_days
        rows["known_at"] = pd.Timestamp(business_date)
    with wh.begin() as conn:
        for start in range(0, len(rows), chunk_rows):
            write_frame(wh, rows.iloc[start:start + chunk_rows], kind, conn=conn,
                        chunk_rows=chunk_rows)
        record_gate(wh, gate, conn)
    return IngestResult(batch_id=batch_id, kind=kind, path="", rows_read=gate.rows_in,
                        rows_written=len(rows), rows_quarantined=gate.rows_quarantined,
                        status=gate.status, report_path=gate.report_path,
                        extra_columns=list(mapping.extras))
