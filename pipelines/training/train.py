"""Stage: train the PD model. ``train_model`` runs the sequence once, in order — data by time
windows, the features gate, fit, calibrate, evaluate on OOT, log and register as ``challenger`` —
calling each step through a ``step`` wrapper: directly by default, as Prefect tasks (with retries
on the I/O steps) when the ``training`` flow passes its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any, Protocol, TypeVar

import xgboost as xgb

from features import monotone_constraints
from models.calibration import Calibrator
from models.fit import booster_params, fit_quantised, hpo_search, quantise
from models.fit_dask import dask_client, quantise_dask
from models.pd_model import PDModel
from models.registry import TrackedRun
from pipelines.core.settings import Settings
from pipelines.training.evaluate import evaluate
from pipelines.training.rollset import load_roll_training_set, roll_windows
from pipelines.training.track import TrainResult, log_and_register, open_run
from pipelines.training.trainset import (
    TrainingError,
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
              hpo_trials: int | None = None,
              hpo_timeout_s: int | None = None) -> tuple[xgb.Booster, dict[str, Any]]:
    """XGBoost with the registry's monotone constraints, early stopping on its own time slice,
    no rebalancing; an Optuna search first when trials > 0 (each trial a nested MLflow run),
    stopped after ``hpo_timeout_s`` seconds. None: the configured trials and budget. The
    matrices are quantised once for the trials and the fit; on a Dask cluster when the training
    window holds ``training.dask_min_rows`` rows or more (``models.fit_dask``)."""
    t = settings.training
    if t.dask_min_rows is None or len(ts.X["train"]) < t.dask_min_rows:
        return _fit(settings, ts, None, run, hpo_trials, hpo_timeout_s)
    with dask_client(settings.scoring.dask_address, settings.scoring.dask_workers) as client:
        return _fit(settings, ts, client, run, hpo_trials, hpo_timeout_s)


def _fit(settings: Settings, ts: TrainingSet, client: Any, run: TrackedRun | None,
         hpo_trials: int | None, hpo_timeout_s: int | None) -> tuple[xgb.Booster, dict[str, Any]]:
    t = settings.training
    params = configured_params(settings)
    monotone = monotone_constraints(ts.specs)
    trials = t.hpo_trials if hpo_trials is None else hpo_trials
    timeout_s = t.hpo_timeout_s if hpo_timeout_s is None else hpo_timeout_s
    frames = (ts.X["train"], ts.y["train"], ts.X["early_stopping"], ts.y["early_stopping"])
    booster_params(ts.X["train"], params, monotone, settings.seed)  # refused before binning
    data = (quantise(*frames, seed=settings.seed) if client is None
            else quantise_dask(client, *frames, seed=settings.seed))
    hpo: dict[str, Any] = {}
    if trials > 0:
        on_trial = None
        if run is not None:
            def on_trial(number: int, sampled: dict, auc: float) -> None:
                run.log_trial(number, sampled, {"valid_auc": auc})
        hpo = hpo_search(data, params, monotone, trials, timeout_s, settings.seed, on_trial,
                         t.n_estimators, t.early_stopping_rounds)
        params = hpo["best_params"]
    curves: dict = {}
    booster = fit_quantised(data, params, monotone, t.n_estimators, t.early_stopping_rounds,
                            settings.seed, curves)
    return booster, {"params": params, "hpo": {k: v for k, v in hpo.items() if k != "trials"},
                     "curves": curves, "trained_on": "dask" if client is not None else "local"}


def calibrate(settings: Settings, booster: xgb.Booster, ts: TrainingSet) -> PDModel:
    """Fit the calibrator on the calibration slice (after early stopping, before OOT)."""
    specs = {s.name: s for s in ts.specs}
    raw = booster.inplace_predict(ts.X["calibration"])
    calibrator = Calibrator(settings.training.calibration).fit(raw, ts.y["calibration"])
    if ts.target == "early":  # an early-bad probability, mapped onto the 12-month scale
        if "error" in ts.bridge:
            raise TrainingError(f"an early-target model needs the bridge to the 12-month "
                                f"label: {ts.bridge['error']}")
        calibrator = replace(calibrator, bridge=ts.bridge["ratio"])
    return PDModel.from_training(booster, calibrator, ts.X["train"],
                                 monotone_constraints(ts.specs),
                                 {n: s.reason for n, s in specs.items()})


F = TypeVar("F", bound=Callable[..., Any])


class StepWrapper(Protocol):
    """Wraps one step of the sequence before it is called; ``io``: the step reads the warehouse
    or writes the registry, whose failures can be transient (an orchestrator may retry it)."""

    def __call__(self, fn: F, *, io: bool = False) -> F: ...


def call_directly(fn: F, *, io: bool = False) -> F:
    """The default step wrapper: no wrapping."""
    return fn


def load_data(settings: Settings, wh: Warehouse, train_end: date | None = None,
              oot_months: int | None = None, target: str = "main") -> TrainingSet:
    """The time windows as of the newest business date, and every window's rows; for the
    roll-forward model (``target="roll"``) its loan-month rows (``pipelines.training.rollset``)."""
    if target == "roll":
        return load_roll_training_set(settings, wh, roll_windows(settings, wh, train_end,
                                                                 oot_months))
    return load_training_set(settings, wh, windows_for(settings, wh, train_end, oot_months,
                                                       target=target), target)


def train_model(settings: Settings, wh: Warehouse, *, train_end: date | None = None,
                oot_months: int | None = None, hpo_trials: int | None = None,
                hpo_timeout_s: int | None = None, triggered_by: str = "manual",
                step: StepWrapper = call_directly, target: str = "main") -> TrainResult:
    """One complete, tracked training run; the new version gets the ``challenger`` alias. The
    run is opened after the data passed its gate and ends FAILED if any later step raises.
    ``target="early"``: trained on the early-performance target, its windows ending at the
    latest early-matured month, its calibrator bridged to the 12-month scale. ``target="epd"``:
    the early-payment-default model (run it on ``family_settings(settings, "epd")``: its own
    registered name and experiment), its calibrated output the EPD probability itself.
    ``target="roll"``: the collections roll-forward model (family "roll"), on loan-month rows."""
    ts = step(validate_training_set)(
        settings, step(load_data, io=True)(settings, wh, train_end, oot_months, target))
    run = open_run(settings, triggered_by, ts.windows, target)
    try:
        booster, fit_info = step(fit_model)(settings, ts, run, hpo_trials, hpo_timeout_s)
        model = step(calibrate)(settings, booster, ts)
        ev = step(evaluate)(settings, model, ts)
        result = step(log_and_register, io=True)(settings, run, ts, model, ev, fit_info,
                                                 triggered_by)
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")
    return result
