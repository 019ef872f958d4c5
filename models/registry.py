"""The one place that talks to MLflow: tracked training runs, the registered PD model, aliases,
and the reference sample monitoring compares against.

Every function takes the tracking URI explicitly (the registry lives in the same store); nothing
relies on MLFLOW_TRACKING_URI. MLflow's model-logging code reads its global URI, so that one step
sets it for the duration of the call and restores it afterwards.

A model version is a pyfunc (models.serving) that anyone can serve: from plain rows it returns
the calibrated PD, points, decision and reason codes that daily scoring would write, with the
scaling and cut-offs in force at registration baked in. Its artifacts are the booster (UBJSON),
the PDModel spec (calibrator state, features, dtypes, categories, monotone directions, reason
texts) and the scoring policy; ``load_pd_model`` rebuilds the PDModel from them for scoring,
promotion and monitoring.

Integrity: at registration the SHA-256 of every file of the logged model goes into the version's
tags (``creditflow.sha256``: one digest over the sorted (path, file digest) pairs;
``creditflow.files``: a short digest per file, to name the file that changed). ``load_pd_model``
recomputes them over the downloaded files and refuses a version whose files changed, or that has
no digest. The tags live in the registry database, not beside the files: whoever can edit the
artifact folder cannot also re-sign it.

Promotion safety (two promotions at once): alias moves run under an exclusive ``flock`` on a lock
file next to the SQLite store (``<mlflow.db>.aliases.lock``) and are compare-and-set: the caller
says which champion it judged against, the champion is re-read under the lock, and the move is
refused if it changed. Each alias write is a single upsert, and ``previous`` is written before
``champion``, so a crash between writes never leaves zero or two champions. For a store that is not
a local SQLite file, pass ``lock_path`` on storage every promoter shares, or hold your own lock
(e.g. a warehouse row) and pass ``external_lock=True``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
import psutil
from mlflow import MlflowClient
from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from models import serving
from models.pd_model import NUMERIC, PDModel
from models.policy import REASON_COLUMNS, ScoringPolicy
from models.redaction import redact

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
MODEL_NAME_IN_RUN = "model"
SHA256_TAG, FILES_TAG = "creditflow.sha256", "creditflow.files"
_SHORT_SHA = 16  # hex digits per file in FILES_TAG: enough to locate a change, not to prove one
REFERENCE_DIR, REFERENCE_FILE = "reference", "reference.parquet"
REFERENCE_MAX_ROWS = 20_000
RAW_PD_COL, PD_COL = "raw_pd", "pd"
# Explicit requirements: MLflow's requirement inference costs ~2 s per log (STACK_NOTES).
PIP_REQUIREMENTS = [f"{p}=={pkg_version(p)}"
                    for p in ("mlflow", "xgboost", "numpy", "pandas", "scipy")]
_PARAM_MAX = 6000
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /]")
_GLOBAL_URI_LOCK = threading.Lock()
_PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
OWNER_TAG, SETTLED_TAG = "creditflow.owner", "creditflow.settled"
# The experiment tag MLflow 3's UI reads to pick an experiment's first tab (its own values:
# "genai_development" opens on traces, "custom_model_development" on runs).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


class RegistryError(RuntimeError):
    """The registry cannot do what was asked; the message names the model, version or alias."""


class AliasConflictError(RegistryError):
    """The champion changed between the caller's decision and the alias move."""


def client_for(tracking_uri: str) -> MlflowClient:
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


# ---------------------------------------------------------------------------------------------
# experiments and runs


def ensure_experiment(tracking_uri: str, experiment_name: str, artifact_root: str | Path) -> str:
    """Experiment id, creating it with artifacts under ``artifact_root/<name>`` if needed. It is
    marked as a classic-ML experiment (``EXPERIMENT_KIND``), so the UI opens it on its runs, not
    on an empty GenAI traces page; a kind someone set by hand is left alone."""
    client = client_for(tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        if EXPERIMENT_KIND[0] not in exp.tags:  # experiments created before the tag existed
            client.set_experiment_tag(exp.experiment_id, *EXPERIMENT_KIND)
        return exp.experiment_id
    slug = re.sub(r"[^\w.-]+", "-", experiment_name).strip("-") or "experiment"
    location = (Path(artifact_root).expanduser().resolve() / slug).as_uri()
    try:
        return client.create_experiment(experiment_name, artifact_location=location,
                                         tags=dict([EXPERIMENT_KIND]))
    except MlflowException:  # created concurrently by another process
        exp = client.get_experiment_by_name(experiment_name)
        if exp is None:
            raise
        return exp.experiment_id


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


@dataclass
class TrackedRun:
    """A handle on one MLflow run; every call goes through an explicit client."""

    tracking_uri: str
    run_id: str
    experiment_id: str

    @property
    def client(self) -> MlflowClient:
        return client_for(self.tracking_uri)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Nested dicts flattened with dots; values as text, URL passwords masked."""
        items = [Param(_clean_key(k), _param_value(v)) for k, v in _flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: Mapping[str, float], prefix: str = "",
                    step: int = 0) -> None:
        """Numbers only; NaN/inf are skipped (MLflow stores them, but they break comparisons)."""
        now = int(time.time() * 1000)
        items = [Metric(_clean_key(f"{prefix}{k}"), float(v), now, step)
                 for k, v in metrics.items()
                 if isinstance(v, int | float | np.number) and math.isfinite(float(v))]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i:i + 1000])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(_clean_key(k), _param_value(v)) for k, v in tags.items()]
        self.client.log_batch(self.run_id, tags=items)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """A matplotlib figure as PNG (models.plots builds them without pyplot state)."""
        self.client.log_figure(self.run_id, figure, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str) -> None:
        self.client.log_text(self.run_id, json.dumps(data, indent=2, default=str), artifact_file)

    def log_frame(self, frame: pd.DataFrame, artifact_file: str) -> None:
        """CSV or Parquet by the file's extension."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            if path.suffix == ".parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False)
            parent = str(Path(artifact_file).parent)
            self.client.log_artifact(self.run_id, str(path),
                                     None if parent in ("", ".") else parent)

    def log_dataset(self, frame: pd.DataFrame, name: str, context: str,
                    source: Mapping[str, Any]) -> str:
        """Lineage, not data: the frame's name, schema, row count and a digest of every row go
        on the run as an input (``mlflow.log_input``); ``source`` says where the rows came from.
        Returns the digest."""
        digest = frame_digest(frame)
        # MLflow infers a schema value by value (3-5 s for 100k rows): the first rows plus each
        # column's first missing value give the same schema; the profile counts the whole frame.
        missing = frame.isna().to_numpy()
        rows = sorted(set(range(min(len(frame), 1000)))
                      | set(missing.argmax(axis=0)[missing.any(axis=0)].tolist()))
        entity = mlflow.data.from_pandas(frame.iloc[rows], source=DescribedSource(dict(source)),
                                         name=name, digest=digest)._to_mlflow_entity()
        entity = DatasetEntity(entity.name, digest, entity.source_type, entity.source,
                               entity.schema, json.dumps({"num_rows": len(frame),
                                                          "num_elements": int(frame.size)}))
        self.client.log_inputs(self.run_id, datasets=[
            DatasetInput(entity, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])])
        return digest

    def log_trial(self, number: int, params: Mapping[str, Any],
                  metrics: Mapping[str, float]) -> str:
        """A finished nested run for one HPO trial (the ``on_trial`` callback of hpo_search)."""
        child = self.client.create_run(
            self.experiment_id, run_name=f"trial-{number}",
            tags={"mlflow.parentRunId": self.run_id, "hpo_trial": str(number)})
        run = TrackedRun(self.tracking_uri, child.info.run_id, self.experiment_id)
        run.log_params(params)
        run.log_metrics(metrics)
        run.client.set_terminated(run.run_id, "FINISHED")
        return run.run_id

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def frame_digest(frame: pd.DataFrame) -> str:
    """16 hex digits over every row, column name and dtype (MLflow's own digest reads only the
    first 10,000 rows, so two windows that differ further down would look the same)."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    head = json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode()
    return hashlib.sha256(head + rows.tobytes()).hexdigest()[:16]


class DescribedSource(DatasetSource):
    """A dataset source that is only a description (a warehouse query: table, window, filter):
    enough for lineage; MLflow cannot load the rows back from it, and need not."""

    def __init__(self, description: dict[str, Any]) -> None:
        self.description = description

    @staticmethod
    def _get_source_type() -> str:
        return "warehouse"

    def load(self, **kwargs: Any) -> Any:
        raise NotImplementedError("read the rows from the warehouse with the logged window")

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> DescribedSource:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.description, default=str))

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DescribedSource:
        return cls(dict(source_dict))


def start_run(tracking_uri: str, experiment_name: str, artifact_root: str | Path,
              run_name: str | None = None, tags: Mapping[str, Any] | None = None) -> TrackedRun:
    """A new RUNNING run; finish it with ``run.finish()`` (or use ``tracked_run``). Runs of
    the experiment left RUNNING by a dead process of this machine are settled first."""
    exp_id = ensure_experiment(tracking_uri, experiment_name, artifact_root)
    settle_abandoned_runs(tracking_uri, exp_id)
    run = client_for(tracking_uri).create_run(
        exp_id, run_name=run_name,
        tags={OWNER_TAG: _owner(os.getpid()) or "unknown",
              **{_clean_key(k): _param_value(v) for k, v in (tags or {}).items()}})
    return TrackedRun(tracking_uri, run.info.run_id, exp_id)


def _owner(pid: int) -> str | None:
    """host:pid:start time of a live process (the start time tells a reused pid apart)."""
    try:
        return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def settle_abandoned_runs(tracking_uri: str, experiment_id: str) -> list[str]:
    """Mark FAILED (with the reason as a tag) every RUNNING run of the experiment whose owner
    process on this machine is gone: a SIGKILLed training leaves its run RUNNING for ever
    otherwise. Runs of other machines, or without an owner tag, are left as they are."""
    client, here = client_for(tracking_uri), socket.gethostname() + ":"
    settled = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                                  max_results=200):
        owner = run.data.tags.get(OWNER_TAG, "")
        if not owner.startswith(here) or _owner(int(owner.split(":")[1])) == owner:
            continue
        client.set_tag(run.info.run_id, SETTLED_TAG,
                       f"failed: its process ({owner}) died while the run was RUNNING; settled "
                       f"by process {os.getpid()} on {datetime.now(UTC).isoformat()}")
        client.set_terminated(run.info.run_id, status="FAILED")
        settled.append(run.info.run_id)
    return settled


def resume_run(tracking_uri: str, run_id: str) -> TrackedRun:
    """A handle on an existing run (e.g. created by an earlier flow task)."""
    try:
        run = client_for(tracking_uri).get_run(run_id)
    except MlflowException as exc:
        raise RegistryError(f"run {run_id} not found in the tracking store: {exc}") from exc
    return TrackedRun(tracking_uri, run_id, run.info.experiment_id)


@contextmanager
def tracked_run(tracking_uri: str, experiment_name: str, artifact_root: str | Path,
                run_name: str | None = None,
                tags: Mapping[str, Any] | None = None) -> Iterator[TrackedRun]:
    """A run that ends FINISHED, or FAILED if the block raises."""
    run = start_run(tracking_uri, experiment_name, artifact_root, run_name, tags)
    try:
        yield run
    except BaseException:
        run.finish("FAILED")
        raise
    run.finish("FINISHED")


def log_training(run: TrackedRun, *, params: Mapping[str, Any] | None = None,
                 metrics: Mapping[str, float] | None = None,
                 tags: Mapping[str, Any] | None = None,
                 figures: Mapping[str, Any] | None = None,
                 texts: Mapping[str, str] | None = None,
                 frames: Mapping[str, pd.DataFrame] | None = None) -> None:
    """Everything of one training run in one call; keys of figures/texts/frames are artifact
    paths (e.g. ``plots/roc.png``, ``model_card.md``, ``tables/deciles_oot.csv``)."""
    if params:
        run.log_params(params)
    if metrics:
        run.log_metrics(metrics)
    if tags:
        run.set_tags(tags)
    for path, fig in (figures or {}).items():
        run.log_figure(fig, path)
    for path, text in (texts or {}).items():
        run.log_text(text, path)
    for path, frame in (frames or {}).items():
        run.log_frame(frame, path)


# ---------------------------------------------------------------------------------------------
# reference sample


def build_reference(model: PDModel, X: pd.DataFrame, max_rows: int = REFERENCE_MAX_ROWS,
                    seed: int = 0) -> pd.DataFrame:
    """Features plus raw and calibrated PD for at most ``max_rows`` rows (seeded sample)."""
    clash = {RAW_PD_COL, PD_COL} & set(X.columns)
    if clash:
        raise RegistryError(f"feature names clash with reference columns: {sorted(clash)}")
    sample = X.sample(n=max_rows, random_state=seed) if len(X) > max_rows else X
    sample = model.check_frame(sample).reset_index(drop=True)
    out = sample.copy()
    out[RAW_PD_COL] = model.raw_proba(sample)
    out[PD_COL] = model.calibrator.transform(out[RAW_PD_COL].to_numpy())
    return out


def log_reference(run: TrackedRun, reference: pd.DataFrame,
                  max_rows: int = REFERENCE_MAX_ROWS) -> None:
    """The training-window reference sample as ``reference/reference.parquet`` on the run."""
    if len(reference) > max_rows:
        raise RegistryError(f"reference holds {len(reference)} rows; at most {max_rows} allowed")
    run.log_frame(reference, f"{REFERENCE_DIR}/{REFERENCE_FILE}")


def load_reference(tracking_uri: str, name: str, alias: str | None = None,
                   version: str | None = None) -> pd.DataFrame:
    ver = _resolve_version(tracking_uri, name, alias, version)
    run_id = _model_version(tracking_uri, name, ver).run_id
    try:
        with tempfile.TemporaryDirectory() as tmp, _global_uri(tracking_uri):
            path = client_for(tracking_uri).download_artifacts(
                run_id, f"{REFERENCE_DIR}/{REFERENCE_FILE}", tmp)
            return pd.read_parquet(path)
    except Exception as exc:
        raise RegistryError(f"reference sample of {name} version {ver} (run {run_id}) cannot be "
                            f"read: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# the registered model


def register_pd_model(run: TrackedRun, model: PDModel, X_sample: pd.DataFrame, name: str,
                      alias: str | None = CHALLENGER,
                      version_tags: Mapping[str, Any] | None = None, *,
                      policy: ScoringPolicy) -> str:
    """Log ``model`` as a servable pyfunc deciding by ``policy`` (models.serving) on ``run``,
    register it under ``name``, record the SHA-256 of its files and point ``alias`` (default
    ``challenger``) at the new version.

    Log metrics on the run BEFORE calling this: MLflow copies the run's metrics onto the logged
    model, so they show beside it in the UI. Sets ``model.name/version/run_id`` on success."""
    sample = model.check_frame(X_sample.head(5))
    client = run.client
    logged = client.create_logged_model(run.experiment_id, name=MODEL_NAME_IN_RUN,
                                        source_run_id=run.run_id)
    with tempfile.TemporaryDirectory() as tmp, _global_uri(run.tracking_uri):
        artifacts = serving.write_artifacts(model, policy, Path(tmp))
        digests = {key: serving.sha256_file(path) for key, path in artifacts.items()}
        info = Model.log(
            artifact_path=None, name=MODEL_NAME_IN_RUN, flavor=mlflow.pyfunc,
            flavor_name="pyfunc.ModelFromCode", python_model=str(serving.ENTRY_POINT),
            artifacts=artifacts, code_paths=[str(_code_copy(Path(tmp)))],
            model_config={serving.SHA256_KEY: digests}, signature=_signature(model),
            input_example=serving.plain_rows(model, sample),
            pip_requirements=PIP_REQUIREMENTS, registered_model_name=name,
            model_id=logged.model_id, run_id=run.run_id)
    ver = str(info.registered_model_version)
    # the checksum first: a version without one is refused at load, so a crash here fails closed
    for key, value in _seal(run.tracking_uri, name, ver).items():
        client.set_model_version_tag(name, ver, key, value)
    tags = {"run_id": run.run_id, **(version_tags or {})}
    for key, value in tags.items():
        client.set_model_version_tag(name, ver, _clean_key(key), _param_value(value))
    if alias:
        set_alias(client, name, alias, ver)
    model.name, model.version, model.run_id = name, ver, run.run_id
    return ver


def _code_copy(tmp: Path) -> Path:
    """The project's ``models`` package, sources only (no __pycache__ of this interpreter), for
    ``code_paths``: the served model imports it in a fresh process."""
    source = Path(serving.__file__).parent
    target = tmp / "code" / source.name
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.py")):
        (target / path.name).write_bytes(path.read_bytes())
    return target


def _signature(model: PDModel) -> ModelSignature:
    """Category features are plain strings. Numbers are typed Any: MLflow's ``double`` refuses
    int64 frames (a count such as inquiries_6m) and numeric strings in-process;
    ``serving.as_model_input`` converts them and names a column that holds no number."""
    inputs = [ColSpec(AnyType() if model.feature_dtypes[c] == NUMERIC else "string", c)
              for c in model.feature_names]
    outputs = [ColSpec("double", "pd"), ColSpec("double", "score"), ColSpec("string", "decision"),
               *(ColSpec("string", c, required=False) for c in REASON_COLUMNS)]
    return ModelSignature(Schema(inputs), Schema(outputs))


def _seal(tracking_uri: str, name: str, ver: str) -> dict[str, str]:
    """The checksum tags of a version's files as they are in the store."""
    location = client_for(tracking_uri).get_model_version_download_uri(name, ver)
    with tempfile.TemporaryDirectory() as tmp, _global_uri(tracking_uri):
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp)
        digests = serving.file_digests(local)
    short = {path: sha[:_SHORT_SHA] for path, sha in digests.items()}
    return {SHA256_TAG: serving.tree_digest(digests),
            FILES_TAG: json.dumps(short, separators=(",", ":"))}


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(f"cannot point alias {alias!r} of {name} at version {version}: "
                            f"{exc.message}") from exc


def _delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    try:
        client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(f"cannot delete alias {alias!r} of {name}: {exc.message}") from exc


def get_alias_version(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version an alias points at, or None if the alias (or the model) does not exist."""
    return aliases(tracking_uri, name).get(alias)


def aliases(tracking_uri: str, name: str) -> dict[str, str]:
    """alias -> version of a registered model ({} if the model does not exist)."""
    try:
        model = client_for(tracking_uri).get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise RegistryError(f"registry unreachable or failing for {name}: {exc.message}") from exc
    return {a: str(v) for a, v in model.aliases.items()}


def set_version_tags(tracking_uri: str, name: str, version: str,
                     tags: Mapping[str, Any]) -> None:
    client = client_for(tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), _clean_key(key), _param_value(value))


def version_info(tracking_uri: str, name: str, version: str) -> dict[str, Any]:
    """run_id, status, tags and aliases of one version (for promotion reports)."""
    mv = _model_version(tracking_uri, name, version)
    return {"name": name, "version": str(mv.version), "run_id": mv.run_id, "status": mv.status,
            "tags": dict(mv.tags), "aliases": list(mv.aliases), "source": mv.source,
            "created_ms": mv.creation_timestamp}


def _model_version(tracking_uri: str, name: str, version: str) -> Any:
    try:
        return client_for(tracking_uri).get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"{name} version {version} not found: {exc.message}") from exc


def _resolve_version(tracking_uri: str, name: str, alias: str | None,
                     version: str | None) -> str:
    if (alias is None) == (version is None):
        raise RegistryError("give exactly one of alias or version")
    if version is not None:
        return str(version)
    found = get_alias_version(tracking_uri, name, alias)
    if found is None:
        raise RegistryError(f"model {name} has no alias {alias!r}")
    return found


_LOADED: dict[tuple[str | None, ...], PDModel] = {}
_LOADED_LOCK = threading.Lock()


def load_pd_model(tracking_uri: str, name: str, alias: str | None = None,
                  version: str | None = None) -> PDModel:
    """The whole PDModel of one version (by alias or number). A registered version never
    changes, so a process keeps the last few it loaded (a daily loop paid 0.2-0.5 s a day
    downloading the same champion); the alias is resolved afresh on every call."""
    ver = _resolve_version(tracking_uri, name, alias, version)
    mv = _model_version(tracking_uri, name, ver)
    key = (tracking_uri, name, ver, mv.run_id, mv.source)
    with _LOADED_LOCK:
        if key in _LOADED:
            return _LOADED[key]
    model = _load_pd_model(tracking_uri, name, ver, mv)
    with _LOADED_LOCK:
        if len(_LOADED) >= 4:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = model
    return model


def _load_pd_model(tracking_uri: str, name: str, ver: str, mv: Any) -> PDModel:
    location = _location_in_store(tracking_uri, name, ver, mv.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with _global_uri(tracking_uri):
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location,
                                                                 dst_path=tmp))
        except Exception as exc:
            raise _corrupted(name, ver, exc) from exc
        _verify_files(local, name, ver, dict(mv.tags or {}))
        model, meta = _read_model(local, name, ver, mv.run_id)
    _check_contract(model, meta)
    return model


def _corrupted(name: str, ver: str, exc: Exception) -> RegistryError:
    return RegistryError(f"{name} version {ver}: model artifact missing or corrupted "
                         f"({type(exc).__name__}: {exc})")


def _read_model(local: Path, name: str, ver: str, run_id: str | None) -> tuple[PDModel, Model]:
    """The PDModel from the pyfunc's artifacts (booster and spec; models.serving)."""
    try:
        meta = Model.load(str(local / "MLmodel"))
        files = meta.flavors["python_function"]["artifacts"]
        paths = {key: str(local / files[key]["path"]) for key in serving.ARTIFACTS}
        booster, spec, _ = serving.read_artifacts(paths)
        model = PDModel.from_spec(booster, spec, name=name, version=ver, run_id=run_id)
    except Exception as exc:
        raise _corrupted(name, ver, exc) from exc
    return model, meta


def _verify_files(local: Path, name: str, ver: str, tags: Mapping[str, str]) -> None:
    """Every file as it was at registration (``_seal``), before anything reads one: a model
    edited on disk (a calibrator intercept, a cut-off) would otherwise decide silently."""
    recorded = tags.get(SHA256_TAG)
    if not recorded:
        raise RegistryError(f"{name} version {ver}: no checksum recorded (tag {SHA256_TAG}); "
                            "its files cannot be verified, refusing to load it (register it "
                            "again, e.g. by retraining)")
    found = serving.file_digests(local)
    if serving.tree_digest(found) == recorded:
        return
    raise RegistryError(f"{name} version {ver}: model files changed since registration "
                        f"({_which_files(found, tags.get(FILES_TAG))}): the SHA-256 differs "
                        f"from tag {SHA256_TAG}; refusing to load it")


def _which_files(found: Mapping[str, str], files_tag: str | None) -> str:
    """The files that differ from the per-file digests recorded at registration."""
    try:
        short = dict(json.loads(files_tag or "{}"))
    except (TypeError, ValueError):
        short = {}
    changed = [f"{p} differs" for p in sorted(set(found) & set(short))
               if found[p][:_SHORT_SHA] != short[p]]
    changed += [f"{p} missing" for p in sorted(set(short) - set(found))]
    changed += [f"{p} added" for p in sorted(set(found) - set(short))]
    return "; ".join(changed) or "the per-file list does not say which"


def _location_in_store(tracking_uri: str, name: str, ver: str, run_id: str | None) -> str:
    """Where the version's files are, provided that is inside the artifact location of its own
    run's experiment in this store: a version registered from a path or bucket elsewhere would
    put files nobody trained here into production."""
    client = client_for(tracking_uri)
    where = client.get_model_version_download_uri(name, ver)
    root = None
    if run_id:
        try:
            run = client.get_run(run_id)
            root = client.get_experiment(run.info.experiment_id).artifact_location
        except MlflowException:
            root = None
    if root is None or not _inside(where, root):
        raise RegistryError(f"{name} version {ver}: its files at {where} are outside this model "
                            f"store ({root or 'no training run of it in the store'}); a model "
                            "is loaded only from the configured registry")
    return where


def _inside(uri: str, root: str) -> bool:
    u, r = urlparse(uri), urlparse(root)
    if (u.scheme or "file") != (r.scheme or "file") or u.netloc != r.netloc:
        return False
    if (u.scheme or "file") == "file":  # resolve '..' and links before comparing
        return Path(unquote(u.path)).resolve().is_relative_to(Path(unquote(r.path)).resolve())
    return (u.path.rstrip("/") + "/").startswith(r.path.rstrip("/") + "/")


def _check_contract(model: PDModel, meta: Model) -> None:
    """The feature list the spec promises must be the booster's and the logged signature's: a
    spec edited after logging would score columns the trees were not trained on."""
    signature = meta.signature.inputs.input_names() if meta.signature is not None else None
    booster = model.booster.feature_names
    problems = [what for what, names in (("the logged signature", signature),
                                         ("the booster", booster))
                if names is None or list(names) != model.feature_names]
    if problems:
        raise RegistryError(f"signature mismatch: {model.name} version {model.version}: the "
                            f"feature list of its spec differs from {' and '.join(problems)}; "
                            "refusing to load it")


# ---------------------------------------------------------------------------------------------
# promotion


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


def sqlite_file(tracking_uri: str) -> Path | None:
    """The database file of a local SQLite store, else None."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return Path(tracking_uri[len(prefix):].split("?", 1)[0])


def default_lock_path(tracking_uri: str) -> Path | None:
    """``<db>.aliases.lock`` for a local SQLite store, else None."""
    db = sqlite_file(tracking_uri)
    return None if db is None else Path(f"{db}.aliases.lock")


@contextmanager
def alias_lock(tracking_uri: str, lock_path: str | Path | None = None,
               timeout_s: float = 30.0, external_lock: bool = False) -> Iterator[None]:
    """Exclusive lock for alias moves (see module docstring)."""
    if external_lock:
        yield
        return
    path = Path(lock_path) if lock_path else default_lock_path(tracking_uri)
    if path is None:
        raise RegistryError("alias moves on a non-SQLite store need lock_path (shared storage) "
                            "or external_lock=True with a lock the caller holds")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(f"another promotion holds {path} for more than "
                                        f"{timeout_s:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def move_aliases_atomically(tracking_uri: str, name: str, new_champion: str,
                            expected_champion: str | None, *,
                            lock_path: str | Path | None = None, timeout_s: float = 30.0,
                            external_lock: bool = False) -> dict[str, Any]:
    """Promote ``new_champion``: old champion -> ``previous``, new -> ``champion``; the
    ``challenger`` alias is removed if it pointed at the new champion.

    ``expected_champion`` is the champion the decision was made against (None: there was none);
    if the champion changed meanwhile, AliasConflictError and nothing moves."""
    client = client_for(tracking_uri)
    with alias_lock(tracking_uri, lock_path, timeout_s, external_lock):
        before = aliases(tracking_uri, name)
        current = before.get(CHAMPION)
        expected = None if expected_champion is None else str(expected_champion)
        if current != expected:
            raise AliasConflictError(
                f"{name}: champion is version {current} but the decision was made against "
                f"{expected}; re-run the comparison")
        new = str(new_champion)
        _model_version(tracking_uri, name, new)
        if new == current:
            raise RegistryError(f"{name} version {new} is already the champion")
        if current is not None:
            set_alias(client, name, PREVIOUS, current)
        set_alias(client, name, CHAMPION, new)
        if before.get(CHALLENGER) == new:
            _delete_alias(client, name, CHALLENGER)
        after = aliases(tracking_uri, name)
    return {"name": name, "champion": new, "previous": current, "before": before,
            "after": after}


def rollback(tracking_uri: str, name: str, *, lock_path: str | Path | None = None,
             timeout_s: float = 30.0, external_lock: bool = False) -> dict[str, Any]:
    """Put ``previous`` back as champion. The demoted version is tagged ``rolled_back_at`` and
    ``previous`` is removed (a second rollback without a new promotion is an error, not a flip)."""
    client = client_for(tracking_uri)
    with alias_lock(tracking_uri, lock_path, timeout_s, external_lock):
        before = aliases(tracking_uri, name)
        target = before.get(PREVIOUS)
        if target is None:
            raise RegistryError(f"{name} has no 'previous' version to roll back to")
        _model_version(tracking_uri, name, target)
        demoted = before.get(CHAMPION)
        set_alias(client, name, CHAMPION, target)
        _delete_alias(client, name, PREVIOUS)
        if demoted is not None and demoted != target:
            client.set_model_version_tag(name, demoted, "rolled_back_at",
                                         datetime.now(UTC).isoformat(timespec="seconds"))
        after = aliases(tracking_uri, name)
    return {"name": name, "champion": target, "demoted": demoted, "before": before,
            "after": after}


# ---------------------------------------------------------------------------------------------
# a moved store

# Where an MLflow 3 SQLite store records absolute artifact locations (MLflow has no API to
# change them). model_versions.source is "models:/<id>" for models logged here; it is rewritten
# too in case a version was registered from a path.
STORE_PATH_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                      ("logged_models", "artifact_location"), ("model_versions", "source"),
                      ("model_versions", "storage_location"))


def relocate_store(tracking_uri: str, old_root: Path, new_root: Path) -> int:
    """Rewrite every artifact location under ``old_root`` (as a ``file://`` URI or a plain
    path) to the same place under ``new_root``, in one transaction; locations elsewhere are not
    touched. Returns how many values changed (0 for a store that is not a local SQLite file).
    Run it before anything in the process has written to a run: MLflow caches each run's
    artifact location per process, so that cache is emptied too."""
    db = sqlite_file(tracking_uri)
    if db is None or not db.is_file():
        return 0
    pairs = [(old_root.as_uri(), new_root.as_uri()), (str(old_root), str(new_root))]
    changed = 0
    with immediate_transaction(db) as conn:
        for table, column in STORE_PATH_COLUMNS:
            for old, new in pairs:
                # an exact prefix (LIKE would read '_' in a path as a wildcard), whole segments
                changed += conn.execute(
                    f"UPDATE {table} SET {column} = :new || substr({column}, :n + 1) "
                    f"WHERE substr({column}, 1, :n) = :old "
                    f"AND (length({column}) = :n OR substr({column}, :n + 1, 1) = '/')",
                    {"old": old, "new": new, "n": len(old)}).rowcount
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._artifact_repos_cache.clear()
    return changed
