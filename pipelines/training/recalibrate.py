"""The recalibration challenger: the champion's booster with its calibrator refitted on the most
recent early-matured vintages, mapped onto the 12-month scale by the bridge (``models.bridge``).

The monitoring policy asks for it when outcomes run worse than the PDs while the ranking holds
(calibration drift). Windows, as of the newest data date:

- judged: the ``promotion.oot_months`` latest months whose early-performance window has matured
  (``promotion_window`` with the early target): where the challenger is compared;
- calibration: the ``training.calibration_months`` before them, early-matured too, labelled with
  the early target; the calibrator's probability of an early bad is mapped to a 12-month PD by
  the bridge measured on the latest 12-month matured vintages;
- the booster and its training and early-stopping windows are the champion's, unchanged.

The run is recorded like a training run (tags ``target=early``, ``response=recalibration``,
windows, the bridge; the champion's OOT and baseline AUC, since the ranking is the champion's)
and the version is registered as ``challenger``. Its drift reference is the trailing
``monitoring.window_days`` of applications it will score, so after a promotion monitoring
compares with today's population.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features import build_features
from models import metrics as M
from models.calibration import Calibrator
from models.pd_model import PDModel
from models.registry import (
    CHALLENGER,
    build_reference,
    log_reference,
    register_pd_model,
    run_info,
    set_alias,
    start_run,
)
from models.scaling import pd_to_score
from pipelines.champion import current_champion
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.scoring.models import model_specs, recorded_cutoffs, scoring_policy
from pipelines.training.early import early_labels, measure_bridge, target_names
from pipelines.training.trainset import TrainingError, data_as_of
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, load_applications, shared_outcomes

RESPONSE = "recalibration"


def _months_before(end: date, months: int) -> tuple[date, date]:
    return (pd.Period(end, freq="M") - (months - 1)).start_time.date(), end


def recalibration_windows(settings: Settings, as_of: date) -> dict[str, tuple[date, date]]:
    """The judged and calibration windows (see the module docstring)."""
    judged = _months_before(latest_matured_month_end(as_of, settings.features.early.months),
                            settings.promotion.oot_months)
    cal_end = judged[0] - timedelta(days=1)
    return {"calibration": _months_before(cal_end, settings.training.calibration_months),
            "judged": judged}


def window_frame(settings: Settings, wh: Warehouse, model: PDModel, start: date, end: date,
                 as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(applications, the model's features) of [start, end] as known at ``as_of``."""
    apps = load_applications(wh, start, end)
    if apps.empty:
        raise TrainingError(f"no applications in {start}..{end} to recalibrate on")
    outcomes = shared_outcomes(wh, as_of, feature_config(settings))
    X = build_features(apps, outcomes, pd.Timestamp(as_of), feature_config(settings),
                       model_specs(model))
    return apps, X[model.feature_names]


def refit_calibrator(settings: Settings, wh: Warehouse, champion: PDModel, as_of: date
                     ) -> tuple[PDModel, dict[str, Any]]:
    """The champion with its calibrator refitted on the calibration window's early labels and
    bridged to the 12-month scale; and what was measured on the way."""
    windows = recalibration_windows(settings, as_of)
    apps, X = window_frame(settings, wh, champion, *windows["calibration"], as_of)
    y = early_labels(settings, wh, apps, pd.Timestamp(as_of))["bad"].to_numpy()
    keep = ~np.isnan(y)
    bridge, bridge_window = measure_bridge(settings, wh, as_of)
    raw = champion.raw_proba(X[keep])
    fitted = Calibrator(settings.training.calibration).fit(raw, y[keep])
    calibrator = replace(fitted, bridge=(bridge.final_if_early_bad,
                                         bridge.final_if_early_good))
    model = replace(champion, calibrator=calibrator, name=None, version=None, run_id=None)
    before = bridge.to_early(champion.predict_pd(X[keep]))
    after = fitted.transform(raw)
    info = {"windows": windows, "bridge": bridge.as_dict(),
            "bridge_window": f"{bridge_window[0]}..{bridge_window[1]}",
            "rows": int(keep.sum()), "bads": int(y[keep].sum()),
            "early_ece_before": M.ece(y[keep], before), "early_ece_after": M.ece(y[keep], after),
            "early_mean_pd_before": float(before.mean()),
            "early_mean_pd_after": float(after.mean()), "early_bad_rate": float(y[keep].mean())}
    return model, info


def recalibration_challenger(settings: Settings, wh: Warehouse,
                             triggered_by: str = "manual") -> dict[str, Any]:
    """Refit, record and register the recalibration challenger (see the module docstring)."""
    as_of = data_as_of(wh)
    champion = current_champion(settings, reference=False)
    model, info = refit_calibrator(settings, wh, champion.model, as_of)
    champ_run = run_info(settings.tracking_uri, champion.run_id or "")
    cutoffs = recorded_cutoffs(settings, champion.model)
    run = start_run(settings.tracking_uri, settings.training.experiment_name,
                    settings.artifact_root, run_name=f"pd-recalibrate {as_of.isoformat()}",
                    tags=_tags(settings, champ_run["tags"], info, triggered_by, as_of,
                               champion.version))
    try:
        version = _log(settings, wh, run, model, info, champ_run["metrics"], cutoffs, as_of)
    except BaseException:
        run.finish("FAILED")
        raise
    set_alias(run.client, settings.training.registered_model_name, CHALLENGER, version)
    return {"version": version, "run_id": run.run_id, "response": RESPONSE,
            "label": target_names(settings)["early"],
            "windows": {k: f"{a}..{b}" for k, (a, b) in info["windows"].items()},
            "early_ece_before": info["early_ece_before"],
            "early_ece_after": info["early_ece_after"]}


def _tags(settings: Settings, champ_tags: dict[str, str], info: dict[str, Any],
          triggered_by: str, as_of: date, champion_version: str) -> dict[str, str]:
    cal = info["windows"]["calibration"]
    return {"triggered_by": triggered_by, "target": "early", "response": RESPONSE,
            "recalibrated_from": champion_version,
            "window.train": champ_tags.get("window.train", ""),
            "window.early_stopping": champ_tags.get("window.early_stopping", ""),
            "window.calibration": f"{cal[0]}..{cal[1]}", "window.as_of": as_of.isoformat(),
            "label.calibration": target_names(settings)["early"],
            "bridge.window": info["bridge_window"], "config_hash": settings.config_hash()}


def _log(settings: Settings, wh: Warehouse, run: Any, model: PDModel, info: dict[str, Any],
         champ_metrics: dict[str, float], cutoffs: tuple[float, float], as_of: date) -> str:
    # the ranking is the champion's booster's: its OOT and baseline AUC stand for this version
    metrics = {k: float(v) for k, v in champ_metrics.items()
               if k in ("oot_auc", "baseline_oot_auc", "oot_ks")}
    metrics |= {k: float(v) for k, v in info.items() if k.startswith("early_")}
    metrics |= {f"bridge_{k}": float(v) for k, v in info["bridge"].items()}
    run.log_metrics(metrics)
    run.log_dict({**info, "windows": {k: [str(a), str(b)] for k, (a, b)
                                      in info["windows"].items()}}, "recalibration.json")
    start = as_of - timedelta(days=settings.monitoring.window_days - 1)
    _, recent = window_frame(settings, wh, model, start, as_of, as_of)
    ref = build_reference(model, recent, seed=settings.seed)
    sc = settings.scoring
    ref["score"] = pd_to_score(ref["pd"].to_numpy(), sc.base_score, sc.base_odds, sc.pdo)
    log_reference(run, ref)
    name = settings.training.registered_model_name
    version = register_pd_model(
        run, model, recent, name, alias=None,
        version_tags={"config_hash": settings.config_hash(), "response": RESPONSE,
                      "target": "early", "oot_auc": round(metrics.get("oot_auc", 0.0), 5),
                      "cutoffs": f'{{"approve_at": {cutoffs[0]}, '
                                 f'"decline_below": {cutoffs[1]}}}'},
        policy=scoring_policy(settings, *cutoffs))
    run.finish("FINISHED")
    return version
