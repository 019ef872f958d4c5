"""Prefect flows ``daily-scoring`` (one business date) and ``scoring-backfill`` (a range of dates
in ONE flow run), idempotent per date (see pipelines.scoring.run).

Chunks run in-process by default. Given a Dask scheduler address (``scoring.dask_address``) or
``dask=True`` (a local cluster of ``scoring.dask_workers`` processes), each chunk becomes a Prefect
task on a ``DaskTaskRunner``; results come back to this process, which alone writes, inside the
date's single transaction. At most two chunks per worker are in flight, so the driver's memory
stays bounded by the chunk size, not the day's size.

The backfill calls the plain stage once per date inside its one flow run: a flow run costs about
a second, a stage call on a completed date a few milliseconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner

from flows.common import IO_RETRIES, alert_on_failure, current_run_id, flow_settings, scheduled_date
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, redact
from pipelines.monitoring.alerts import send_alert
from pipelines.scoring.chunks import Chunk, ChunkContext, ChunkOutput, score_chunk, sequential
from pipelines.scoring.models import ScoringError
from pipelines.scoring.run import PreparedLoader, prepare, score_day
from pipelines.scoring.summary import ScoreResult, day_summary_markdown
from pipelines.warehouse.engine import warehouse_for
from pipelines.warehouse.scoring import unscored_dates


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a chunk only for errors a retry can cure (a dropped connection), never for a
    CreditflowError (a rejected batch, a signature mismatch) that would fail again."""
    try:
        state.result()
    except CreditflowError:
        return False
    except Exception:  # anything else may be transient (a dropped connection)
        return True
    return False


@task(cache_policy=NO_CACHE, retry_condition_fn=_transient, **IO_RETRIES)
def score_chunk_task(chunk: Chunk, ctx: ChunkContext) -> ChunkOutput:
    return score_chunk(chunk, ctx)


def on_task_runner(chunks: list[Chunk], ctx: ChunkContext) -> Iterator[ChunkOutput]:
    """Submit chunks to the flow's task runner, a bounded window at a time; yield results in
    chunk order (the writer's order does not change the result, only memory is at stake)."""
    window = max(2, 2 * ctx.settings.scoring.dask_workers)
    todo = iter(chunks)
    pending: deque[PrefectFuture[ChunkOutput]] = deque()
    for chunk in todo:
        pending.append(score_chunk_task.submit(chunk, ctx))
        if len(pending) >= window:
            break
    while pending:
        output = pending.popleft().result()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append(score_chunk_task.submit(nxt, ctx))
        yield output


def dask_runner(settings: Settings, dask: bool) -> TaskRunner | None:
    if not (dask or settings.scoring.dask_address):
        return None
    from prefect_dask import DaskTaskRunner

    if settings.scoring.dask_address:
        return DaskTaskRunner(address=settings.scoring.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.scoring.dask_workers,
                                          "threads_per_worker": 1, "processes": True,
                                          "host": "127.0.0.1",  # loopback, whatever Dask's default
                                          "dashboard_address": None})


@flow(name="daily-scoring", on_failure=[alert_on_failure])
def daily_scoring(business_date: date | None = None, force: bool = False,
                  parallel: bool = False) -> dict[str, Any]:
    settings = flow_settings()
    day = scheduled_date(business_date)
    mapper = on_task_runner if parallel else sequential
    wh = warehouse_for(settings.warehouse)
    prepared = cache(lambda: prepare(settings, wh))  # once for the day and any caught up
    if business_date is None:  # unattended: first the days an earlier run could not score
        catch_up(settings, day, mapper, prepared)
    result = score_day(settings, wh, day, force=force, run_id=current_run_id(),
                       map_chunks=mapper, prepared=prepared)
    _log(result)
    create_markdown_artifact(day_summary_markdown(result), key=f"scoring-{day.isoformat()}",
                             description=f"daily scoring {day}")
    return result.summary()


def catch_up(settings: Settings, day: date, mapper: Any,
             prepared: PreparedLoader | None = None) -> list[ScoreResult]:
    """Score the dates before ``day`` (``scoring.catch_up_days``) whose applications arrived
    after their own run found nothing: a day refused as not loaded is not lost. A date that
    fails again (a rejected batch) raises its own alert and does not hold back the others."""
    wh = warehouse_for(settings.warehouse)
    parent = current_run_id() or "catch-up"
    results = []
    for missed in unscored_dates(wh, day, settings.scoring.catch_up_days):
        get_run_logger().warning("business date %s has applications but no completed scoring "
                                 "run: scoring it now", missed)
        try:
            results.append(score_day(settings, wh, missed, prepared=prepared, map_chunks=mapper,
                                     run_id=f"{parent}:{missed.isoformat()}"))
        except CreditflowError as exc:
            send_alert(settings, wh, "scoring_catch_up_failed", missed, redact(
                f"business date {missed} could not be caught up: {exc}")[:2000], "error")
            continue
        _log(results[-1])
    return results


def run_daily_scoring(business_date: date, force: bool = False,
                      dask: bool = False) -> dict[str, Any]:
    """Run the flow, its chunks on a Dask cluster when asked or configured."""
    runner = dask_runner(flow_settings(), dask)
    if runner is None:
        return daily_scoring(business_date=business_date, force=force)
    return daily_scoring.with_options(task_runner=runner)(business_date=business_date,
                                                          force=force, parallel=True)


@flow(name="scoring-backfill", on_failure=[alert_on_failure])
def scoring_backfill(start: date, end: date, force: bool = False) -> list[dict[str, Any]]:
    """Score every date from ``start`` to ``end`` in order; completed dates are skipped unless
    ``force``. Stops at the first failing date: the dates before it stay committed, and a
    rerun of the same range resumes where it stopped."""
    if end < start:
        raise ValueError(f"backfill range is empty: {start} > {end}")
    settings = flow_settings()
    wh = warehouse_for(settings.warehouse)
    # models, contract and suites: once for the range, only if a date needs scoring
    prepared = cache(lambda: prepare(settings, wh))
    parent = current_run_id() or "backfill"
    results = []
    for day in date_range(start, end):
        # run_manifest is keyed by run id: one per date, traceable to this flow run
        try:
            result = score_day(settings, wh, day, force=force,
                               run_id=f"{parent}:{day.isoformat()}", prepared=prepared)
        except CreditflowError as exc:
            raise ScoringError(f"backfill stopped at {day} ({len(results)} date(s) before it "
                               f"done and committed; rerun the range to resume): {exc}") from exc
        _log(result)
        results.append(result)
    create_markdown_artifact(backfill_markdown(results),
                             key=f"scoring-backfill-{start.isoformat()}-{end.isoformat()}",
                             description=f"scoring backfill {start}..{end}")
    return [r.summary() for r in results]


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def backfill_markdown(results: list[ScoreResult]) -> str:
    """One line per date, then each scored date's full summary."""
    lines = ["## Scoring backfill", "", "| date | status | read | scored | quarantined |",
             "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {r.business_date} | {r.status} | {r.counts.get('read', '')} | "
              f"{r.counts.get('scored', '')} | {r.counts.get('quarantined', '')} |"
              for r in results]
    lines += [block for r in results if r.status == "completed"
              for block in ("", day_summary_markdown(r))]
    return "\n".join(lines)


def _log(result: ScoreResult) -> None:
    if result.model_version is None:  # skipped before loading a model
        get_run_logger().info("business date %s: already completed, skipped",
                              result.business_date)
        return
    get_run_logger().info("business date %s: %s with %s v%s: %s", result.business_date,
                          result.status, result.model_name, result.model_version, result.counts)
