"""A scoring day in chunks: planned as ranges of application ids (bounded memory), each scored
by a pure computation (``score_chunk``) that a caller may map in parallel (the Prefect flow maps
them on a Dask cluster). A worker reads its own rows and the loan outcomes from the warehouse,
so only ids, settings and models travel; nothing is written here.

A chunk passes the applications suite of the validation gate; its quarantined rows and verdict
go back to the writer, which records one verdict for the day (see ``run``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import pandas as pd

from features import FEATURES, FeatureConfig, build_features
from features.registry import FeatureSpec
from models.holdout import APPROVE, holdout_mask
from models.pd_model import ModelSignatureError, PDModel
from models.policy import REASON_COLUMNS, REASON_TEXT_COLUMNS, score_rows
from pipelines.core.settings import Settings
from pipelines.scoring.combine import combine_scores
from pipelines.scoring.models import (
    CHAMPION,
    ScoringError,
    ScoringModel,
    model_specs,
    scoring_policy,
)
from pipelines.validation.contract import load_contract, unchecked_columns
from pipelines.validation.gate import GateResult, run_gate
from pipelines.validation.quarantine import load_suite
from pipelines.warehouse.engine import Warehouse, warehouse_for
from pipelines.warehouse.history import (
    business_day_end,
    feature_config,
    feature_history,
    load_applications,
)
from pipelines.warehouse.scoring import application_ids

SCORE_COLUMNS = ("application_id", "model_version", "role", "model_name", "business_date", "pd",
                 "score", "decision", "run_id", "holdout", *REASON_COLUMNS,
                 *REASON_TEXT_COLUMNS)


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
class ChunkOutput:
    """What a chunk computation hands back to the writer (picklable, for Dask workers)."""

    scores: pd.DataFrame
    gate: GateResult  # the chunk's applications verdict; ``passed`` cut to zero columns


@dataclass
class ChunkContext:
    """Everything a chunk needs besides its key range: plain, picklable values."""

    settings: Settings
    models: list[ScoringModel]
    run_id: str
    warehouse_url: str
    # application columns the re-validation leaves out: this book never declared them and no
    # model uses them (pipelines.validation.contract)
    unchecked: tuple[str, ...] = ()


ChunkMapper = Callable[[list[Chunk], ChunkContext], Iterable[ChunkOutput]]


def sequential(chunks: list[Chunk], ctx: ChunkContext) -> Iterator[ChunkOutput]:
    return (score_chunk(c, ctx) for c in chunks)


def day_batch_id(day: date) -> str:
    return f"score-{day.isoformat()}"


def plan_chunks(wh: Warehouse, business_date: date, chunk_rows: int) -> tuple[list[Chunk], int]:
    """Key ranges of ``chunk_rows`` applications each, found by streaming only the ids."""
    if chunk_rows < 1:
        raise ScoringError(f"scoring.chunk_rows must be >= 1, got {chunk_rows}")
    chunks: list[Chunk] = []
    n, first, last = 0, None, None
    for block in application_ids(wh, business_date):
        for app_id in block:
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
    apps = apps.drop(columns=[c for c in ctx.unchecked if c in apps.columns])
    gate = run_gate(apps, "applications", day_batch_id(day), settings, wh=None,
                    business_date=day, data_docs=False)
    outcomes = _outcomes(ctx.warehouse_url, day, ctx.run_id, feature_config(settings))
    built: dict[tuple[str, ...], pd.DataFrame] = {}  # champion and shadow often share features
    frames = {}
    for m in ctx.models if len(gate.passed) else []:  # a chunk may be quarantined whole
        key = tuple(m.model.feature_names)
        if key not in built:
            built[key] = feature_frame(gate.passed, outcomes, m.model, day, settings)
        frames[m.role] = score_frame(built[key], m, day, settings, ctx.run_id)
    combine_scores(frames, settings)  # the PD decision with the EPD model's rules
    scores = (pd.concat(frames.values(), ignore_index=True) if frames
              else pd.DataFrame(columns=[*SCORE_COLUMNS]))
    return ChunkOutput(scores, _slim(gate, chunk.offset))


def unchecked_columns_for(wh: Warehouse, settings: Settings,
                          models: list[ScoringModel]) -> tuple[str, ...]:
    """What the day's re-validation need not check: the book's contract and the models'
    sources decide (every column while the book has no contract)."""
    used = {src for m in models for s in model_specs(m.model) for src in s.sources
            if "." not in src}
    return tuple(unchecked_columns(load_suite("applications", settings),
                                   load_contract(wh, "applications"), used))


@lru_cache(maxsize=2)
def _outcomes(url: str, day: date, run_id: str, config: FeatureConfig) -> pd.DataFrame:
    """Loan outcomes for the date's features, read once per run in each process (a Dask worker
    included) instead of being shipped with every chunk; ``feature_history`` also reuses them
    across the days of one tape month."""
    return feature_history(warehouse_for(url), day, config)


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


def _check_sources(apps: pd.DataFrame, specs: list[FeatureSpec], model: PDModel,
                   day: date) -> None:
    """A bring-your-own column the model was trained on must be in the day's applications: a
    missing one would silently score as 'unknown' for every applicant."""
    builtin = {s.name for s in FEATURES}
    absent = [s.name for s in specs if s.name not in builtin and s.name not in apps.columns]
    if absent:
        raise ScoringError(f"signature mismatch: {model.name} version {model.version} needs "
                           f"column(s) {absent}, absent from the applications of {day}")


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
    for col in (*REASON_COLUMNS, *REASON_TEXT_COLUMNS):
        out[col] = rows[col].to_numpy()
    # the policy holdout acts on the champion's decisions only (the shadow's are not acted on)
    share = settings.scoring.holdout_share if sm.role == CHAMPION else 0.0
    held = holdout_mask(out["application_id"], out["decision"], share, settings.seed)
    out.loc[held, "decision"] = APPROVE
    out["holdout"] = held.astype("int64")
    return out
