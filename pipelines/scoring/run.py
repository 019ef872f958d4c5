"""Stage: score one business date's applications with the champion (and the challenger, in
shadow) and write PD, points, decision and reason codes into the warehouse. ``score_day`` is
the entry point.

Idempotent and atomic per business date: every write of a run happens in ONE transaction whose
first statement takes the date's row in ``run_locks``. A second run of the same date waits for
that lock and then finds the date completed (skipped unless ``force``); a killed run rolls back,
so no partial day is ever visible, and the rerun writes the whole day. The run replaces the
date's earlier scores inside that transaction (a forced rerun after a promotion must not leave
two champion versions for one application); within a run, scores are keyed by (application,
model version, role), so nothing is ever written twice.

On SQLite the lock row takes the database's single write lock for the whole run: other writers
(another date, ingest) wait up to the busy timeout (60 s). On PostgreSQL only the date's lock
row is held; other dates score in parallel.

The day is processed in chunks of ``scoring.chunk_rows`` applications (``chunks``); only this
module writes, in the date's transaction.

The chunks pass the applications suite of the validation gate; their verdicts are recorded as
ONE ``validation_results`` row per date (batch ``score-<date>``, quarantine row numbers counted
across the day), because the day, not a chunk, is the batch a person reasons about, and chunk
rows would drag the trailing row-count average that ingest's band compares against. Data Docs
pages are not built for scoring (2-3 s per chunk); the quarantine table keeps every failed row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, redact
from pipelines.scoring.chunks import (
    ChunkContext,
    ChunkMapper,
    ChunkOutput,
    day_batch_id,
    plan_chunks,
    sequential,
    unchecked_columns_for,
)
from pipelines.scoring.models import (
    CHAMPION,
    SHADOW,
    ModelLoader,
    ScoringError,
    ScoringModel,
    load_models,
)
from pipelines.scoring.summary import DECISIONS, ScoreResult
from pipelines.validation.gate import BatchRejected, GateResult, record_gate, run_gate
from pipelines.validation.quarantine import load_suite
from pipelines.warehouse.book import latest_business_date
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.scoring import (
    Connection,
    day_completed,
    delete_scores,
    finish_lock,
    is_lock_timeout,
    settle_abandoned,
    take_lock,
    write_manifest,
)


class DayNotLoadedError(CreditflowError):
    """The date has no applications and the feed has not moved past it: its data have not
    arrived. Nothing is recorded as done, so a later run scores the date once they do."""


@dataclass(frozen=True)
class Prepared:
    """What a scoring run needs that does not depend on its date: the models, the application
    columns the re-validation leaves out (the book's contract and the models decide) and the
    scores suite's columns. A backfill or a catch-up prepares them once for all its dates."""

    models: list[ScoringModel]
    unchecked: tuple[str, ...]
    score_columns: frozenset[str]


PreparedLoader = Callable[[], Prepared]


def prepare(settings: Settings, wh: Warehouse, models: ModelLoader | None = None) -> Prepared:
    loaded = (models or (lambda: load_models(settings)))()
    suite = load_suite("scores", settings)
    return Prepared(loaded, unchecked_columns_for(wh, settings, loaded),
                    frozenset({*suite.key, *suite.columns}))


def score_day(settings: Settings, wh: Warehouse, business_date: date, *, force: bool = False,
              run_id: str | None = None, map_chunks: ChunkMapper = sequential,
              models: ModelLoader | None = None,
              prepared: PreparedLoader | None = None) -> ScoreResult:
    """Score one business date end to end (see the module docstring for the guarantees).
    ``prepared`` gives what does not depend on the date (default: ``prepare`` with ``models``,
    which loads the models, default ``load_models``); a backfill passes a cached one."""
    result = ScoreResult(run_id=run_id or uuid.uuid4().hex, business_date=business_date,
                         status="running", model_name=settings.training.registered_model_name)
    t0 = time.perf_counter()
    if not force and day_completed(wh, business_date):
        result.status = "skipped"
        return result
    ready = (prepared or (lambda: prepare(settings, wh, models)))()
    result.seconds["load_models"] = round(time.perf_counter() - t0, 3)
    result.model_version = ready.models[0].model.version
    result.shadow_version = next((m.model.version for m in ready.models if m.role == SHADOW),
                                 None)
    with _clear_lock_errors(business_date):
        _manifest(wh, result)
        try:
            _run(settings, wh, business_date, force, ready, result, map_chunks, t0)
        except BaseException as exc:
            _record_failure(wh, result, exc)
            raise
    return result


@contextmanager
def _clear_lock_errors(business_date: date) -> Iterator[None]:
    """SQLite has one writer at a time: a writer that waited past the busy timeout gets an
    OperationalError people cannot act on; say what it means instead."""
    try:
        yield
    except Exception as exc:
        if not is_lock_timeout(exc):
            raise
        raise ScoringError(f"{business_date}: the SQLite warehouse stayed locked by another "
                           "writer (another scoring run?) past its 60 s busy timeout; nothing "
                           "was written. Retry when it has finished, or use PostgreSQL, where "
                           "only the date's own lock row is held") from None


def _run(settings: Settings, wh: Warehouse, business_date: date, force: bool,
         ready: Prepared, result: ScoreResult, map_chunks: ChunkMapper,
         t0: float) -> None:
    with wh.begin() as conn:
        t_lock = time.perf_counter()
        if not take_lock(wh, conn, business_date, result.run_id) and not force:
            result.status = "skipped"  # another run completed the date while we waited
            result.seconds["total"] = round(time.perf_counter() - t0, 3)
            _manifest(wh, result, conn=conn)
            return
        result.seconds["lock_wait"] = round(time.perf_counter() - t_lock, 3)
        settle_abandoned(wh, conn, business_date, result.run_id)
        # planned under the lock: on SQLite no writer can add rows of the date meanwhile
        chunks, n_read = plan_chunks(wh, business_date, settings.scoring.chunk_rows)
        if n_read == 0:
            _refuse_unloaded_day(wh, business_date, conn)
        delete_scores(wh, conn, business_date)
        tally, day_gate = _Tally(), _DayGate(business_date)
        ctx = ChunkContext(settings, ready.models, result.run_id, wh.url, ready.unchecked)
        for output in map_chunks(chunks, ctx):
            _write_chunk(wh, conn, output, settings, result, tally, ready.score_columns)
            day_gate.add(output.gate)
        if chunks:
            record_gate(wh, day_gate.result(), conn=conn)
        result.counts = {"read": n_read, "scored": tally.scored,
                         "quarantined": tally.quarantined, "shadow_scored": tally.shadow}
        if tally.scored + tally.quarantined != n_read:
            raise ScoringError(f"{business_date}: {n_read} applications planned but "
                               f"{tally.scored} scored and {tally.quarantined} quarantined "
                               "(did the date's applications change during the run?)")
        result.decisions, result.mean_pd, result.score_histogram = tally.report()
        result.status = "completed"
        result.seconds["score_and_write"] = round(time.perf_counter() - t_lock, 3)
        result.seconds["total"] = round(time.perf_counter() - t0, 3)
        finish_lock(wh, conn, business_date, result.run_id)
        _manifest(wh, result, conn=conn)


def _write_chunk(wh: Warehouse, conn: Connection, output: ChunkOutput, settings: Settings,
                 result: ScoreResult, tally: _Tally, suite_cols: frozenset[str]) -> None:
    """Check the chunk's scores against their own suite and write them. The gate sees only
    the suite's columns: the reason texts and run stamps it does not check cost it more than
    the checks (copying and null-testing long strings)."""
    tally.quarantined += output.gate.rows_in - len(output.gate.passed)
    frame = output.scores
    if frame.empty:
        return
    checked = run_gate(frame[[c for c in frame.columns if c in suite_cols]], "scores",
                       day_batch_id(result.business_date), settings, wh=None,
                       business_date=result.business_date, data_docs=False)
    if len(checked.passed) != len(frame):
        raise ScoringError(f"{result.business_date}: {len(frame) - len(checked.passed)} score "
                           f"rows fail the scores suite: {checked.failed_expectations}")
    frame = frame.assign(scored_at=result.started_at)
    wh.upsert("scores", frame, conn=conn, chunk_rows=len(frame))
    tally.add(frame)


class _DayGate:
    """The chunks' gate verdicts folded into one verdict for the date."""

    def __init__(self, day: date) -> None:
        self.day = day
        self.gates: list[GateResult] = []

    def add(self, gate: GateResult) -> None:
        self.gates.append(gate)

    def result(self) -> GateResult:
        g = self.gates
        quarantined = [x.quarantined for x in g if not x.quarantined.empty]
        failed = list(dict.fromkeys(f for x in g for f in x.failed_expectations))
        passed = sum(len(x.passed) for x in g)
        return GateResult(
            batch_id=day_batch_id(self.day), kind="applications",
            status="quarantined" if quarantined else "passed",
            passed=pd.DataFrame(index=pd.RangeIndex(passed)),
            quarantined=pd.concat(quarantined, ignore_index=True) if quarantined
            else g[0].quarantined, failed_expectations=failed,
            evaluated=max(x.evaluated for x in g), rows_in=sum(x.rows_in for x in g),
            report_path=None, business_date=self.day,
            unknown_columns=sorted({c for x in g for c in x.unknown_columns}),
            empty_columns=sorted({c for x in g for c in x.empty_columns}),
            seconds=sum(x.seconds for x in g))


class _Tally:
    """Running counts of what was written, for the manifest and the run's summary."""

    EDGES = np.arange(480, 720, 20)  # score histogram bins of 20 points (one PDO)

    def __init__(self) -> None:
        self.scored = self.quarantined = self.shadow = 0
        self.decisions = dict.fromkeys(DECISIONS, 0)
        self.pd_sum = 0.0
        self.hist = np.zeros(len(self.EDGES) + 1, dtype=np.int64)  # + below and above

    def add(self, frame: pd.DataFrame) -> None:
        champ = frame[frame["role"] == CHAMPION]
        self.scored += len(champ)
        self.shadow += int((frame["role"] == SHADOW).sum())  # not the EPD model's rows
        for d, n in champ["decision"].value_counts().items():
            self.decisions[str(d)] += int(n)
        self.pd_sum += float(champ["pd"].sum())
        idx = np.searchsorted(self.EDGES, champ["score"].to_numpy(dtype=float), side="right")
        self.hist += np.bincount(idx, minlength=len(self.hist))

    def report(self) -> tuple[dict[str, int], float | None, list[tuple[str, int]]]:
        labels = ([f"<{self.EDGES[0]}"] + [f"{lo}-{lo + 20}" for lo in self.EDGES[:-1]]
                  + [f">={self.EDGES[-1]}"])
        mean = round(self.pd_sum / self.scored, 5) if self.scored else None
        return dict(self.decisions), mean, list(zip(labels, self.hist.tolist(), strict=True))


def _refuse_unloaded_day(wh: Warehouse, business_date: date, conn: Connection) -> None:
    """A date with no applications is complete only once the feed holds a later date (a
    holiday, a closed branch); before that its applications may simply not be loaded yet, and
    locking it as done would lose the day for good."""
    latest = latest_business_date(wh, conn)
    if latest is None or latest <= business_date:
        raise DayNotLoadedError(
            f"{business_date}: no applications loaded for this business date yet (latest "
            f"loaded: {latest or 'none'}); nothing was recorded as done, and a later run scores "
            "it once its applications are ingested")


def _manifest(wh: Warehouse, result: ScoreResult, conn: Connection | None = None) -> None:
    details = {"shadow_version": result.shadow_version, "decisions": result.decisions,
               "mean_pd": result.mean_pd, "seconds": result.seconds, "error": result.error}
    write_manifest(wh, {"run_id": result.run_id, "business_date": result.business_date,
                        "status": result.status, "model_version": result.model_version,
                        "counts": result.counts, "details": details,
                        "started_at": result.started_at}, conn=conn)


def _record_failure(wh: Warehouse, result: ScoreResult, exc: BaseException) -> None:
    """After the transaction rolled back: mark the run failed and keep a rejected batch's
    verdict. Best effort: the original error is what the caller must see."""
    result.status = "failed"
    result.error = redact(f"{type(exc).__name__}: {exc}")[:2000]
    try:
        _manifest(wh, result)
        if isinstance(exc, BatchRejected):
            record_gate(wh, exc.result)
    except Exception:  # e.g. the database itself is gone: keep the original error
        pass
