"""The PD booster on a Dask cluster (``xgboost.dask``), for a training window too large for one
process: the same ``models.fit`` path (params, monotone constraints, early stopping on the
validation slice, the learning-curve sample, HPO) on matrices quantised on the workers.

``quantise_dask`` returns a ``models.fit.Quantised`` whose matrices live on the cluster; pass it
to ``fit_quantised`` or ``hpo_search`` exactly like the single-process one. The booster that
comes back is an ordinary ``xgboost.Booster``: calibration, evaluation and scoring do not know
where it was trained. Results match the single-process fit closely, not bit for bit: the quantile
cuts are sketched per partition and each worker samples its own rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pandas as pd
import xgboost as xgb

from models.fit import CURVE_SAMPLE_ROWS, Quantised, check_frames, row_sample

LABEL = "__label__"


def _partitioned(client: Any, X: pd.DataFrame, y: Any, partitions: int) -> tuple[Any, Any]:
    """Frame and label as Dask collections with the same divisions, persisted on the workers."""
    import dask.dataframe as dd

    frame = X.reset_index(drop=True).assign(**{LABEL: pd.Series(y).to_numpy()})
    ddf = client.persist(dd.from_pandas(frame, npartitions=max(1, min(partitions, len(frame)))))
    return ddf.drop(columns=[LABEL]), ddf[LABEL]


def quantise_dask(client: Any, X_train: pd.DataFrame, y_train: Any, X_valid: pd.DataFrame,
                  y_valid: Any, max_bin: int = 256, seed: int = 0,
                  curve_rows: int = CURVE_SAMPLE_ROWS, partitions: int | None = None) -> Quantised:
    """``models.fit.quantise`` on the cluster: one partition per worker unless told otherwise;
    the validation set and the curve sample reuse the training cuts (ref=)."""
    from xgboost import dask as dxgb

    check_frames(X_train, X_valid)
    parts = partitions or max(1, len(client.scheduler_info()["workers"]))
    X, y = _partitioned(client, X_train, y_train, parts)
    dtrain = dxgb.DaskQuantileDMatrix(client, X, y, max_bin=max_bin, enable_categorical=True)
    Xv, yv = _partitioned(client, X_valid, y_valid, parts)
    dvalid = dxgb.DaskQuantileDMatrix(client, Xv, yv, ref=dtrain, enable_categorical=True)
    Xc, yc = _partitioned(client, *row_sample(X_train, y_train, curve_rows, seed), parts)
    dcurve = dxgb.DaskQuantileDMatrix(client, Xc, yc, ref=dtrain, enable_categorical=True)
    return Quantised(dtrain, dvalid, dcurve, X_train.iloc[:0], partial(train_dask, client))


def tracker_host(client: Any) -> str:
    """Where XGBoost's collective tracker listens: the scheduler's host (loopback for an
    in-process cluster). Left to itself, XGBoost guesses the machine's outward address, so a
    cluster on loopback would still open a port on the network."""
    from distributed.comm import get_address_host

    address = client.scheduler.address
    return "127.0.0.1" if address.startswith("inproc://") else get_address_host(address)


def train_dask(client: Any, params: dict[str, Any], dtrain: Any, evals: list[tuple[Any, str]],
               num_boost_round: int, early_stopping_rounds: int, history: dict) -> xgb.Booster:
    """``xgboost.dask.train`` with early stopping on the last of ``evals``; fills ``history``.
    ``nthread`` is left out: each worker trains with its own threads."""
    from xgboost import dask as dxgb
    from xgboost.collective import Config

    params = {k: v for k, v in params.items() if k != "nthread"}
    out = dxgb.train(client, params, dtrain, num_boost_round=num_boost_round, evals=evals,
                     early_stopping_rounds=early_stopping_rounds, verbose_eval=False,
                     coll_cfg=Config(tracker_host_ip=tracker_host(client)))
    history.update(out["history"])
    return out["booster"]


@contextmanager
def dask_client(address: str | None, workers: int) -> Iterator[Any]:
    """A client of the cluster at ``address``, or of a local cluster of ``workers`` processes
    (one thread each, listening on loopback only) closed on exit."""
    from distributed import Client, LocalCluster

    if address:
        with Client(address) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
