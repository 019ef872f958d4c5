"""When monitoring asks for a retraining: the rules, pure (no I/O; ``policy`` applies and records
them).

Reasons (any one fires; thresholds from ``[monitoring]``):
- the score PSI is in the shift band (above the upper ``psi_bands`` value);
- the share of drifted features (Evidently) is above ``drift_share_threshold``;
- the estimated AUC, or the realised AUC of a matured vintage scored by this champion, is below
  the champion's OOT AUC by more than ``auc_margin``;
- a forward roll rate alerted;
- the portfolio's early delinquency alerted;
- a matured vintage's realised bad rate is significantly above its mean PD.
- a vintage's early-performance bad rate is significantly above what its PDs expected.
A single dealer's early-delinquency alert is not a reason: retraining does not fix one dealer,
a person looks at it.

The response depends on the kind of drift (``choose_response``), the first that holds:
- concept drift (the ranking falls: realised AUC on matured, or early-matured, vintages below
  the champion's OOT AUC by more than the margin): a challenger trained with the
  early-performance target on windows that include the newest vintages (``early_retrain``);
- calibration drift (outcomes worse than the PDs of the same loans: a vintage's realised or
  early bad rate significantly above what its PDs expected): a recalibration challenger, the
  champion's booster with its calibrator refitted on the newest early-matured vintages mapped
  to the 12-month scale (``recalibration``);
- population shift (score PSI, drifted features or the estimate move while calibration holds):
  no retraining; the reference moves to the recent window once a person has reviewed it, and
  the cut-offs are checked against the target approval rate (``reference_reset``).
A roll-rate or portfolio early-delinquency alert alone is none of these: it measures the book
against its own past, not against the PDs of its loans, so a change of mix moves it (a younger
book rolls more, a riskier intake too, both as their PDs said). It stays an alert for people and
is listed among the reasons when a kind is found; it triggers nothing by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from pipelines.core.stage_settings import MonitoringSettings

TRIGGERED, SUPPRESSED, QUIET = "triggered", "suppressed", "quiet"
CONCEPT, CALIBRATION, POPULATION = "concept_drift", "calibration_drift", "population_shift"
EARLY_RETRAIN, RECALIBRATION, REFERENCE_RESET = "early_retrain", "recalibration", "reference_reset"
RESPONSES = {CONCEPT: EARLY_RETRAIN, CALIBRATION: RECALIBRATION, POPULATION: REFERENCE_RESET}
CHALLENGER_RESPONSES = (EARLY_RETRAIN, RECALIBRATION)


@dataclass
class PolicyInputs:
    """What one monitoring day observed; None where it could not be measured."""

    score_psi: float | None = None
    drifted_share: float | None = None
    estimated_auc: float | None = None
    realised_auc: float | None = None
    realised_vintage: str | None = None
    oot_auc: float | None = None
    # the same estimate on the champion's reference PDs: what the estimate is judged against
    reference_estimated_auc: float | None = None
    roll_rate_alerts: list[str] = field(default_factory=list)
    early_delinquency_ratio: float | None = None
    early_delinquency_alert: bool = False
    bad_rate_alerts: list[str] = field(default_factory=list)
    early_bad_rate_alerts: list[str] = field(default_factory=list)  # early target, by vintage
    early_auc: float | None = None  # early target's AUC on the newest scored vintage
    early_vintage: str | None = None


@dataclass
class RetrainDecision:
    fire: bool  # a challenger is to be trained (recalibration or early retrain)
    reasons: list[str]
    status: str  # triggered | suppressed | quiet
    run_id: str | None = None  # the manifest row (and idempotency key) when not quiet
    last_trigger: date | None = None  # the earlier trigger that holds the cool-down
    launched: dict | None = None  # the retraining this trigger already started, if any
    kind: str | None = None  # concept_drift | calibration_drift | population_shift
    response: str | None = None  # early_retrain | recalibration | reference_reset


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def retrain_reasons(inputs: PolicyInputs, cfg: MonitoringSettings) -> list[str]:
    """Every policy rule the day breaks, as a sentence a risk analyst can read."""
    reasons: list[str] = []
    high = cfg.psi_bands[1]
    if _known(inputs.score_psi) and inputs.score_psi > high:
        reasons.append(f"score PSI {inputs.score_psi:.3f} above the shift band ({high})")
    if _known(inputs.drifted_share) and inputs.drifted_share > cfg.drift_share_threshold:
        reasons.append(f"drifted feature share {inputs.drifted_share:.0%} above "
                       f"{cfg.drift_share_threshold:.0%}")
    ref = inputs.reference_estimated_auc
    if _known(ref) and _known(inputs.estimated_auc) and inputs.estimated_auc < ref - cfg.auc_margin:
        reasons.append(f"estimated AUC {inputs.estimated_auc:.3f} below the same estimate on "
                       f"the champion's reference {ref:.3f} - {cfg.auc_margin}")
    if _known(inputs.oot_auc):
        floor = inputs.oot_auc - cfg.auc_margin
        if _known(inputs.realised_auc) and inputs.realised_auc < floor:
            reasons.append(f"realised AUC {inputs.realised_auc:.3f} (vintage "
                           f"{inputs.realised_vintage}) below champion OOT AUC "
                           f"{inputs.oot_auc:.3f} - {cfg.auc_margin}")
    if inputs.roll_rate_alerts:
        reasons.append("roll rate alert from " + ", ".join(inputs.roll_rate_alerts))
    if inputs.early_delinquency_alert:
        ratio = inputs.early_delinquency_ratio
        reasons.append("portfolio early delinquency alert"
                       + (f" (x{ratio:.2f} its baseline)" if _known(ratio) else ""))
    if inputs.bad_rate_alerts:
        reasons.append("realised bad rate above predicted in vintage(s) "
                       + ", ".join(inputs.bad_rate_alerts))
    if inputs.early_bad_rate_alerts:
        reasons.append("early-performance bad rate above predicted in vintage(s) "
                       + ", ".join(inputs.early_bad_rate_alerts))
    if _known(inputs.oot_auc) and _known(inputs.early_auc) \
            and inputs.early_auc < inputs.oot_auc - cfg.auc_margin:
        reasons.append(f"early-performance AUC {inputs.early_auc:.3f} (vintage "
                       f"{inputs.early_vintage}) below champion OOT AUC {inputs.oot_auc:.3f} - "
                       f"{cfg.auc_margin}")
    return reasons


def drift_kind(inputs: PolicyInputs, cfg: MonitoringSettings) -> tuple[str, str] | None:
    """(kind of drift, why) for a day whose rules fire, or None when none does; see the module
    docstring for the order."""
    reasons = retrain_reasons(inputs, cfg)
    if not reasons:
        return None
    floor = inputs.oot_auc - cfg.auc_margin if _known(inputs.oot_auc) else None
    if floor is not None and any(_known(a) and a < floor
                                 for a in (inputs.realised_auc, inputs.early_auc)):
        return CONCEPT, "the ranking fell: " + "; ".join(reasons)
    if inputs.bad_rate_alerts or inputs.early_bad_rate_alerts:
        return CALIBRATION, "outcomes worse than the PDs: " + "; ".join(reasons)
    # left: the population's reasons (PSI, drifted features, the estimate) and the portfolio's
    portfolio = bool(inputs.roll_rate_alerts) + bool(inputs.early_delinquency_alert)
    if len(reasons) == portfolio:
        return None  # roll rates or early delinquency only: an alert, not a drift kind
    return POPULATION, ("the population moved while calibration holds (no vintage's bad rate "
                        "above its PDs): " + "; ".join(reasons))
