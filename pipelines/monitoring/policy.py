"""When monitoring responds to drift: the rules of ``retrain_rules`` applied to one day, the
response chosen by the kind of drift (``drift_kind``) and recorded with the reason, once per
episode. Only a recalibration or an early-target retrain fires a training run; a population
shift proposes a reference reset that a person accepts (``pipelines.monitoring.reference``).

The decision is recorded in ``run_manifest`` (kind ``retrain_trigger``, run id
``retrain-trigger-<date>``) so the cool-down survives restarts: a trigger within
``retrain_cooldown_days`` calendar days after an earlier one is recorded as ``suppressed`` and
does not fire. Deciding a day twice gives the same answer and the same run id, which the
launcher can pass on as an idempotency key so a rerun does not start a second training.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, timedelta

from pipelines.core.settings import Settings
from pipelines.monitoring.retrain_rules import (
    CHALLENGER_RESPONSES,
    QUIET,
    RESPONSES,
    SUPPRESSED,
    TRIGGERED,
    PolicyInputs,
    RetrainDecision,
    drift_kind,
    retrain_reasons,
)
from pipelines.warehouse import monitoring as store
from pipelines.warehouse.engine import Warehouse

KIND = "retrain_trigger"


def run_id_for(business_date: date) -> str:
    return f"retrain-trigger-{business_date.isoformat()}"


def _record(wh: Warehouse, business_date: date, status: str, reasons: list[str],
            inputs: PolicyInputs, model_version: str | None, last: date | None,
            kind: tuple[str, str]) -> str:
    details = {"reasons": reasons, "inputs": asdict(inputs),
               "cooldown_from": last.isoformat() if last else None,
               "kind": kind[0], "response": RESPONSES[kind[0]], "why": kind[1]}
    store.write_decision(wh, run_id_for(business_date), KIND, business_date, status,
                         model_version, details)
    return run_id_for(business_date)


def record_launch(wh: Warehouse, business_date: date, launch: dict) -> None:
    """Put the retraining a trigger starts on its manifest row, BEFORE it starts: a rerun of
    the day finds it and does not start a second one (at most one retraining per trigger; a
    launch that died is retried by hand or by the next episode)."""
    previous = store.manifest_status(wh, run_id_for(business_date))
    if previous is None:
        raise ValueError(f"no retrain trigger recorded for {business_date}")
    details = {**json.loads(previous["details"] or "{}"), "launched": launch}
    store.set_manifest_details(wh, run_id_for(business_date), details)


def decide_retrain(settings: Settings, wh: Warehouse, business_date: date,
                   inputs: PolicyInputs, model_version: str | None = None) -> RetrainDecision:
    """Apply the policy for one business date and record the outcome (see module docstring)."""
    previous = store.manifest_status(wh, run_id_for(business_date))
    if previous is not None and previous["status"] == TRIGGERED:
        stored = json.loads(previous["details"] or "{}")
        response = stored.get("response")  # None: recorded before responses had kinds
        fire = response is None or response in CHALLENGER_RESPONSES
        return RetrainDecision(fire, list(stored.get("reasons", [])),
                               TRIGGERED, run_id_for(business_date),
                               launched=stored.get("launched"), kind=stored.get("kind"),
                               response=response)
    reasons = retrain_reasons(inputs, settings.monitoring)
    kind = drift_kind(inputs, settings.monitoring)
    if not reasons or kind is None:
        return RetrainDecision(False, [], QUIET)
    cooldown = settings.monitoring.retrain_cooldown_days
    last = store.last_run_between(wh, KIND, TRIGGERED,
                                  business_date - timedelta(days=cooldown), business_date)
    status = SUPPRESSED if last is not None else TRIGGERED
    run_id = _record(wh, business_date, status, reasons, inputs, model_version, last, kind)
    response = RESPONSES[kind[0]]
    return RetrainDecision(status == TRIGGERED and response in CHALLENGER_RESPONSES, reasons,
                           status, run_id, last, kind=kind[0], response=response)
