"""The recalibration challenger: the champion's booster with its calibrator refitted on the most
recent early-matured vintages, mapped onto the 12-month scale by the bridge (``models.bridge``).

The monitoring policy asks for it when outcomes run worse than the PDs while the ranking holds
(calibration drift). The calibrator must learn from the newest outcomes (after a shock, the
post-shock vintages), and the challenger must never be judged on the rows it was fitted on. So,
as of the newest data date, the window is the ``promotion.oot_months`` latest months whose
early-performance window has matured (the early target's promotion window), and its
applications are split by a keyed hash of the application id (``models.split.IdSplit``,
``training.recalibration_share``):

- calibration part: the calibrator is refitted on its early labels; its probability of an early
  bad is mapped to a 12-month PD by the bridge measured on the latest 12-month matured vintages;
- judged part: the rest, where promotion compares champion and challenger (the split is in the
  version's tags ``split.*``; the audit record's window names the part). The run reports the
  champion's and the challenger's ECE and mean PD there, on the early scale, out of sample;
- the booster and its training and early-stopping windows are the champion's, unchanged.

The run is recorded like a training run (tags ``target=early``, ``response=recalibration``,
windows, the split, the bridge; the champion's OOT and baseline AUC, since the ranking is the
champion's) and the version is registered as ``challenger``. Its drift reference is the trailing
``monitoring.window_days`` of applications it will score, so after a promotion monitoring
compares with today's population.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

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
from models.split import IdSplit
from pipelines.champion import current_champion
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.settings import Settings
from pipelines.scoring.models import model_specs, recorded_cutoffs, scoring_policy
from pipelines.training.early import early_labels, measure_bridge, target_names
from pipelines.training.trainset import TrainingError, data_as_of
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, load_applications, shared_outcomes

RESPONSE = "recalibration"
_SLOPE_TEST = 0.05  # significance at which the slope is refitted besides the level


def recalibration_window(settings: Settings, as_of: date) -> tuple[date, date]:
    """The ``promotion.oot_months`` latest months whose early-performance window has matured."""
    end = latest_matured_month_end(as_of, settings.features.early.months)
    start = (pd.Period(end, freq="M") - (settings.promotion.oot_months - 1)).start_time.date()
    return start, end


def recalibration_split(settings: Settings) -> IdSplit:
    """The calibration / judged split of the window's applications (a key of its own: the
    policy holdout draws with ``settings.seed``)."""
    return IdSplit(settings.seed + 1, settings.training.recalibration_share)


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


def _part_metrics(prefix: str, y: np.ndarray, champion_early: np.ndarray,
                  challenger_early: np.ndarray) -> dict[str, float]:
    """Both models' ECE and mean PD on one part's early labels (PDs on the early scale)."""
    return {f"{prefix}_rows": float(y.size), f"{prefix}_bads": float(y.sum()),
            f"{prefix}_early_bad_rate": float(y.mean()),
            f"{prefix}_ece_before": M.ece(y, champion_early),
            f"{prefix}_ece_after": M.ece(y, challenger_early),
            f"{prefix}_mean_pd_before": float(champion_early.mean()),
            f"{prefix}_mean_pd_after": float(challenger_early.mean())}


def _refit(settings: Settings, calibrator: Calibrator, raw: np.ndarray, y: np.ndarray
           ) -> tuple[Calibrator, dict[str, Any]]:
    """The recalibrated calibrator and how it was fitted. A Platt champion keeps its slope and
    has its level refitted, unless refitting the slope too is worth it on the calibration part
    (likelihood-ratio test, one degree of freedom, at ``_SLOPE_TEST``): a shock that multiplies
    the odds moves the level only, one that adds risk to every loan alike flattens the slope,
    and a few dozen bads cannot pin down two parameters when one is enough. An isotonic
    champion is refitted whole with ``training.calibration``."""
    full = Calibrator(settings.training.calibration).fit(raw, y)
    if calibrator.method != "platt":
        return full, {"calibration_fit": f"{full.method} refit"}
    level = calibrator.refit_level(raw, y)
    if full.method != "platt":
        return level, {"calibration_fit": "level"}
    lr = 2 * y.size * (M.log_loss(y, level.transform(raw)) - M.log_loss(y, full.transform(raw)))
    slope = lr > chi2.ppf(1 - _SLOPE_TEST, 1)
    return (full if slope else level), {"calibration_fit": "level and slope" if slope
                                        else "level", "calibration_slope_lr": float(lr)}


def refit_calibrator(settings: Settings, wh: Warehouse, champion: PDModel, as_of: date
                     ) -> tuple[PDModel, dict[str, Any]]:
    """The champion with its calibrator refitted on the calibration part's early labels and
    bridged to the 12-month scale; and what was measured on the way (both parts)."""
    window, split = recalibration_window(settings, as_of), recalibration_split(settings)
    apps, X = window_frame(settings, wh, champion, *window, as_of)
    y = early_labels(settings, wh, apps, pd.Timestamp(as_of))["bad"].to_numpy()
    labelled, first = ~np.isnan(y), split.first(apps["application_id"])
    cal, judged = labelled & first, labelled & ~first
    if not 0 < y[cal].sum() < cal.sum():
        raise TrainingError(f"the calibration part of {window[0]}..{window[1]} holds "
                            f"{int(cal.sum())} early-labelled loans with {int(np.nansum(y[cal]))} "
                            "early bads: a calibrator needs both")
    bridge, bridge_window = measure_bridge(settings, wh, as_of)
    raw = champion.raw_proba(X)
    fitted, how = _refit(settings, champion.calibrator, raw[cal], y[cal])
    calibrator = replace(fitted, bridge=bridge.ratio)
    model = replace(champion, calibrator=calibrator, name=None, version=None, run_id=None)
    before, after = bridge.to_early(champion.predict_pd(X)), fitted.transform(raw)
    info: dict[str, Any] = {
        "window": window, "split": split.as_dict(), "bridge": bridge.as_dict(),
        "bridge_window": f"{bridge_window[0]}..{bridge_window[1]}",
        **how,
        **_part_metrics("calibration", y[cal], before[cal], after[cal])}
    if 0 < y[judged].sum() < judged.sum():  # out of sample: what promotion will see
        info |= _part_metrics("judged", y[judged], before[judged], after[judged])
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
    window = info["window"]
    return {"version": version, "run_id": run.run_id, "response": RESPONSE,
            "label": target_names(settings)["early"], "window": f"{window[0]}..{window[1]}",
            "split": info["split"],
            **{k: v for k, v in info.items() if k.startswith(("judged_", "calibration_"))}}


def _tags(settings: Settings, champ_tags: dict[str, str], info: dict[str, Any],
          triggered_by: str, as_of: date, champion_version: str) -> dict[str, str]:
    cal = info["window"]
    return {"triggered_by": triggered_by, "target": "early", "response": RESPONSE,
            "recalibrated_from": champion_version,
            "window.train": champ_tags.get("window.train", ""),
            "window.early_stopping": champ_tags.get("window.early_stopping", ""),
            # the calibration part of this window only: promotion judges the other part
            "window.calibration": f"{cal[0]}..{cal[1]}", "window.as_of": as_of.isoformat(),
            **IdSplit.from_dict(info["split"]).tags(),
            "label.calibration": target_names(settings)["early"],
            "calibration.fit": info["calibration_fit"],
            "bridge.window": info["bridge_window"], "config_hash": settings.config_hash()}


def _log(settings: Settings, wh: Warehouse, run: Any, model: PDModel, info: dict[str, Any],
         champ_metrics: dict[str, float], cutoffs: tuple[float, float], as_of: date) -> str:
    # the ranking is the champion's booster's: its OOT and baseline AUC stand for this version
    metrics = {k: float(v) for k, v in champ_metrics.items()
               if k in ("oot_auc", "baseline_oot_auc", "oot_ks")}
    metrics |= {k: float(v) for k, v in info.items()
                if k.startswith(("judged_", "calibration_")) and not isinstance(v, str)}
    metrics |= {f"bridge_{k}": float(v) for k, v in info["bridge"].items()}
    run.log_metrics(metrics)
    run.log_dict({**info, "window": [str(d) for d in info["window"]]}, "recalibration.json")
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
                      "target": "early", **IdSplit.from_dict(info["split"]).tags(),
                      "oot_auc": round(metrics.get("oot_auc", 0.0), 5),
                      "cutoffs": f'{{"approve_at": {cutoffs[0]}, '
                                 f'"decline_below": {cutoffs[1]}}}'},
        policy=scoring_policy(settings, *cutoffs))
    run.finish("FINISHED")
    return version
