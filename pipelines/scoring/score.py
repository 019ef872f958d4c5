"""Stage: score one business date's applications with the champion (and the challenger, in
shadow) and write PD, points, decision and reason codes into the warehouse.

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

The day is processed in chunks of ``scoring.chunk_rows`` applications, planned as ranges of
application ids (bounded memory). Chunks are pure computations (``score_chunk``) that a caller
may map in parallel (the Prefect flow maps them on a Dask cluster); each worker reads its own
rows and the loan outcomes from the warehouse, so only ids, settings and models travel. Only
this module writes, in the date's transaction.

The chunks pass the applications suite of the validation gate; their verdicts are recorded as
ONE ``validation_results`` row per date (batch ``score-<date>``, quarantine row numbers counted
across the day), because the day, not a chunk, is the batch a person reasons about, and chunk
rows would drag the trailing row-count average that ingest's band compares against. Data Docs
pages are not built for scoring (2-3 s per chunk); the quarantine table keeps every failed row.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Date, bindparam, text
from sqlalchemy.exc import OperationalError

from features import FEATURES, build_features, feature_specs
from features.registry import FeatureSpec
from models.pd_model import CATEGORY, ModelSignatureError, PDModel
from models.policy import REASON_COLUMNS, ScoringPolicy, score_rows
from models.registry import RegistryError, aliases, load_pd_model, version_info
from models.scaling import APPROVE, DECLINE, REVIEW
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, redact
from pipelines.validation.gate import BatchRejected, GateResult, record_gate, run_gate
from pipelines.warehouse.engine import Warehouse, warehouse_for
from pipelines.warehouse.history import (
    business_day_end,
    feature_config,
    feature_history,
    load_applications,
)

KIND = "score"
CHAMPION, SHADOW = "champion", "shadow"
DECISIONS = (APPROVE, REVIEW, DECLINE)
SCORE_COLUMNS = ("application_id", "model_version", "role", "model_name", "business_date", "pd",
                 "score", "decision", "run_id", *REASON_COLUMNS)


class DayNotLoadedError(CreditflowError):
    """The date has no applications and the feed has not moved past it: its data have not
    arrived. Nothing is recorded as done, so a later run scores the date once they do."""


class ScoringError(CreditflowError):
    """Scoring cannot run; nothing was written."""


@dataclass(frozen=True)
class Chunk:
    """Applications of one date with ids in [first_id, last_id]; ``offset`` of them come before
    it in id order (its quarantine row numbers continue from there)."""

    business_date: date
    number: int
    first_id: str
    last_id: str
    offset: int = 0
    rows: int = 0


@dataclass
class ScoreResult:
    run_id: str
    business_date: date
    status: str  # running | completed | skipped | failed
    model_name: str = ""
    model_version: str | None = None
    shadow_version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    mean_pd: float | None = None
    score_histogram: list[tuple[str, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: _now())
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> ScoreResult:
        """Rebuild from ``summary()`` (e.g. a flow's return value), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in summary.items() if k in names})


@dataclass
class ChunkOutput:
    """What a chunk computation hands back to the writer (picklable, for Dask workers)."""

    scores: pd.DataFrame
    gate: GateResult  # the chunk's applications verdict; ``passed`` cut to zero columns


@dataclass
class ScoringModel:
    """One model of a run with the cut-offs its decisions use."""

    model: PDModel
    role: str
    approve_at: float
    decline_below: float


@dataclass
class ChunkContext:
    """Everything a chunk needs besides its key range: plain, picklable values."""

    settings: Settings
    models: list[ScoringModel]
    run_id: str
    warehouse_url: str


ChunkMapper = Callable[[list[Chunk], ChunkContext], Iterable[ChunkOutput]]
ModelLoader = Callable[[], list[ScoringModel]]


def sequential(chunks: list[Chunk], ctx: ChunkContext) -> Iterator[ChunkOutput]:
    return (score_chunk(c, ctx) for c in chunks)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# models


def load_models(settings: Settings) -> list[ScoringModel]:
    """The champion (required) and the challenger (optional, scored in shadow), loaded once per
    run by version number: an alias moving during the run cannot mix two versions."""
    uri, name = settings.tracking_uri, settings.training.registered_model_name
    try:
        found = aliases(uri, name)
    except Exception as exc:
        raise ScoringError(f"model registry unreachable: {redact(str(exc))[:200]}") from None
    champion = found.get("champion")
    if champion is None:
        raise ScoringError(f"no champion: model '{name}' has no 'champion' alias; train and "
                           "promote a model first (creditflow train)")
    wanted = [(CHAMPION, champion)]
    challenger = found.get("challenger")
    if challenger is not None and challenger != champion:
        wanted.append((SHADOW, challenger))
    out = []
    for role, version in wanted:
        model = _load(uri, name, version, role)
        check_signature(model)
        out.append(ScoringModel(model, role, *cutoffs_for(settings, model)))
    return out


def _load(uri: str, name: str, version: str, role: str) -> PDModel:
    try:
        return load_pd_model(uri, name, version=version)
    except RegistryError as exc:
        raise ScoringError(f"cannot load the {role} model ({name} version {version}): "
                           f"{redact(str(exc))[:500]}") from None


def model_specs(model: PDModel) -> list[FeatureSpec]:
    """The specs the scoring frame is built from: the registry's built-in features plus the
    model's own bring-your-own extras (their categories as trained). Built-ins come from the
    registry, not from the model, so a model trained on another feature list does not match."""
    builtin = {s.name for s in FEATURES}
    extras = [n for n in model.feature_names if n not in builtin]
    numeric = [n for n in extras if model.feature_dtypes.get(n) != CATEGORY]
    categorical = {n: model.categories.get(n, []) for n in extras if n not in numeric}
    return feature_specs(numeric, categorical)


def check_signature(model: PDModel) -> None:
    """The model's feature list must be exactly what the builder produces for it."""
    built = [s.name for s in model_specs(model)]
    if built == list(model.feature_names):
        return
    missing = [c for c in model.feature_names if c not in built]
    extra = [c for c in built if c not in model.feature_names]
    detail = "; ".join(part for part in (
        f"the model needs {missing} which the feature builder does not produce" if missing
        else "", f"the builder produces {extra} which the model was not trained on" if extra
        else "", "" if missing or extra else "same features in another order") if part)
    raise ScoringError(f"signature mismatch: {model.name} version {model.version} does not fit "
                       f"the feature frame: {detail}; nothing was scored")


def cutoffs_for(settings: Settings, model: PDModel) -> tuple[float, float]:
    """Configured cut-offs, or, with ``target_approval_rate`` set, the ones derived when the
    version was trained (tag ``cutoffs``): the decisions it was judged and promoted on."""
    sc = settings.scoring
    if sc.target_approval_rate is None:
        return sc.approve_at, sc.decline_below
    tags = version_info(settings.tracking_uri, str(model.name), str(model.version))["tags"]
    try:
        cut = json.loads(tags["cutoffs"])
        return float(cut["approve_at"]), float(cut["decline_below"])
    except (KeyError, TypeError, ValueError):
        raise ScoringError(f"{model.name} version {model.version} has no derived cut-offs "
                           "(tag 'cutoffs') although scoring.target_approval_rate is set; "
                           "retrain it or unset target_approval_rate") from None


# ---------------------------------------------------------------------------------------------
# chunks


def plan_chunks(wh: Warehouse, business_date: date, chunk_rows: int) -> tuple[list[Chunk], int]:
    """Key ranges of ``chunk_rows`` applications each, found by streaming only the ids."""
    if chunk_rows < 1:
        raise ScoringError(f"scoring.chunk_rows must be >= 1, got {chunk_rows}")
    sql = text("SELECT application_id FROM applications WHERE business_date = :d "
               "ORDER BY application_id").bindparams(bindparam("d", type_=Date))
    chunks: list[Chunk] = []
    n, first, last = 0, None, None
    with wh.engine.connect().execution_options(stream_results=True) as conn:
        for (app_id,) in conn.execute(sql, {"d": business_date}):
            if first is None:
                first = app_id
            last = app_id
            n += 1
            if n % chunk_rows == 0:
                chunks.append(_chunk(business_date, chunks, first, last, n))
                first = None
    if first is not None:
        chunks.append(_chunk(business_date, chunks, first, str(last), n))
    return chunks, n


def _chunk(day: date, before: list[Chunk], first: str, last: str, n: int) -> Chunk:
    offset = before[-1].offset + before[-1].rows if before else 0
    return Chunk(day, len(before), str(first), str(last), offset, n - offset)


def score_chunk(chunk: Chunk, ctx: ChunkContext) -> ChunkOutput:
    """Score one chunk with every model (nothing is written here): the gate's passed rows are
    scored, its quarantined rows go back to the writer with the gate result."""
    settings = ctx.settings
    day = chunk.business_date
    apps = load_applications(warehouse_for(ctx.warehouse_url), day, day,
                             id_range=(chunk.first_id, chunk.last_id))
    gate = run_gate(apps, "applications", day_batch_id(day), settings, wh=None,
                    business_date=day, data_docs=False)
    outcomes = _outcomes(ctx.warehouse_url, day, ctx.run_id,
                         settings.features.performance_window_months)
    built: dict[tuple[str, ...], pd.DataFrame] = {}  # champion and shadow often share features
    frames = []
    for m in ctx.models if len(gate.passed) else []:  # a chunk may be quarantined whole
        key = tuple(m.model.feature_names)
        if key not in built:
            built[key] = feature_frame(gate.passed, outcomes, m.model, day, settings)
        frames.append(score_frame(built[key], m, day, settings, ctx.run_id))
    scores = (pd.concat(frames, ignore_index=True) if frames
              else pd.DataFrame(columns=[*SCORE_COLUMNS]))
    return ChunkOutput(scores, _slim(gate, chunk.offset))


def day_batch_id(day: date) -> str:
    return f"score-{day.isoformat()}"


@lru_cache(maxsize=2)
def _outcomes(url: str, day: date, run_id: str, window_months: int) -> pd.DataFrame:
    """Loan outcomes for the date's features, read once per run in each process (a Dask worker
    included) instead of being shipped with every chunk; ``feature_history`` also reuses them
    across the days of one tape month."""
    return feature_history(warehouse_for(url), day, window_months)


def _slim(gate: GateResult, offset: int) -> GateResult:
    """The gate result as the writer needs it: passed rows only counted (not shipped back from
    a worker), quarantine row numbers counted across the day."""
    gate.passed = gate.passed.iloc[:, :0]
    if not gate.quarantined.empty:
        gate.quarantined = gate.quarantined.assign(row_number=gate.quarantined["row_number"]
                                                   + offset)
    return gate


def feature_frame(apps: pd.DataFrame, outcomes: pd.DataFrame, model: PDModel,
                  business_date: date, settings: Settings) -> pd.DataFrame:
    """The model's features of these applications (the builder training used), checked
    against the model's signature: a mismatch is a ScoringError naming the version."""
    specs = model_specs(model)
    _check_sources(apps, specs, model, business_date)
    X = build_features(apps, outcomes, business_day_end(business_date), feature_config(settings),
                       specs=specs)
    try:
        return model.check_frame(X)
    except ModelSignatureError as exc:
        raise ScoringError(f"signature mismatch: {model.name} version {model.version} does not "
                           f"fit the feature frame: {exc}") from None


def score_frame(X: pd.DataFrame, sm: ScoringModel, business_date: date, settings: Settings,
                run_id: str) -> pd.DataFrame:
    """PD, points, decision and reason codes of one model for a feature frame."""
    model = sm.model
    # adverse-action notices follow the champion's decisions; the shadow's are not acted on
    policy = scoring_policy(settings, sm.approve_at, sm.decline_below,
                            reasons=sm.role == CHAMPION)
    rows = score_rows(model, X, policy)
    out = pd.DataFrame({
        "application_id": X.index.to_numpy(), "model_version": str(model.version),
        "role": sm.role, "model_name": model.name or settings.training.registered_model_name,
        "business_date": pd.Timestamp(business_date), "pd": rows["pd"].to_numpy(),
        "score": rows["score"].to_numpy(), "decision": rows["decision"].to_numpy(),
        "run_id": run_id,
    })
    for col in REASON_COLUMNS:
        out[col] = rows[col].to_numpy()
    return out


def scoring_policy(settings: Settings, approve_at: float | None = None,
                   decline_below: float | None = None, reasons: bool = True) -> ScoringPolicy:
    """The settings' scaling and reason codes with these cut-offs (``cutoffs_for``; default the
    configured ones); training bakes the same policy into the registered model, so the served
    model decides alike."""
    sc = settings.scoring
    return ScoringPolicy(base_score=sc.base_score, base_odds=sc.base_odds, pdo=sc.pdo,
                         approve_at=sc.approve_at if approve_at is None else approve_at,
                         decline_below=sc.decline_below if decline_below is None
                         else decline_below,
                         reason_codes=sc.reason_codes if reasons else 0,
                         exact_contributions=sc.exact_contributions)


def _check_sources(apps: pd.DataFrame, specs: list[FeatureSpec], model: PDModel,
                   day: date) -> None:
    """A bring-your-own column the model was trained on must be in the day's applications: a
    missing one would silently score as 'unknown' for every applicant."""
    builtin = {s.name for s in FEATURES}
    absent = [s.name for s in specs if s.name not in builtin and s.name not in apps.columns]
    if absent:
        raise ScoringError(f"signature mismatch: {model.name} version {model.version} needs "
                           f"column(s) {absent}, absent from the applications of {day}")


# ---------------------------------------------------------------------------------------------
# the run


def score_day(settings: Settings, wh: Warehouse, business_date: date, *, force: bool = False,
              run_id: str | None = None, map_chunks: ChunkMapper = sequential,
              models: ModelLoader | None = None) -> ScoreResult:
    """Score one business date end to end (see the module docstring for the guarantees).
    ``models`` loads the models (default ``load_models``; a backfill passes a cached loader)."""
    result = ScoreResult(run_id=run_id or uuid.uuid4().hex, business_date=business_date,
                         status="running", model_name=settings.training.registered_model_name)
    t0 = time.perf_counter()
    if not force and day_completed(wh, business_date):
        result.status = "skipped"
        return result
    loaded = (models or (lambda: load_models(settings)))()
    result.seconds["load_models"] = round(time.perf_counter() - t0, 3)
    result.model_version = loaded[0].model.version
    result.shadow_version = next((m.model.version for m in loaded if m.role == SHADOW), None)
    with _clear_lock_errors(business_date):
        _manifest(wh, result)
        try:
            _run(settings, wh, business_date, force, loaded, result, map_chunks, t0)
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
    except OperationalError as exc:
        if "database is locked" not in str(exc):
            raise
        raise ScoringError(f"{business_date}: the SQLite warehouse stayed locked by another "
                           "writer (another scoring run?) past its 60 s busy timeout; nothing "
                           "was written. Retry when it has finished, or use PostgreSQL, where "
                           "only the date's own lock row is held") from None


def _run(settings: Settings, wh: Warehouse, business_date: date, force: bool,
         models: list[ScoringModel], result: ScoreResult, map_chunks: ChunkMapper,
         t0: float) -> None:
    with wh.begin() as conn:
        t_lock = time.perf_counter()
        if not _take_lock(wh, conn, business_date, result.run_id) and not force:
            result.status = "skipped"  # another run completed the date while we waited
            result.seconds["total"] = round(time.perf_counter() - t0, 3)
            _manifest(wh, result, conn=conn)
            return
        result.seconds["lock_wait"] = round(time.perf_counter() - t_lock, 3)
        _settle_abandoned(wh, conn, business_date, result.run_id)
        # planned under the lock: on SQLite no writer can add rows of the date meanwhile
        chunks, n_read = plan_chunks(wh, business_date, settings.scoring.chunk_rows)
        if n_read == 0:
            _refuse_unloaded_day(wh, business_date, conn)
        wh.execute("DELETE FROM scores WHERE business_date = :d", {"d": business_date},
                   conn=conn)
        tally, day_gate = _Tally(), _DayGate(business_date)
        ctx = ChunkContext(settings, models, result.run_id, wh.url)
        for output in map_chunks(chunks, ctx):
            _write_chunk(wh, conn, output, settings, result, tally)
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
        _finish_lock(wh, conn, business_date, result.run_id)
        _manifest(wh, result, conn=conn)


def _write_chunk(wh: Warehouse, conn: Connection, output: ChunkOutput, settings: Settings,
                 result: ScoreResult, tally: _Tally) -> None:
    """Check the chunk's scores against their own suite and write them."""
    tally.quarantined += output.gate.rows_in - len(output.gate.passed)
    frame = output.scores
    if frame.empty:
        return
    checked = run_gate(frame, "scores", day_batch_id(result.business_date), settings, wh=None,
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
        self.shadow += len(frame) - len(champ)
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


# ---------------------------------------------------------------------------------------------
# lock and manifest


def _refuse_unloaded_day(wh: Warehouse, business_date: date, conn: Connection) -> None:
    """A date with no applications is complete only once the feed holds a later date (a
    holiday, a closed branch); before that its applications may simply not be loaded yet, and
    locking it as done would lose the day for good."""
    latest = wh.execute("SELECT MAX(business_date) FROM applications", conn=conn).scalar_one()
    latest = None if latest is None else pd.Timestamp(latest).date()
    if latest is None or latest <= business_date:
        raise DayNotLoadedError(
            f"{business_date}: no applications loaded for this business date yet (latest "
            f"loaded: {latest or 'none'}); nothing was recorded as done, and a later run scores "
            "it once its applications are ingested")


def unscored_dates(wh: Warehouse, before: date, days: int) -> list[date]:
    """Dates of the ``days`` before ``before`` that have applications but no completed scoring
    run: days a failed or early run left behind, which the next daily run catches up."""
    if days < 1:
        return []
    sql = text("SELECT DISTINCT a.business_date FROM applications a WHERE a.business_date >= :lo "
               "AND a.business_date < :hi AND NOT EXISTS (SELECT 1 FROM run_locks l WHERE "
               "l.kind = :k AND l.business_date = a.business_date AND l.status = 'completed') "
               "ORDER BY a.business_date").bindparams(bindparam("lo", type_=Date),
                                                      bindparam("hi", type_=Date))
    lo = before - timedelta(days=days)
    with wh.engine.connect() as conn:
        rows = conn.execute(sql, {"lo": lo, "hi": before, "k": KIND}).scalars().all()
    return [pd.Timestamp(r).date() for r in rows]


def day_completed(wh: Warehouse, business_date: date) -> bool:
    with wh.engine.connect() as conn:
        row = conn.execute(text("SELECT status FROM run_locks WHERE kind = :k AND "
                                "business_date = :d").bindparams(bindparam("d", type_=Date)),
                           {"k": KIND, "d": business_date}).first()
    return row is not None and row[0] == "completed"


def _take_lock(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> bool:
    """Write the date's lock row first: it takes the database write lock (SQLite) or the row
    lock (PostgreSQL) for the whole transaction; a second run blocks here until the first
    commits or dies. Returns False if the date is already completed."""
    wh.execute("INSERT INTO run_locks (kind, business_date, run_id, status, updated_at) "
               "VALUES (:k, :d, :r, 'running', :t) ON CONFLICT (kind, business_date) "
               "DO UPDATE SET updated_at = excluded.updated_at",
               {"k": KIND, "d": business_date, "r": run_id, "t": _now()}, conn=conn)
    status = wh.execute("SELECT status FROM run_locks WHERE kind = :k AND business_date = :d",
                        {"k": KIND, "d": business_date}, conn=conn).scalar_one()
    return status != "completed"


def _settle_abandoned(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> None:
    """Holding the date's lock, any other run of the date still marked ``running`` was killed
    (a live one would hold the lock; one queued behind us rewrites its own row when it gets
    it): mark it failed with the reason instead of leaving it running for ever."""
    reason = json.dumps({"error": f"interrupted: still 'running' when run {run_id} took the "
                                  "date's lock (the process was killed)"})
    wh.execute("UPDATE run_manifest SET status = 'failed', finished_at = :t, details = :why "
               "WHERE kind = :k AND business_date = :d AND status = 'running' AND run_id <> :r",
               {"t": _now(), "why": reason, "k": KIND, "d": business_date, "r": run_id},
               conn=conn)


def _finish_lock(wh: Warehouse, conn: Connection, business_date: date, run_id: str) -> None:
    wh.execute("UPDATE run_locks SET status = 'completed', run_id = :r, updated_at = :t "
               "WHERE kind = :k AND business_date = :d",
               {"k": KIND, "d": business_date, "r": run_id, "t": _now()}, conn=conn)


def _manifest(wh: Warehouse, result: ScoreResult, conn: Connection | None = None) -> None:
    done = result.status != "running"
    details = {"shadow_version": result.shadow_version, "decisions": result.decisions,
               "mean_pd": result.mean_pd, "seconds": result.seconds, "error": result.error}
    row = pd.DataFrame([{
        "run_id": result.run_id, "kind": KIND, "business_date": pd.Timestamp(
            result.business_date), "status": result.status,
        "model_version": result.model_version, "counts": json.dumps(result.counts),
        "details": json.dumps(details, default=str), "started_at": result.started_at,
        "finished_at": _now() if done else None,
    }])
    wh.upsert("run_manifest", row, conn=conn)


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


def manifest_rows(wh: Warehouse, business_date: date) -> pd.DataFrame:
    """The run manifest of a date's scoring runs, counts and details parsed, oldest first."""
    df = wh.read("run_manifest", where="kind = :k AND business_date = :d",
                 params={"k": KIND, "d": pd.Timestamp(business_date).date()},
                 order_by="started_at")
    df["counts"] = df["counts"].map(lambda s: json.loads(s) if s else {})
    df["details"] = df["details"].map(lambda s: json.loads(s) if s else {})
    return df


# ---------------------------------------------------------------------------------------------
# for people


def day_summary_markdown(result: ScoreResult) -> str:
    """The run as a person reads it: volume, decision rates, mean PD, score histogram."""
    n = result.counts.get("scored", 0)
    lines = [f"### Scoring {result.business_date} ({result.status})", ""]
    if result.model_version is not None:
        lines += [f"model **{result.model_name}** v{result.model_version}"
                  + (f", shadow v{result.shadow_version}" if result.shadow_version else ""), ""]
    if result.status == "skipped" and not result.counts:
        lines.append("already completed; rerun with --force to score it again")
        return "\n".join(lines)
    lines += ["| measure | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in result.counts.items()]
    for d in DECISIONS:
        count = result.decisions.get(d, 0)
        lines.append(f"| {d} | {count} ({count / n:.1%}) |" if n else f"| {d} | 0 |")
    lines.append(f"| mean PD | {result.mean_pd if result.mean_pd is not None else '-'} |")
    lines.append(f"| seconds | {result.seconds.get('total', '-')} |")
    if result.score_histogram and n:
        peak = max(c for _, c in result.score_histogram) or 1
        lines += ["", "score distribution (champion):", "```"]
        lines += [f"{label:>9} {'#' * round(40 * c / peak):<40} {c}"
                  for label, c in result.score_histogram] + ["```"]
    return "\n".join(lines)
