"""Stage: train the PD model. ``train_model`` runs the steps in order — data by time windows,
fit, calibrate, evaluate on OOT, log and register as ``challenger`` — and the Prefect
``training`` flow calls the same steps as tasks.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import xgboost as xgb

from features import monotone_constraints
from models.calibration import Calibrator
from models.fit import fit_booster, hpo_search
from models.pd_model import PDModel
from models.registry import TrackedRun
from pipelines.core.settings import Settings
from pipelines.training.evaluate import evaluate
from pipelines.training.track import TrainResult, log_and_register, open_run
from pipelines.training.trainset import (
    TrainingSet,
    load_training_set,
    validate_training_set,
    windows_for,
)
from pipelines.warehouse.engine import Warehouse


def configured_params(settings: Settings) -> dict[str, Any]:
    t = settings.training
    return {"max_depth": t.max_depth, "learning_rate": t.learning_rate,
            "min_child_weight": t.min_child_weight, "subsample": t.subsample,
            "colsample_bytree": t.colsample_bytree, "reg_lambda": t.reg_lambda,
            "nthread": t.nthread}


def fit_model(settings: Settings, ts: TrainingSet, run: TrackedRun | None = None,
              hpo_trials: int | None = None) -> tuple[xgb.Booster, dict[str, Any]]:
    """XGBoost with the registry's monotone constraints, early stopping on its own time slice,
    no rebalancing; an Optuna search first when trials > 0 (each trial a nested MLflow run)."""
    t = settings.training
    params = configured_params(settings)
    monotone = monotone_constraints(ts.specs)
    trials = t.hpo_trials if hpo_trials is None else hpo_trials
    hpo: dict[str, Any] = {}
    if trials > 0:
        on_trial = None
        if run is not None:
            def on_trial(number: int, sampled: dict, auc: float) -> None:
                run.log_trial(number, sampled, {"valid_auc": auc})
        hpo = hpo_search(ts.X["train"], ts.y["train"], ts.X["early_stopping"],
                         ts.y["early_stopping"], params, monotone, trials, t.hpo_timeout_s,
                         settings.seed, on_trial, t.n_estimators, t.early_stopping_rounds)
        params = hpo["best_params"]
    booster = fit_booster(ts.X["train"], ts.y["train"], ts.X["early_stopping"],
                          ts.y["early_stopping"], params, monotone, t.n_estimators,
                          t.early_stopping_rounds, settings.seed)
    return booster, {"params": params, "hpo": {k: v for k, v in hpo.items() if k != "trials"}}


def calibrate(settings: Settings, booster: xgb.Booster, ts: TrainingSet) -> PDModel:
    """Fit the calibrator on the calibration slice (after early stopping, before OOT)."""
    specs = {s.name: s for s in ts.specs}
    raw = booster.inplace_predict(ts.X["calibration"])
    calibrator = Calibrator(settings.training.calibration).fit(raw, ts.y["calibration"])
    return PDModel.from_training(booster, calibrator, ts.X["train"],
                                 monotone_constraints(ts.specs),
                                 {n: s.reason for n, s in specs.items()})


def train_model(settings: Settings, wh: Warehouse, *, train_end: date | None = None,
                oot_months: int | None = None, hpo_trials: int | None = None,
                triggered_by: str = "manual") -> TrainResult:
    """One complete, tracked training run; the new version gets the ``challenger`` alias."""
    windows = windows_for(settings, wh, train_end, oot_months)
    ts = validate_training_set(settings, load_training_set(settings, wh, windows))
    run = open_run(settings, triggered_by, windows)
    try:
        booster, fit_info = fit_model(settings, ts, run, hpo_trials)
        model = calibrate(settings, booster, ts)
        ev = evaluate(settings, model, ts)
        result = log_and_register(settings, run, ts, model, ev, fit_info, triggered_by)
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")
    return result
