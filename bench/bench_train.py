"""Time our training flow against bare ``xgboost.train`` on the same training matrix, in one run.

    .venv/bin/python bench/bench_train.py [--rows 1000000] [--repeats 2] [--dask-workers 2]

Issue 23's target: the training flow within 1.3x of the bare fit at 1M training rows.

Setup (not timed): a simulated book, its loan outcomes computed in pandas, features and matured
labels, split into the four time windows as ``pipelines.training.trainset.load_training_set``
does (the warehouse read and the feature build have their own benches). Applications are
simulated from 2021-01 to the end of the OOT window only: later ones are in no window and,
features being point in time, cannot change the features of earlier ones; the tape still runs to
``as_of`` for the labels. The book size is chosen so the train window holds about ``--rows``
labelled (booked, matured) rows.

A (bare): ``xgb.QuantileDMatrix`` for the train and early-stopping slices plus ``xgb.train`` with
the identical params (``models.fit.booster_params``: same depth, rate, monotone constraints, seed,
threads), the same rounds and early-stopping patience, watching only the early-stopping slice.

B (ours): in a temporary CREDITFLOW home, the steps of ``pipelines.training.train.train_model``
after the load: ``validate_training_set`` (features gate with Data Docs), ``fit_model``
(learning curves on a 20,000-row sample included), ``calibrate``, ``evaluate``, ``open_run`` +
``log_and_register`` (MLflow SQLite store, model registry). Module imports and the MLflow store's
first-time schema migration are one-off process costs, paid before timing and printed apart.

A and B alternate ``--repeats`` times (A B A B ...): the box is shared, and a neighbour's burst
lands on one run, not on one side. The ratio is printed on the fastest run of each side (the one
least disturbed) and on the means. The first B also pays MLflow's one-off scan of the installed
packages when it logs the first model (a few seconds; later runs in the same process do not).

``--dask-workers N`` (0: skip): the same fit (``fit_model`` with ``training.dask_min_rows`` = 0)
on ``xgboost.dask`` over a local cluster of N single-threaded worker processes on loopback, its
start-up timed apart, against the single-process ``fit_model`` and A.
"""

from __future__ import annotations

import argparse
import math
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xgboost as xgb

from features import (
    build_features,
    feature_specs,
    label_applications,
    maturity_summary,
    monotone_constraints,
)
from features.coverage import features_with_data
from features.registry import FeatureSpec
from models import fit as model_fit
from models.fit_dask import dask_client
from models.registry import ensure_experiment
from pipelines.core.calendar import Windows, plan_windows, window_of
from pipelines.core.home import configure_environment
from pipelines.core.settings import Settings
from pipelines.simulation.simulate import simulate_book
from pipelines.training import train as flow
from pipelines.training.evaluate import evaluate
from pipelines.training.track import log_and_register, open_run
from pipelines.training.trainset import WINDOW_NAMES, TrainingSet, validate_training_set
from pipelines.warehouse.history import feature_config, infer_extra_features, outcomes_from_frames

START, AS_OF = date(2021, 1, 1), date(2025, 6, 30)
# Labelled train-window rows per simulated application (2021-01..OOT end, 24-month train window,
# ~78% booked, all matured): measured on the simulator, only used to size the book.
LABELLED_TRAIN_SHARE = 0.44
T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def plan(settings: Settings) -> Windows:
    t = settings.training
    return plan_windows(AS_OF, settings.features.performance_window_months, t.train_months,
                        t.early_stopping_months, t.calibration_months, t.oot_months,
                        t.train_end)


def build_training_set(settings: Settings, rows: int, seed: int) -> TrainingSet:
    """``load_training_set`` on in-memory frames instead of the warehouse."""
    windows = plan(settings)
    n_apps = math.ceil(rows / LABELLED_TRAIN_SHARE)
    book = simulate_book(n_apps, START, windows.oot[1], seed=seed, tape_end=AS_OF,
                         default_rate=settings.simulate.default_rate,
                         n_dealers=settings.simulate.n_dealers)
    config = feature_config(settings)
    history = outcomes_from_frames(book.loans, book.repayments, AS_OF, config)
    del book.repayments
    apps = book.applications
    days = pd.to_datetime(apps["business_date"])
    apps = apps[(days >= pd.Timestamp(windows.train[0]))
                & (days <= pd.Timestamp(windows.oot[1]))].reset_index(drop=True)
    as_of = pd.Timestamp(AS_OF)
    labels = label_applications(apps, history, as_of, settings.features.performance_window_months)
    which = window_of(apps["business_date"], windows).to_numpy()
    numeric, categorical = infer_extra_features(apps[which == "train"])
    specs = feature_specs(numeric, categorical, settings.features.allowed_policy_outputs)
    X_all = build_features(apps, history, as_of, config, specs)
    specs, dropped = features_with_data(X_all[which == "train"], specs,
                                        settings.training.min_feature_coverage)
    X_all = X_all[[sp.name for sp in specs]]
    return _split(windows, X_all, labels, which, specs, dropped)


def _split(windows: Windows, X_all: pd.DataFrame, labels: pd.DataFrame, which: np.ndarray,
           specs: list[FeatureSpec], dropped: dict[str, str]) -> TrainingSet:
    bad = labels["bad"].to_numpy()
    booked, mature = labels["booked"].to_numpy(), labels["mature"].to_numpy()
    ts = TrainingSet(windows=windows, X={}, y={}, specs=specs,
                     population=X_all[which == "train"], maturity=maturity_summary(labels),
                     dropped=dropped,
                     # the early target's bridge is measured on the warehouse, which has none
                     bridge={"error": "not measured by the bench (no warehouse)"})
    for name in WINDOW_NAMES:
        in_window = which == name
        keep = in_window & ~np.isnan(bad)
        ts.X[name], ts.y[name] = X_all[keep], bad[keep].astype(np.int8)
        ts.applications[name] = X_all[in_window]
        ts.counts[name] = {"applications": int(in_window.sum()), "rows": int(keep.sum()),
                           "bads": int(bad[keep].sum()),
                           "immature": int((in_window & booked & ~mature).sum()),
                           "not_booked": int((in_window & ~booked).sum())}
    return ts


def bare_fit(settings: Settings, ts: TrainingSet) -> tuple[xgb.Booster, float]:
    """What a data scientist would write: same params, same slices, nothing else."""
    t = settings.training
    t0 = time.perf_counter()
    params = model_fit.booster_params(ts.X["train"], flow.configured_params(settings),
                                      monotone_constraints(ts.specs), settings.seed)
    dtrain = xgb.QuantileDMatrix(ts.X["train"], label=ts.y["train"], enable_categorical=True,
                                 max_bin=int(params.get("max_bin", 256)))
    dvalid = xgb.QuantileDMatrix(ts.X["early_stopping"], label=ts.y["early_stopping"],
                                 enable_categorical=True, ref=dtrain)
    booster = xgb.train(params, dtrain, num_boost_round=t.n_estimators,
                        evals=[(dvalid, "valid")], early_stopping_rounds=t.early_stopping_rounds,
                        verbose_eval=False)
    return booster, time.perf_counter() - t0


def warm_up(settings: Settings) -> float:
    """One-off costs a long-lived process pays once: GX import, MLflow store migration."""
    t0 = time.perf_counter()
    import pipelines.validation.gate  # noqa: F401  (validate_training_set imports it lazily)

    ensure_experiment(settings.tracking_uri, settings.training.experiment_name,
                      settings.artifact_root)
    return time.perf_counter() - t0


def our_flow(settings: Settings, ts: TrainingSet) -> tuple[dict[str, float], Any]:
    """The steps of train_model after the load, each timed."""
    steps: dict[str, float] = {}
    ts, steps["validate_training_set"] = timed(lambda: validate_training_set(settings, ts))
    (booster, fit_info), steps["fit_model"] = timed(lambda: flow.fit_model(settings, ts, None, 0))
    model, steps["calibrate"] = timed(lambda: flow.calibrate(settings, booster, ts))
    ev, steps["evaluate"] = timed(lambda: evaluate(settings, model, ts))
    t0 = time.perf_counter()
    run = open_run(settings, "bench", ts.windows)
    try:
        result = log_and_register(settings, run, ts, model, ev, fit_info, "bench")
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")
    steps["open_run + log_and_register"] = time.perf_counter() - t0
    return steps, result


def dask_fit(settings: Settings, ts: TrainingSet, workers: int) -> tuple[float, float, int]:
    """(cluster start, fit_model on it, trees kept): the same fit on xgboost.dask."""
    dask_settings = settings.model_copy(update={
        "training": settings.training.model_copy(update={"dask_min_rows": 0})})
    t0 = time.perf_counter()
    with dask_client(None, workers) as client:
        start = time.perf_counter() - t0
        # fit_model opens its own client of the configured cluster: point it at this one
        dask_settings = dask_settings.model_copy(update={"scoring": settings.scoring.model_copy(
            update={"dask_address": client.scheduler.address})})
        (booster, info), sec = timed(lambda: flow.fit_model(dask_settings, ts, None, 0))
    assert info["trained_on"] == "dask"
    return start, sec, booster.num_boosted_rounds()


def report(runs: list[dict[str, float]], bare: list[float], rounds: tuple[int, int]) -> None:
    a_min, a_mean = min(bare), statistics.mean(bare)
    totals = [sum(r.values()) for r in runs]
    print(f"\nA  bare xgboost.train (DMatrix build included), {rounds[0]} rounds: "
          f"{', '.join(f'{b:.2f}' for b in bare)} s")
    print(f"B  our flow, fit_model kept {rounds[1]} trees; runs: "
          f"{', '.join(f'{t:.2f}' for t in totals)} s")
    print(f"   {'step (fastest run of B)':<30}{'seconds':>9}{'/ A min':>9}")
    fastest = runs[totals.index(min(totals))]
    for name, sec in fastest.items():
        print(f"   {name:<30}{sec:>9.2f}{sec / a_min:>9.2f}")
    fits = [r["fit_model"] for r in runs]
    print(f"\n{'ratio':<34}{'fastest':>9}{'means':>9}   target")
    print(f"{'training flow / bare xgboost.train':<34}{min(totals) / a_min:>8.2f}x"
          f"{statistics.mean(totals) / a_mean:>8.2f}x   <= 1.3x")
    print(f"{'fit_model / bare xgboost.train':<34}{min(fits) / a_min:>8.2f}x"
          f"{statistics.mean(fits) / a_mean:>8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="labelled rows wanted in the train window (approximate)")
    parser.add_argument("--repeats", type=int, default=2, help="A/B pairs, alternating")
    parser.add_argument("--dask-workers", type=int, default=2, help="0: no Dask fit")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--nthread", type=int, default=None,
                        help="XGBoost threads on both sides (default: training.nthread); 1 on "
                             "a box shared with other work: two OpenMP threads on two busy "
                             "cores wait on each other and a fit's time swings several-fold")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        # a throwaway home: its own salt (every gate refuses the shipped one)
        settings = Settings(home=Path(tmp), seed=args.seed,
                            security={"id_salt": secrets.token_hex(16)},
                            training={} if args.nthread is None else {"nthread": args.nthread})
        configure_environment(settings)
        ts, t_setup = timed(lambda: build_training_set(settings, args.rows, args.seed))
        print(f"setup (not timed, {t_setup:.1f} s): {len(ts.X['train'].columns)} features; rows "
              + ", ".join(f"{w} {n:,}" for w, n in ts.rows().items()))
        print(f"one-off imports + MLflow store migration (not timed): {warm_up(settings):.1f} s;"
              f" XGBoost threads: {settings.training.nthread}")
        bare: list[float] = []
        runs: list[dict[str, float]] = []
        for _ in range(args.repeats):
            booster, sec = bare_fit(settings, ts)
            bare.append(sec)
            steps, result = our_flow(settings, ts)
            runs.append(steps)
        kept = int(result.metrics["best_iteration"]) + 1
        print(f"registered {result.model_name} v{result.version}, "
              f"OOT AUC {result.metrics['oot_auc']:.4f}")
        report(runs, bare, (booster.best_iteration + 1, kept))
        if args.dask_workers > 0:
            start, sec, trees = dask_fit(settings, ts, args.dask_workers)
            local = min(r["fit_model"] for r in runs)
            print(f"\nxgboost.dask, {args.dask_workers} workers x 1 thread (local cluster, "
                  f"start-up {start:.1f} s apart): fit_model {sec:.2f} s, {trees} trees = "
                  f"{sec / local:.2f}x the single-process fit_model, {sec / min(bare):.2f}x A")


if __name__ == "__main__":
    main()
