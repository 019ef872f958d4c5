"""models.fit_dask: the PD booster trained by xgboost.dask on a two-worker local cluster (in this
process, one thread per worker, the tracker on loopback) keeps the single-process fit's monotone
constraints, early stopping and learning curves, and scores as well."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from distributed import Client, LocalCluster

from features.registry import FeatureSpec
from models import metrics as M
from models.fit import CURVE_SAMPLE, check_monotone, fit_quantised, hpo_search
from models.fit_dask import quantise_dask, tracker_host
from pipelines.core.calendar import plan_windows
from pipelines.core.settings import Settings
from pipelines.training.train import fit_model
from pipelines.training.trainset import TrainingSet

from .conftest import MONOTONE, PARAMS, Book
from .test_fit import _u_shaped

ROUNDS, PATIENCE = 150, 15


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def dask_fit(client: Client, book: Book) -> tuple[xgb.Booster, dict[str, Any]]:
    data = quantise_dask(client, book.X_train, book.y_train, book.X_valid, book.y_valid, seed=0)
    history: dict = {}
    return fit_quantised(data, PARAMS, MONOTONE, ROUNDS, PATIENCE, seed=0,
                         evals_result=history), history


def test_cluster_is_two_workers_and_tracker_on_loopback(client: Client) -> None:
    assert len(client.scheduler_info()["workers"]) == 2
    assert tracker_host(client) == "127.0.0.1"


def test_dask_fit_scores_as_well_as_the_single_process_fit(dask_fit, booster, book) -> None:
    dask_booster, _ = dask_fit
    single = M.auc(book.y_test, booster.inplace_predict(book.X_test))
    dask = M.auc(book.y_test, dask_booster.inplace_predict(book.X_test))
    assert abs(dask - single) < 0.01, (dask, single)
    assert dask_booster.feature_names == booster.feature_names


def test_dask_fit_stops_early_and_keeps_the_best_trees(dask_fit) -> None:
    dask_booster, history = dask_fit
    best = int(dask_booster.attr("best_iteration"))
    valid = history["valid"]["logloss"]
    assert dask_booster.num_boosted_rounds() == best + 1
    assert len(valid) == best + 1 + PATIENCE < ROUNDS  # stopped PATIENCE rounds past the best
    assert int(np.argmin(valid)) == best
    assert float(dask_booster.attr("valid_logloss")) == pytest.approx(valid[best])
    assert len(history[CURVE_SAMPLE]["auc"]) == len(valid)  # the learning curves too


def test_dask_fit_respects_monotone_constraints(client: Client, dask_fit, book) -> None:
    dask_booster, _ = dask_fit
    assert all(check_monotone(dask_booster, book.X_test, MONOTONE, grid=25, sample=300).values())
    # and the constraint is what holds it: a U-shaped effect, free and then constrained
    X, y = _u_shaped(3000, 0)
    Xv, yv = _u_shaped(1000, 1)
    data = quantise_dask(client, X, y, Xv, yv, seed=0)
    free = fit_quantised(data, PARAMS, {}, 60, 10, seed=0)
    bound = fit_quantised(data, PARAMS, {"u": 1}, 60, 10, seed=0)
    assert check_monotone(free, Xv, {"u": 1}) == {"u": False}
    assert check_monotone(bound, Xv, {"u": 1}) == {"u": True}


def test_hpo_trials_run_on_the_cluster_matrices(client: Client, book) -> None:
    data = quantise_dask(client, book.X_train, book.y_train, book.X_valid, book.y_valid, seed=0)
    result = hpo_search(data, PARAMS, MONOTONE, trials=2, timeout_s=60, seed=3,
                        num_boost_round=30, early_stopping_rounds=5)
    assert result["n_trials"] == 2 and 0.6 < result["best_auc"] < 1.0


def _training_set(book: Book) -> TrainingSet:
    specs = [FeatureSpec(name, "category" if name == "vehicle_condition" else "float",
                         MONOTONE.get(name, 0), name, name, (name,),
                         categories=("new", "used") if name == "vehicle_condition" else ())
             for name in book.X_train.columns]
    windows = plan_windows(date(2025, 6, 30), 12, 24, 2, 2, 3, None)
    return TrainingSet(windows=windows, X={"train": book.X_train, "early_stopping": book.X_valid},
                       y={"train": book.y_train, "early_stopping": book.y_valid}, specs=specs)


def test_training_stage_trains_on_the_cluster_from_dask_min_rows(client: Client, book,
                                                                  tmp_path) -> None:
    """training.dask_min_rows picks xgboost.dask on scoring.dask_address (this cluster) for a
    window of that many rows, one process below it; same constraints and stopping either way."""
    ts = _training_set(book)
    rows = len(book.X_train)

    def fit(dask_min_rows: int) -> tuple[xgb.Booster, dict[str, Any]]:
        settings = Settings(home=tmp_path, training={
            "dask_min_rows": dask_min_rows, "n_estimators": ROUNDS,
            "early_stopping_rounds": PATIENCE, **PARAMS},
            scoring={"dask_address": client.scheduler.address})
        return fit_model(settings, ts, hpo_trials=0)

    on_dask, dask_info = fit(rows)
    local, local_info = fit(rows + 1)
    assert (dask_info["trained_on"], local_info["trained_on"]) == ("dask", "local")
    assert set(dask_info["curves"]) == {CURVE_SAMPLE, "valid"}
    for booster in (on_dask, local):
        assert booster.num_boosted_rounds() == int(booster.attr("best_iteration")) + 1
        assert all(check_monotone(booster, book.X_test, MONOTONE).values())
    aucs = [M.auc(book.y_test, b.inplace_predict(book.X_test)) for b in (on_dask, local)]
    assert abs(aucs[0] - aucs[1]) < 0.01, aucs
