"""The drift reference monitoring compares against, and its reset after a population shift.

A champion's reference is the training-window sample logged with it. When the policy finds a
population shift with calibration holding (``retrain_rules.REFERENCE_RESET``), nothing is
retrained: once a person has reviewed the shift, ``accept_reference_reset`` moves the reference
to the applications of the trailing window ending on the day of acceptance, scored by the
champion (the same features, PD and score columns), and checks the cut-offs against the target
approval rate on that window. The new reference is kept under the home
(``data/references/``) and recorded in ``run_manifest`` (kind ``reference_reset``, the window,
the reviewer, the trigger it answers, the cut-off check); ``current_reference`` hands monitoring
the latest accepted one of the champion version, so one drift episode alerts, is answered and
settles. A newly promoted champion starts from its own logged reference.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.registry import build_reference
from models.scaling import cutoff_for_approval_rate, decide_by_score, pd_to_score
from pipelines.champion import Champion
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.monitoring.measure import build_window_features
from pipelines.monitoring.policy import run_id_for
from pipelines.monitoring.retrain_rules import REFERENCE_RESET
from pipelines.monitoring.window import window_applications
from pipelines.scoring.models import recorded_cutoffs
from pipelines.warehouse import monitoring as store
from pipelines.warehouse.engine import Warehouse

KIND, ACCEPTED = REFERENCE_RESET, "accepted"


class ReferenceResetError(CreditflowError):
    """A reset cannot be made as asked (no applications in the window)."""


def reference_path(settings: Settings, version: str, day: date) -> Path:
    return settings.data_dir / "references" / f"v{version}-{day.isoformat()}.parquet"


def current_reference(settings: Settings, wh: Warehouse, version: str, logged: pd.DataFrame,
                      day: date) -> tuple[pd.DataFrame, str]:
    """(the reference in force for ``version`` on ``day``, where it comes from): the latest
    accepted reset's sample, else the one logged with the model."""
    found = store.latest_decision(wh, KIND, ACCEPTED, version, day)
    if found is None:
        return logged, "training window"
    path = settings.home / found["details"]["path"]  # relative: the home may be moved
    window = found["details"]["window"]
    return pd.read_parquet(path), f"reset on {found['business_date']} to {window}"


def cutoff_check(settings: Settings, scores: np.ndarray, approve_at: float,
                 decline_below: float, target: float) -> dict[str, Any]:
    """Approval rate of the window at the cut-offs in force against the target rate, and the
    approve cut-off that would meet the target there (a recommendation: cut-offs move only
    through a model's own derivation or a setting a person changes)."""
    approved = float(np.mean(decide_by_score(scores, approve_at, decline_below) == "approve"))
    return {"approve_at": approve_at, "decline_below": decline_below,
            "approval_rate": approved, "target_approval_rate": target,
            "gap": approved - target,
            "approve_at_for_target": float(cutoff_for_approval_rate(scores, target))}


def accept_reference_reset(settings: Settings, wh: Warehouse, champion: Champion, day: date,
                           reviewer: str) -> dict[str, Any]:
    """Move ``champion``'s reference to the trailing ``monitoring.window_days`` ending ``day``
    and record it (see the module docstring); returns the record's details."""
    start = day - timedelta(days=settings.monitoring.window_days - 1)
    apps = window_applications(wh, start, day)
    if apps.empty:
        raise ReferenceResetError(f"no applications in {start}..{day} to reset the reference to")
    model = champion.model
    X = build_window_features(settings, wh, apps, day, model.feature_names,
                              champion.reference if champion.reference is not None else
                              pd.DataFrame(columns=model.feature_names))
    ref = build_reference(model, X, seed=settings.seed)
    sc = settings.scoring
    ref["score"] = pd_to_score(ref["pd"].to_numpy(), sc.base_score, sc.base_odds, sc.pdo)
    path = reference_path(settings, champion.version, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    ref.to_parquet(path, index=False)
    approve_at, decline_below = recorded_cutoffs(settings, model)
    target = sc.target_approval_rate
    if target is None and champion.reference is not None:  # hold the rate it was trained at
        old = champion.reference["score"].to_numpy(dtype=float)
        target = float(np.mean(decide_by_score(old, approve_at, decline_below) == "approve"))
    trigger = store.latest_decision(wh, "retrain_trigger", "triggered", champion.version, day)
    details = {"window": f"{start}..{day}", "rows": len(ref),
               "path": str(path.relative_to(settings.home)),
               "reviewer": reviewer, "answers": trigger["run_id"] if trigger else None,
               "cutoff_check": None if target is None else cutoff_check(
                   settings, ref["score"].to_numpy(), approve_at, decline_below, target)}
    store.write_decision(wh, f"reference-reset-{day.isoformat()}", KIND, day, ACCEPTED,
                         champion.version, details)
    return details


def pending_reset(wh: Warehouse, version: str, day: date, review_days: int) -> date | None:
    """The day of a reference reset proposed for ``version`` ``review_days`` before ``day``
    and not yet accepted (None otherwise): what a reviewer's queue holds."""
    proposed = day - timedelta(days=review_days)
    row = store.manifest_status(wh, run_id_for(proposed))
    if row is None or row["status"] != "triggered" \
            or json.loads(row["details"] or "{}").get("response") != REFERENCE_RESET:
        return None
    done = store.latest_decision(wh, KIND, ACCEPTED, version, day)
    return None if done is not None and done["business_date"] >= proposed else proposed
