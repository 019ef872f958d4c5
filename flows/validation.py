"""Prefect task around the validation gate (``pipelines.validation.gate``): run it, publish its
summary as
a markdown artifact, and let a rejection fail the flow (after the artifact, so the run shows why).

The caller that writes the batch's rows passes ``record=False`` and calls
``pipelines.validation.gate.record_gate`` inside its own write transaction; a batch with nothing to
write
(the feature matrix before training) lets the task record it.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.core.settings import Settings
from pipelines.validation.gate import (
    BatchRejected,
    GateResult,
    record_gate,
    run_gate,
    summary_markdown,
)
from pipelines.warehouse.engine import Warehouse


def artifact_key(kind: str, batch_id: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"validation-{kind}-{batch_id}".lower()).strip("-")[:100]


@task(name="validation-gate", cache_policy=NO_CACHE)
def validation_gate(df: pd.DataFrame, kind: str, batch_id: str, settings: Settings,
                    wh: Warehouse, business_date: date | None = None,
                    problems: pd.DataFrame | None = None, record: bool = True) -> GateResult:
    try:
        result = run_gate(df, kind, batch_id, settings, wh, business_date, problems)
    except BatchRejected as exc:
        publish(exc.result)
        raise
    if record:
        record_gate(wh, result)
    publish(result)
    return result


def publish(result: GateResult) -> None:
    create_markdown_artifact(markdown=summary_markdown(result),
                             key=artifact_key(result.kind, result.batch_id),
                             description=f"validation gate: {result.kind} {result.status}")
