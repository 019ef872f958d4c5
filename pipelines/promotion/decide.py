"""Judge the challenger against the champion: registry state read once, validity, evidence,
rules, verdict. Reads only: nothing in the registry or the warehouse changes.

Every challenger, the first one included, must pass the absolute gates
(``models.promotion_rules.absolute_rules``: beat the logistic baseline, calibration bounds, monotone
directions on the fitted booster); with a champion, the comparison rules too. A model that fails
stays registered and is never champion. Equal models are never promoted: an AUC uplift of 0 fails
both the uplift and the interval rule. ``apply_decision`` (``pipelines.promotion.apply``) acts on
the verdict.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models.pd_model import PDModel
from models.promotion_rules import (
    REFUSED,
    absolute_rules,
    evaluate_rules,
    recalibration_rules,
    recalibration_warnings,
    verdict_of,
)
from models.registry import CHALLENGER, CHAMPION, RegistryError, version_info
from models.split import SECOND, IdSplit
from pipelines.core.settings import Settings, redact
from pipelines.promotion.decision import (
    NoChallengerError,
    PromotionDecision,
    RegistryUnavailableError,
)
from pipelines.promotion.evidence import (
    gather_evidence,
    load_window,
    promotion_window,
    shadow_period,
)
from pipelines.promotion.versions import champion_to_compare, check_challenger, registry_aliases
from pipelines.scoring.models import recorded_cutoffs
from pipelines.training.track import git_commit
from pipelines.warehouse.engine import Warehouse


def decide(settings: Settings, wh: Warehouse, triggered_by: str = "manual",
           challenger_version: str | None = None) -> PromotionDecision:
    """Judge the challenger (the ``challenger`` alias, or the version given) against the
    champion. Reads only: nothing in the registry or the warehouse changes."""
    state = registry_aliases(settings)
    version = challenger_version or state.get(CHALLENGER)
    name = settings.training.registered_model_name
    if version is None:
        raise NoChallengerError(f"model {name} has no '{CHALLENGER}' alias: train a model first "
                                "(or name a version)")
    window = _window_for(settings, wh, str(version))
    try:
        return _judge(settings, wh, state, str(version), window, triggered_by)
    except RegistryError as exc:  # the registry failed half-way: still nothing changed
        raise RegistryUnavailableError(f"model registry failed during the comparison: "
                                       f"{redact(str(exc))[:300]}") from None


def _window_for(settings: Settings, wh: Warehouse, version: str) -> dict[str, Any]:
    """The promotion window on the label a version relies on (its tag ``target``; "main" when
    untagged or unknown: the checks that follow report a version that cannot be read). A
    version fitted on one part of an id split (tags ``split.*``: a recalibration) is judged on
    the other part only, and the window says so."""
    try:
        tags = version_info(settings.tracking_uri, settings.training.registered_model_name,
                            version)["tags"]
    except RegistryError:
        tags = {}
    target = tags.get("target") if tags.get("target") in ("early", "epd", "roll") else "main"
    window = promotion_window(settings, wh, target)
    split = IdSplit.from_tags(tags)
    return window if split is None else {**window, "part": SECOND, "split": split.as_dict()}


def _judge(settings: Settings, wh: Warehouse, state: dict[str, str], version: str,
           window: dict[str, Any], triggered_by: str) -> PromotionDecision:
    champion_version = state.get(CHAMPION)
    about, challenger, problems = check_challenger(settings, version, champion_version, window)
    p = settings.promotion
    decision = PromotionDecision(
        model_name=settings.training.registered_model_name, verdict=REFUSED, reasons=[],
        challenger=about, champion=None, window=window, triggered_by=triggered_by[:128],
        decided_at=datetime.now(UTC), config_hash=settings.config_hash(),
        git_commit=git_commit(),
        cutoffs={},
        bootstrap={"samples": p.bootstrap_samples, "ci_level": p.ci_level, "seed": settings.seed},
        aliases_before=dict(state))
    if champion_version is not None:
        decision.champion = {"version": champion_version}
    if challenger is not None:  # a refused challenger is not worth loading the champion for
        _add_evidence(settings, wh, decision, challenger)
    decision.verdict, decision.reasons = verdict_of(
        decision.rules, decision.champion is not None, problems)
    return decision


def _add_evidence(settings: Settings, wh: Warehouse, decision: PromotionDecision,
                  challenger: PDModel) -> None:
    models = {"challenger": challenger}
    if decision.champion is not None:
        decision.champion, models["champion"], decision.warnings = champion_to_compare(
            settings, decision.champion["version"], decision.window)
    data = load_window(settings, wh, decision.window)
    cutoffs = {role: recorded_cutoffs(settings, model) for role, model in models.items()}
    decision.cutoffs = {role: {"approve_at": a, "decline_below": d}
                        for role, (a, d) in cutoffs.items()}
    evidence = gather_evidence(settings, data, models, cutoffs)
    decision.counts, decision.metrics = data.counts, evidence["table"]
    decision.score_psi = evidence["score_psi"]
    decision.monotone = evidence["monotone"]
    decision.reason_stability = evidence["reason_stability"]
    decision.rules = absolute_rules(evidence["point"]["challenger"],
                                    _baseline_uplift(decision.challenger), evidence["monotone"],
                                    settings.promotion)
    if "champion" in models and decision.challenger.get("response") == "recalibration":
        point = evidence["point"]
        decision.rules += recalibration_rules(point["challenger"], point["champion"],
                                              settings.promotion)
        decision.warnings += recalibration_warnings(point["challenger"], point["champion"],
                                                    settings.promotion)
    elif "champion" in models:
        decision.rules += evaluate_rules(evidence["point"]["challenger"],
                                         evidence["point"]["champion"], evidence["auc_diff"],
                                         settings.promotion)
    decision.shadow = shadow_period(settings, wh, decision.challenger["version"])


def _baseline_uplift(challenger: dict[str, Any]) -> float:
    """OOT AUC above the logistic baseline's, both as its training run measured them on its
    own out-of-time window (NaN, which fails the gate, when either is missing)."""
    auc, base = challenger.get("logged_oot_auc"), challenger.get("logged_baseline_oot_auc")
    return float("nan") if auc is None or base is None else float(auc) - float(base)
