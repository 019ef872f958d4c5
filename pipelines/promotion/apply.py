"""Apply a decision: move the aliases if the verdict is *promoted*, then put it on record.

``move_aliases_atomically`` is a compare-and-set against the champion the decision was made on: a
concurrent promotion turns the loser into a recorded *conflict*. A dry run writes nothing at all.
``promote_challenger`` = ``decide`` (reads only) + ``apply_decision``; the Prefect flow
``promotion`` runs the two as tasks.
"""

from __future__ import annotations

from models.promotion_rules import CONFLICT, PROMOTED, WOULD_PROMOTE
from models.registry import AliasConflictError, RegistryError, aliases, move_aliases_atomically
from pipelines.core.settings import Settings
from pipelines.promotion.audit import PROMOTING, record_intent, settle_interrupted, write_audit
from pipelines.promotion.decide import decide
from pipelines.promotion.decision import PromotionDecision, RegistryUnavailableError
from pipelines.warehouse.engine import Warehouse


def apply_decision(settings: Settings, wh: Warehouse, decision: PromotionDecision,
                   dry_run: bool = False) -> PromotionDecision:
    """Move the aliases if the verdict is *promoted* (compare-and-set against the champion the
    decision was made on), then put the decision on record. A dry run writes nothing."""
    if dry_run:
        decision.dry_run = True
        if decision.verdict == PROMOTED:
            decision.verdict = WOULD_PROMOTE
        return decision
    uri, name = settings.tracking_uri, decision.model_name
    settle_interrupted(settings, wh)
    intent = None
    if decision.verdict == PROMOTED:
        expected = (decision.champion or {}).get("version")
        intent = record_intent(wh, decision)
        try:
            moved = move_aliases_atomically(uri, name, decision.challenger["version"], expected)
            decision.aliases_after = moved["after"]
        except AliasConflictError as exc:
            decision.verdict = CONFLICT
            decision.reasons = [f"not applied: {exc}"]
        except RegistryError as exc:
            raise RegistryUnavailableError(
                f"alias move failed: {exc}; the audit row of this decision stays "
                f"'{PROMOTING}' until the next promotion settles it from the registry") from None
    if decision.aliases_after is None:
        decision.aliases_after = _aliases_now(settings)
    run_id = decision.challenger.get("run_id")  # None: the version is not in the registry
    versions = [decision.challenger["version"]] if run_id else []
    if decision.champion is not None:
        versions.append(decision.champion["version"])
    decision.audit = write_audit(settings, wh, decision.as_dict(), decision.stamp, run_id,
                                 versions, row_id=intent)
    return decision


def promote_challenger(settings: Settings, wh: Warehouse, dry_run: bool = False,
                       triggered_by: str = "manual",
                       challenger_version: str | None = None) -> PromotionDecision:
    """Judge, decide, record and (if won) promote; see ``pipelines.promotion``."""
    decision = decide(settings, wh, triggered_by, challenger_version)
    return apply_decision(settings, wh, decision, dry_run)


def _aliases_now(settings: Settings) -> dict[str, str]:
    try:
        return aliases(settings.tracking_uri, settings.training.registered_model_name)
    except RegistryError:
        return {}
