"""Prefect flow ``promotion``: judge the challenger against the champion, then apply the verdict
(alias move and audit). Every step is a ``pipelines.promotion`` function; see its modules for the
rules and the guarantees.

The comparison only reads, so it retries on transient I/O errors (not on a refusal the user must
act on). Applying does not retry: a retry after a half-done apply would judge against a champion
that has already moved. The training flow calls this flow at its end.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import IO_RETRIES, alert_on_failure, flow_settings
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings
from pipelines.promotion.apply import apply_decision
from pipelines.promotion.decide import decide
from pipelines.promotion.decision import (
    PromotionDecision,
    PromotionError,
    RegistryUnavailableError,
)
from pipelines.warehouse.engine import warehouse_for


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry I/O failures; a PromotionError other than an unreachable registry will not heal."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:  # the result itself cannot be read: treat as transient
        return True
    return not isinstance(exc, PromotionError) or isinstance(exc, RegistryUnavailableError)


@task(cache_policy=NO_CACHE, retry_condition_fn=_transient, **IO_RETRIES)
def compare(settings: Settings, triggered_by: str,
            challenger_version: str | None) -> PromotionDecision:
    return decide(settings, warehouse_for(settings.warehouse), triggered_by, challenger_version)


@task(cache_policy=NO_CACHE)
def apply(settings: Settings, decision: PromotionDecision, dry_run: bool) -> PromotionDecision:
    return apply_decision(settings, warehouse_for(settings.warehouse), decision, dry_run)


@flow(name="promotion", on_failure=[alert_on_failure])
def promotion(dry_run: bool = False, triggered_by: str = "manual",
              challenger_version: str | None = None, family: str = "pd") -> dict[str, Any]:
    """``family``: whose challenger is judged (``pipelines.core.families``), with the same
    gates and rules for every family."""
    settings = family_settings(flow_settings(), family)
    decision = apply(settings, compare(settings, triggered_by, challenger_version), dry_run)
    get_run_logger().info("%s: challenger v%s vs champion v%s -> %s (%s)", decision.model_name,
                          decision.challenger.get("version"),
                          (decision.champion or {}).get("version"), decision.verdict,
                          "; ".join(decision.reasons))
    create_markdown_artifact(decision.markdown(), key="promotion-decision",
                             description=f"promotion of {decision.model_name}: "
                                         f"{decision.verdict}")
    return decision.as_dict()
