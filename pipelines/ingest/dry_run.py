"""``creditflow validate``: a file through the gate without loading it. It is read and typed
exactly as ingest would (so the verdict is the one ingest would get) and recorded only when
asked: a dry run must not feed the trailing row-count average of batches that never landed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.core.settings import Settings
from pipelines.ingest.load import load_batch, load_table_file
from pipelines.validation.gate import GateResult, record_gate, run_gate
from pipelines.validation.quarantine import load_suite
from pipelines.warehouse.engine import Warehouse


def validate_file(settings: Settings, path: Path, kind: str, mapping_path: Path | None = None,
                  business_date: date | None = None, wh: Warehouse | None = None,
                  record: bool = False) -> GateResult:
    """Run the gate alone on a file (``creditflow validate``): read and type it as ingest would,
    validate, and record the outcome only when asked (a dry run must not feed the trailing
    row-count average of batches that never landed)."""
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
