"""The Prefect task around the gate: it records the verdict and publishes the summary as a
markdown artifact; a rejection fails the flow after publishing why."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

from flows.validation import artifact_key, validation_gate
from pipelines.core.settings import Settings
from pipelines.validation.gate import BatchRejected
from pipelines.warehouse.engine import Warehouse
from tests.unit.pipelines.validation.test_validate import DAY, clean_apps

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def prefect_api(prefect_harness: None) -> None:
    """The session's Prefect API (tests/trained.py), not one of this module's own: a second
    temporary server costs a migrated database and 6-7 s of a core."""


def artifact(key: str) -> str:
    async def read() -> str:
        async with get_client() as client:
            found = await client.read_latest_artifacts(artifact_filter=ArtifactCollectionFilter(
                key=ArtifactCollectionFilterKey(any_=[key])))  # the session's API holds others
            return next(a.data for a in found if a.key == key)
    return asyncio.run(read())


def test_gate_task_records_and_publishes(settings: Settings, sqlite_wh: Warehouse) -> None:
    df = clean_apps(60)
    df.loc[3, "housing"] = "castle"

    @flow
    def check() -> str:
        return validation_gate(df, "applications", "flow-b1", settings, sqlite_wh, DAY).status

    assert check() == "quarantined"
    assert sqlite_wh.read("validation_results")["status"].tolist() == ["quarantined"]
    text = artifact(artifact_key("applications", "flow-b1"))
    assert "| flow-b1 | applications | quarantined |" in text and "castle" in text


def test_rejection_fails_the_flow_after_publishing(settings: Settings,
                                                   sqlite_wh: Warehouse) -> None:
    @flow
    def check() -> None:
        validation_gate(clean_apps(60).iloc[0:0], "applications", "flow-empty", settings,
                        sqlite_wh, DAY)

    with pytest.raises(BatchRejected, match="expect_table_row_count_to_be_between"):
        check()
    assert "Batch rejected because" in artifact(artifact_key("applications", "flow-empty"))
