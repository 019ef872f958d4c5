"""The daily-scoring flow with its chunks as Prefect tasks on a two-worker Dask LocalCluster
writes exactly the rows the in-process flow writes, and publishes the summary artifact."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from flows.scoring import run_daily_scoring
from pipelines.core.settings import Settings
from pipelines.scoring.run import score_day
from pipelines.scoring.summary import ScoreResult, day_summary_markdown
from pipelines.warehouse.engine import Warehouse
from tests.integration.test_scoring import DAY, VOLATILE, day_scores, n_applications

pytestmark = pytest.mark.slow
CHUNK_ROWS = 11


async def _flow_run_facts(run_id: str, key: str) -> tuple[list[str], str]:
    async with get_client() as client:
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(run_id)])))
        artifacts = await client.read_latest_artifacts()
    return [t.state_name for t in tasks], next(a.data for a in artifacts if a.key == key)


def test_dask_flow_writes_exactly_the_sequential_rows(
        trained_settings: Settings, prefect_harness: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_SCORING__CHUNK_ROWS", str(CHUNK_ROWS))
    monkeypatch.setenv("CREDITFLOW_SCORING__DASK_WORKERS", "2")
    wh = Warehouse.from_settings(trained_settings)
    n = n_applications(wh, DAY)
    chunks = -(-n // CHUNK_ROWS)
    assert chunks >= 4

    sequential = score_day(Settings(), wh, DAY)  # the plain stage, chunks in this process
    assert sequential.status == "completed"
    expected = day_scores(wh, DAY)
    assert len(expected) == n

    on_dask = run_daily_scoring(DAY, force=True, dask=True)
    assert on_dask["status"] == "completed" and on_dask["counts"] == sequential.counts
    got = day_scores(wh, DAY)
    pd.testing.assert_frame_equal(got.drop(columns=VOLATILE), expected.drop(columns=VOLATILE))
    assert (got["run_id"] == on_dask["run_id"]).all()  # the flow run's id

    states, artifact = asyncio.run(_flow_run_facts(on_dask["run_id"], f"scoring-{DAY}"))
    assert states == ["Completed"] * chunks  # one task per chunk, none retried
    assert artifact == day_summary_markdown(ScoreResult.from_summary(on_dask))
    assert f"| scored | {n} |" in artifact
