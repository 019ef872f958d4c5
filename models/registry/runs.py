"""Tracked runs: experiments, a handle on one run (params, metrics, tags, figures, frames,
datasets, HPO trials), starting, resuming and finishing runs, and settling runs whose process died.

Each run records its owner process (``creditflow.owner``: host, pid, process start time); a run
left RUNNING by a process of this machine that is gone is marked FAILED, with the reason, when the
next run of its experiment starts.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import psutil
from mlflow import MlflowClient
from mlflow.data.dataset_source import DatasetSource
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from models.registry.store import (
    RegistryError,
    _clean_key,
    _flatten,
    _param_value,
    client_for,
)

OWNER_TAG, SETTLED_TAG = "creditflow.owner", "creditflow.settled"
# The experiment tag MLflow 3's UI reads to pick an experiment's first tab (its own values:
# "genai_development" opens on traces, "custom_model_development" on runs).
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


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
        self._log_metric_items([Metric(_clean_key(f"{prefix}{k}"), float(v), now, step)
                                for k, v in metrics.items()
                                if isinstance(v, int | float | np.number)
                                and math.isfinite(float(v))])

    def log_curves(self, curves: Mapping[str, Mapping[str, Sequence[float]]],
                   prefix: str = "curve_") -> None:
        """Per-round values (learning curves: eval set -> metric -> one value a round) as metric
        histories ``{prefix}{set}_{metric}``, the round as the step; a few batched writes."""
        now = int(time.time() * 1000)
        self._log_metric_items([Metric(_clean_key(f"{prefix}{name}_{metric}"), float(v), now, i)
                                for name, by_metric in curves.items()
                                for metric, values in by_metric.items()
                                for i, v in enumerate(values) if math.isfinite(float(v))])

    def _log_metric_items(self, items: list[Metric]) -> None:
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

    def log_file(self, path: str | Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

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
        # MLflow infers a schema value by value, seconds on a training window: the first rows
        # plus each column's first missing value give the same schema; the profile counts the
        # whole frame.
        missing = frame.isna().to_numpy()
        rows = sorted(set(range(min(len(frame), 1000)))
                      | set(missing.argmax(axis=0)[missing.any(axis=0)].tolist()))
        with warnings.catch_warnings():  # the label is an integer column: MLflow warns that
            # integers cannot hold missing values, a hint for model signatures, not datasets
            warnings.filterwarnings("ignore", message=".*Inferred schema contains integer")
            entity = mlflow.data.from_pandas(
                frame.iloc[rows], source=DescribedSource(dict(source)), name=name,
                digest=digest)._to_mlflow_entity()
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
    otherwise. Runs of other machines, or without a readable owner tag, are left as they are.
    One indexed query of the RUNNING runs (a few milliseconds), so it runs at every start."""
    client, here = client_for(tracking_uri), socket.gethostname() + ":"
    settled = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'",
                                  max_results=200):
        owner = run.data.tags.get(OWNER_TAG, "")
        pid = owner.split(":")[1] if owner.startswith(here) and owner.count(":") >= 2 else ""
        if not pid.isdigit() or _owner(int(pid)) == owner:
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


def run_tagged(tracking_uri: str, experiment_id: str, key: str, value: str) -> str | None:
    """The id of a run of the experiment whose tag ``key`` is ``value`` (a rerun of the same
    business date finds its own run), or None."""
    quoted = value.replace("'", "''")
    found = client_for(tracking_uri).search_runs(
        [experiment_id], filter_string=f"tags.{_clean_key(key)} = '{quoted}'", max_results=1)
    return found[0].info.run_id if found else None


def run_info(tracking_uri: str, run_id: str) -> dict[str, Any]:
    """run_id, status, metrics and tags of one run (for promotion reports); RegistryError if the
    store does not hold it."""
    try:
        run = client_for(tracking_uri).get_run(run_id)
    except MlflowException as exc:
        raise RegistryError(f"run {run_id} not found: {exc.message}") from exc
    return {"run_id": run.info.run_id, "status": run.info.status,
            "metrics": dict(run.data.metrics), "tags": dict(run.data.tags)}

