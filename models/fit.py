"""Fitting the XGBoost PD booster: monotone constraints, early stopping on a time slice, learning
curves from a fixed sample of training rows, optional Optuna search (its trials and the final fit
share one set of quantised matrices, ``quantise``; ``models.fit_dask`` builds them on a Dask
cluster instead), and ``check_monotone``, which sweeps a fitted booster along each constrained
feature to confirm it respects the declared direction (the training stage runs it on every model
it evaluates and records the violations).

Monotone directions: +1 means the risk (margin, PD) may only rise as the feature rises, -1 only
fall, 0 unconstrained. Features of X not named in ``monotone`` are unconstrained; a name in
``monotone`` that is not a column of X is an error (a registry/frame mismatch, not a typo to skip).

No class rebalancing (no scale_pos_weight, no resampling): it would bias the raw probability that
the calibrator starts from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

# Early stopping watches the LAST eval metric: log loss is smoother than AUC on a small slice and,
# being a proper score, also stops the trees from over-sharpening probabilities.
EVAL_METRICS = ["auc", "logloss"]
FORCED_PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "eval_metric": EVAL_METRICS}
REBALANCING_PARAMS = ("scale_pos_weight",)
# XGBoost accepts both spellings; keep one so a search never sets eta AND learning_rate.
_ALIASES = {"eta": "learning_rate", "lambda": "reg_lambda", "alpha": "reg_alpha"}


class FitError(ValueError):
    """The booster cannot be fitted as asked; the message names the feature or parameter."""


def monotone_tuple(columns: list[str], monotone: Mapping[str, int],
                   categorical: set[str] | None = None) -> tuple[int, ...]:
    """Constraint vector in column order; rejects unknown names, bad values and constrained
    categoricals."""
    unknown = sorted(set(monotone) - set(columns))
    if unknown:
        raise FitError(f"monotone constraints name features not in X: {unknown}")
    bad = {k: v for k, v in monotone.items() if v not in (-1, 0, 1)}
    if bad:
        raise FitError(f"monotone directions must be -1, 0 or 1: {bad}")
    cat = sorted(c for c in (categorical or set()) if monotone.get(c, 0) != 0)
    if cat:
        raise FitError(f"categorical features cannot carry a monotone constraint: {cat}")
    return tuple(int(monotone.get(c, 0)) for c in columns)


def categorical_columns(X: pd.DataFrame) -> set[str]:
    return {c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)}


def check_frames(X_train: pd.DataFrame, X_valid: pd.DataFrame) -> None:
    if list(X_train.columns) != list(X_valid.columns):
        raise FitError("train and validation frames must have the same columns in the same order")
    if len(X_train) == 0 or len(X_valid) == 0:
        raise FitError(f"empty frame: {len(X_train)} train rows, {len(X_valid)} validation rows")


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """eta/lambda/alpha renamed to learning_rate/reg_lambda/reg_alpha."""
    return {_ALIASES.get(k, k): v for k, v in params.items()}


def booster_params(X: pd.DataFrame, params: Mapping[str, Any], monotone: Mapping[str, int],
                   seed: int) -> dict[str, Any]:
    rebal = [k for k in REBALANCING_PARAMS if k in params]
    if rebal:
        raise FitError(f"class rebalancing breaks calibration; remove {rebal}")
    out = {**canonical_params(params), **FORCED_PARAMS, "seed": seed}
    cons = monotone_tuple(list(X.columns), monotone, categorical_columns(X))
    out["monotone_constraints"] = "(" + ",".join(str(v) for v in cons) + ")"
    return out


# Learning curves: the metrics of a fixed, seeded sample of the training rows, every round.
# Scoring the whole training matrix every round cost as much as a second fit at 1M rows; the
# sample's AUC/log loss trace the same curve for a few percent of the time.
CURVE_SAMPLE_ROWS = 10_000
CURVE_SAMPLE = "train_sample"  # eval name of that sample; "valid" (early stopping) stays last


@dataclass(frozen=True)
class Quantised:
    """The quantised matrices of one training set, built once and shared by every HPO trial and
    the final fit. ``trainer`` is set when they live on a Dask cluster (models.fit_dask): it
    trains there as ``xgb.train`` would (params, train matrix, evals, rounds, patience, history)."""

    train: Any
    valid: Any
    curve: Any
    schema: pd.DataFrame  # zero rows: the training frame's columns and dtypes
    trainer: Callable[..., xgb.Booster] | None = None


def row_sample(X: pd.DataFrame, y: Any, rows: int,
               seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A fixed, seeded sample of ``rows`` rows in their original order (all of them when fewer):
    the learning curves' sample, the baseline's training rows."""
    y = np.asarray(y)
    if len(X) <= rows:
        return X, y
    pick = np.sort(np.random.default_rng(seed).choice(len(X), rows, replace=False))
    return X.iloc[pick], y[pick]


def quantise(X_train: pd.DataFrame, y_train: Any, X_valid: pd.DataFrame, y_valid: Any,
             max_bin: int = 256, seed: int = 0,
             curve_rows: int = CURVE_SAMPLE_ROWS) -> Quantised:
    """QuantileDMatrix of each set: hist needs only the quantised matrix; the validation set and
    the curve sample reuse the training cuts (ref=) so all are binned alike."""
    check_frames(X_train, X_valid)
    dtrain = xgb.QuantileDMatrix(X_train, label=np.asarray(y_train), enable_categorical=True,
                                 max_bin=max_bin)
    dvalid = xgb.QuantileDMatrix(X_valid, label=np.asarray(y_valid), enable_categorical=True,
                                 ref=dtrain)
    X_curve, y_curve = row_sample(X_train, y_train, curve_rows, seed)
    dcurve = dtrain if len(X_curve) == len(X_train) else xgb.QuantileDMatrix(
        X_curve, label=y_curve, enable_categorical=True, ref=dtrain)
    return Quantised(dtrain, dvalid, dcurve, X_train.iloc[:0])


def _boost(data: Quantised, params: dict[str, Any], num_boost_round: int,
           early_stopping_rounds: int, history: dict, curves: bool) -> xgb.Booster:
    # Early stopping watches the last set, "valid"; the curve sample only records, so it is
    # scored only for a caller that keeps the curves (an HPO trial keeps none).
    evals = [(data.curve, CURVE_SAMPLE)] if curves else []
    evals.append((data.valid, "valid"))
    if data.trainer is not None:
        return data.trainer(params, data.train, evals, num_boost_round, early_stopping_rounds,
                            history)
    return xgb.train(params, data.train, num_boost_round=num_boost_round, evals=evals,
                     early_stopping_rounds=early_stopping_rounds, evals_result=history,
                     verbose_eval=False)


def _train(data: Quantised, params: dict[str, Any], num_boost_round: int,
           early_stopping_rounds: int, evals_result: dict | None) -> xgb.Booster:
    history: dict = {} if evals_result is None else evals_result
    booster = _boost(data, params, num_boost_round, early_stopping_rounds, history,
                     curves=evals_result is not None)
    best = int(booster.best_iteration)
    best_auc = float(history["valid"]["auc"][best])
    best_logloss = float(history["valid"]["logloss"][best])
    # Keep only the trees up to the best iteration, so every later use (inplace_predict,
    # pred_contribs, the logged model) predicts with the same trees without iteration_range.
    booster = booster[: best + 1]
    booster.set_attr(best_iteration=str(best), valid_auc=repr(best_auc),
                     valid_logloss=repr(best_logloss))
    return booster


def fit_quantised(data: Quantised, params: Mapping[str, Any], monotone: Mapping[str, int],
                  num_boost_round: int, early_stopping_rounds: int, seed: int,
                  evals_result: dict | None = None) -> xgb.Booster:
    """``fit_booster`` on matrices already built (by ``quantise`` or ``fit_dask.quantise_dask``)."""
    full = booster_params(data.schema, params, monotone, seed)
    return _train(data, full, num_boost_round, early_stopping_rounds, evals_result)


def fit_booster(
    X_train: pd.DataFrame,
    y_train: Any,
    X_valid: pd.DataFrame,
    y_valid: Any,
    params: Mapping[str, Any],
    monotone: Mapping[str, int],
    num_boost_round: int,
    early_stopping_rounds: int,
    seed: int,
    evals_result: dict | None = None,
) -> xgb.Booster:
    """Train with early stopping on (X_valid, y_valid); the returned booster holds only the trees
    up to the best iteration, with attributes best_iteration, valid_auc and valid_logloss.
    ``evals_result``, if given, is filled with the per-round metrics of the curve sample
    (``train_sample``) and the validation set (``valid``): the learning curves. Without it the
    curve sample is not scored at all (the trees are the same either way)."""
    full = booster_params(X_train, params, monotone, seed)  # refuses bad params before binning
    data = quantise(X_train, y_train, X_valid, y_valid, int(full.get("max_bin", 256)), seed)
    return fit_quantised(data, params, monotone, num_boost_round, early_stopping_rounds, seed,
                         evals_result)


def _suggest(trial: Any) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 7),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 100.0, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 0.1, 50.0, log=True),
    }


def hpo_search(
    data: Quantised,
    base_params: Mapping[str, Any],
    monotone: Mapping[str, int],
    trials: int,
    timeout_s: float,
    seed: int,
    on_trial: Callable[[int, dict, float], None] | None = None,
    num_boost_round: int = 600,
    early_stopping_rounds: int = 40,
) -> dict[str, Any]:
    """Seeded TPE search over depth, learning rate, min_child_weight, subsample, colsample and
    lambda, maximising AUC on the validation (early-stopping) slice; the OOT window is never seen.
    Every trial trains on the same quantised matrices (``quantise``), which the final fit reuses;
    a trial scores only the validation slice each round (no learning curves are kept of it).

    Stops after ``trials`` trials or ``timeout_s`` seconds, whichever first. ``on_trial(number,
    params, valid_auc)`` is called after each trial (e.g. to log a nested MLflow run). Returns
    best_params (base_params updated with the winner), best_auc, best_trial, n_trials, trials.
    """
    import optuna

    if trials < 1:
        raise FitError(f"hpo trials must be >= 1, got {trials}")
    booster_params(data.schema, base_params, monotone, seed)  # refuse bad params before trial 0
    records: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        sampled = _suggest(trial)
        booster = fit_quantised(data, {**base_params, **sampled}, monotone, num_boost_round,
                                early_stopping_rounds, seed)
        value = float(booster.attr("valid_auc"))
        records.append({"number": trial.number, "params": sampled, "valid_auc": value,
                        "best_iteration": int(booster.attr("best_iteration"))})
        if on_trial is not None:
            on_trial(trial.number, dict(sampled), value)
        return value

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=trials, timeout=timeout_s)
    finally:
        optuna.logging.set_verbosity(previous)
    return {
        "best_params": {**canonical_params(base_params), **study.best_params},
        "best_auc": float(study.best_value),
        "best_trial": int(study.best_trial.number),
        "n_trials": len(records),
        "trials": records,
    }


def _grid(values: pd.Series, grid: int) -> np.ndarray:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return np.array([], dtype=float)
    return np.unique(np.quantile(finite, np.linspace(0.0, 1.0, grid)))


def check_monotone(booster: xgb.Booster, X: pd.DataFrame, monotone: Mapping[str, int],
                   grid: int = 20, sample: int = 200, seed: int = 0,
                   tol: float = 1e-6) -> dict[str, bool]:
    """For each constrained feature: on a sample of rows, sweep the feature over a quantile grid
    of its observed values (others fixed) and check the margin never moves against the declared
    direction (by more than ``tol``, float32 noise). Unconstrained features are not reported."""
    rows = X.sample(n=min(sample, len(X)), random_state=seed) if len(X) > sample else X
    out: dict[str, bool] = {}
    for feature, direction in monotone.items():
        if direction == 0:
            continue
        if feature not in X.columns:
            raise FitError(f"monotone feature {feature!r} is not a column of X")
        points = _grid(X[feature], grid)
        if points.size < 2:
            out[feature] = True  # a constant feature cannot move the margin
            continue
        swept = rows.loc[rows.index.repeat(points.size)].reset_index(drop=True)
        swept[feature] = np.tile(points, len(rows)).astype(X[feature].dtype)
        margin = booster.inplace_predict(swept, predict_type="margin").reshape(len(rows),
                                                                               points.size)
        steps = np.diff(margin, axis=1) * direction
        out[feature] = bool(np.all(steps >= -tol))
    return out
