"""Roll back: put the ``previous`` version back as champion (under the alias lock) and record it
in the promotion audit like any decision (verdict ``rollback``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from models.promotion_rules import ROLLBACK
from models.registry import CHAMPION, PREVIOUS, RegistryError, version_info
from models.registry import rollback as registry_rollback
from pipelines.core.settings import Settings
from pipelines.promotion.audit import settle_interrupted, write_audit
from pipelines.promotion.decision import RollbackError
from pipelines.promotion.versions import registry_aliases
from pipelines.warehouse.engine import Warehouse


def rollback_champion(settings: Settings, wh: Warehouse, triggered_by: str) -> dict[str, Any]:
    """Put ``previous`` back as champion (under the alias lock) and record it in the audit."""
    name = settings.training.registered_model_name
    state = registry_aliases(settings)
    if state.get(PREVIOUS) is None:
        raise RollbackError(f"model {name} has no '{PREVIOUS}' version to roll back to (champion "
                            f"is {state.get(CHAMPION) or 'not set'}); nothing changed")
    settle_interrupted(settings, wh)  # before the champion moves again
    try:
        moved = registry_rollback(settings.tracking_uri, name)
    except RegistryError as exc:
        raise RollbackError(f"rollback of {name} failed: {exc}") from None
    decided_at = datetime.now(UTC)
    restored, demoted = moved["champion"], moved["demoted"]
    run_id = _version_run(settings, demoted)
    record = {"decision_id": uuid.uuid4().hex, "model_name": name, "verdict": ROLLBACK,
              "reasons": [f"version {restored} restored as champion, version {demoted} "
                          "demoted"],
              "champion_restored": restored, "demoted": demoted,
              "aliases_before": moved["before"], "aliases_after": moved["after"],
              "triggered_by": triggered_by[:128], "decided_at": decided_at.isoformat(),
              "config_hash": settings.config_hash()}
    stamp = decided_at.strftime("%Y%m%dT%H%M%S%fZ")
    record["audit"] = write_audit(settings, wh, record, stamp, run_id,
                                  [v for v in (restored, demoted) if v is not None])
    return record


def _version_run(settings: Settings, version: str | None) -> str | None:
    if version is None:
        return None
    try:
        return version_info(settings.tracking_uri, settings.training.registered_model_name,
                            version)["run_id"]
    except RegistryError:
        return None
