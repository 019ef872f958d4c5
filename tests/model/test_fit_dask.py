"""models.fit_dask: the PD booster trained by xgboost.dask on a two-worker local cluster (in this
process, one thread per worker, the tracker on loopback) keeps the single-process fit's monotone
constraints, early stopping and learning curves, and scores as well."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from distributed import Client, LocalCluster

from models import metrics as M
from models.fit import CURVE_SAMPLE, check_monotone, fit_quantised, hpo_search
from models.fit_dask import quantise_dask, tracker_host

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
