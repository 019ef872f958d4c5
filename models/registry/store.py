"""The MLflow store underneath the registry: an explicit client, the registry's errors, the
guard for MLflow's global URI, how keys and values are cleaned before they are logged, and the
SQLite file of a local store.

Every function of the package takes the tracking URI explicitly (the registry lives in the same
store); nothing relies on MLFLOW_TRACKING_URI. MLflow's model-logging and download code reads its
global URI, so those steps set it for the duration of the call and restore it afterwards
(``_global_uri``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from models.redaction import redact

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
_PARAM_MAX = 6000
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")
_GLOBAL_URI_LOCK = threading.Lock()
_PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; the message names the model, version or alias."""


class AliasConflictError(RegistryError):
    """The champion changed between the caller's decision and the alias move."""


@functools.lru_cache(maxsize=32)
def client_for(tracking_uri: str) -> MlflowClient:
    """One client per URI and process: building one took 4 ms and a demo built 1,785. MLflow
    itself keeps one store per URI, so a shared client sees nothing a new one would not."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextmanager
def _global_uri(tracking_uri: str) -> Iterator[None]:
    """MLflow's log_model/download paths read the global URI: set it, then restore it."""
    from mlflow.tracking._model_registry import utils as reg_utils
    from mlflow.tracking._tracking_service import utils as trk_utils

    with _GLOBAL_URI_LOCK:
        prev_t = getattr(trk_utils, "_tracking_uri", None)
        prev_r = getattr(reg_utils, "_registry_uri", None)
        # set_tracking_uri also writes MLFLOW_TRACKING_URI into os.environ: put that back too.
        # Downloads of a few small files need no progress bar on the user's terminal.
        prev_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
                                                   _PROGRESS_ENV)}
        os.environ[_PROGRESS_ENV] = "false"
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(prev_t)
            reg_utils._registry_uri = prev_r
            for key, value in prev_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _clean_key(key: str) -> str:
    return _BAD_KEY_CHARS.sub("_", str(key))


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return redact(text)[:_PARAM_MAX]


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def sqlite_file(tracking_uri: str) -> Path | None:
    """The database file of a local SQLite store, else None."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return Path(tracking_uri[len(prefix):].split("?", 1)[0])


@contextmanager
def immediate_transaction(db: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction on a SQLite file, taken at once (BEGIN IMMEDIATE): other writers
    wait for it (up to 30 s) and nobody sees half of it; rolled back on any error."""
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()

