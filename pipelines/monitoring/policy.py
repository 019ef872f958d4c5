"""When monitoring asks for a retraining: the policy in config, once per episode.

Reasons (any one fires; thresholds from ``[monitoring]``):
- the score PSI is in the shift band (above the upper ``psi_bands`` value);
- the share of drifted features (Evidently) is above ``drift_share_threshold``;
- the estimated AUC, or the realised AUC of a matured vintage scored by this champion, is below
  the champion's OOT AUC by more than ``auc_margin``;
- a forward roll rate alerted;
- the portfolio's early delinquency alerted;
- a matured vintage's realised bad rate is significantly above its mean PD.
A single dealer's early-delinquency alert is not a reason: retraining does not fix one dealer,
a person looks at it.

The decision is recorded in ``run_manifest`` (kind ``retrain_trigger``, run id
``retrain-trigger-<date>``) so the cool-down survives restarts: a trigger within
``retrain_cooldown_days`` business days after an earlier one is recorded as ``suppressed`` and
does not fire. Deciding a day twice gives the same answer and the same run id, which the
launcher can pass on as an idempotency key so a rerun does not start a second training.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import Date, bindparam, text

from pipelines.core.settings import MonitoringSettings, Settings
from pipelines.warehouse.engine import Warehouse

KIND = "retrain_trigger"
TRIGGERED, SUPPRESSED, QUIET = "triggered", "suppressed", "quiet"


@dataclass
class PolicyInputs:
    """What one monitoring day observed; None where it could not be measured."""

    score_psi: float | None = None
    drifted_share: float | None = None
    estimated_auc: float | None = None
    realised_auc: float | None = None
    realised_vintage: str | None = None
    oot_auc: float | None = None
    roll_rate_alerts: list[str] = field(default_factory=list)
    early_delinquency_ratio: float | None = None
    early_delinquency_alert: bool = False
    bad_rate_alerts: list[str] = field(default_factory=list)


@dataclass
class RetrainDecision:
    fire: bool
    reasons: list[str]
    status: str  # triggered | suppressed | quiet
    run_id: str | None = None  # the manifest row (and idempotency key) when not quiet
    last_trigger: date | None = None  # the earlier trigger that holds the cool-down
    launched: dict | None = None  # the retraining this trigger already started, if any


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
    if _known(inputs.oot_auc):
        floor = inputs.oot_auc - cfg.auc_margin
        if _known(inputs.estimated_auc) and inputs.estimated_auc < floor:
            reasons.append(f"estimated AUC {inputs.estimated_auc:.3f} below champion OOT AUC "
                           f"{inputs.oot_auc:.3f} - {cfg.auc_margin}")
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
    return reasons


def run_id_for(business_date: date) -> str:
    return f"retrain-trigger-{business_date.isoformat()}"


def _recorded(wh: Warehouse, business_date: date) -> dict | None:
    stmt = text("SELECT status, details FROM run_manifest WHERE run_id = :r")
    with wh.engine.connect() as conn:
        row = conn.execute(stmt, {"r": run_id_for(business_date)}).mappings().first()
    return dict(row) if row else None


def _last_trigger(wh: Warehouse, business_date: date, cooldown_days: int) -> date | None:
    stmt = text("SELECT MAX(business_date) FROM run_manifest WHERE kind = :k AND status = :s "
                "AND business_date > :lo AND business_date < :d").bindparams(
        bindparam("lo", type_=Date), bindparam("d", type_=Date))
    params = {"k": KIND, "s": TRIGGERED, "d": business_date,
              "lo": business_date - timedelta(days=cooldown_days)}
    with wh.engine.connect() as conn:
        value = conn.execute(stmt, params).scalar_one()
    return None if value is None else pd.Timestamp(value).date()


def _record(wh: Warehouse, business_date: date, status: str, reasons: list[str],
            inputs: PolicyInputs, model_version: str | None, last: date | None) -> str:
    now = datetime.now(UTC).replace(tzinfo=None)
    details = {"reasons": reasons, "inputs": asdict(inputs),
               "cooldown_from": last.isoformat() if last else None}
    row = pd.DataFrame([{
        "run_id": run_id_for(business_date), "kind": KIND, "business_date": business_date,
        "status": status, "model_version": model_version, "counts": None,
        "details": json.dumps(details, default=str), "started_at": now, "finished_at": now}])
    wh.upsert("run_manifest", row)
    return run_id_for(business_date)


def record_launch(wh: Warehouse, business_date: date, launch: dict) -> None:
    """Put the retraining a trigger starts on its manifest row, BEFORE it starts: a rerun of
    the day finds it and does not start a second one (at most one retraining per trigger; a
    launch that died is retried by hand or by the next episode)."""
    previous = _recorded(wh, business_date)
    if previous is None:
        raise ValueError(f"no retrain trigger recorded for {business_date}")
    details = {**json.loads(previous["details"] or "{}"), "launched": launch}
    stmt = text("UPDATE run_manifest SET details = :d WHERE run_id = :r")
    with wh.engine.begin() as conn:
        conn.execute(stmt, {"d": json.dumps(details, default=str),
                            "r": run_id_for(business_date)})


def decide_retrain(settings: Settings, wh: Warehouse, business_date: date,
                   inputs: PolicyInputs, model_version: str | None = None) -> RetrainDecision:
    """Apply the policy for one business date and record the outcome (see module docstring)."""
    previous = _recorded(wh, business_date)
    if previous is not None and previous["status"] == TRIGGERED:
        stored = json.loads(previous["details"] or "{}")
        return RetrainDecision(True, list(stored.get("reasons", [])), TRIGGERED,
                               run_id_for(business_date), launched=stored.get("launched"))
    reasons = retrain_reasons(inputs, settings.monitoring)
    if not reasons:
        return RetrainDecision(False, [], QUIET)
    last = _last_trigger(wh, business_date, settings.monitoring.retrain_cooldown_days)
    status = SUPPRESSED if last is not None else TRIGGERED
    run_id = _record(wh, business_date, status, reasons, inputs, model_version, last)
    return RetrainDecision(status == TRIGGERED, reasons, status, run_id, last)
