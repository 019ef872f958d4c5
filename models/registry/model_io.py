"""The registered PD model: logging it as a servable pyfunc, sealing its files, loading it back.

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
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Mapping
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema

from models import serving
from models.pd_model import NUMERIC, PDModel
from models.policy import REASON_COLUMNS, REASON_TEXT_COLUMNS, ScoringPolicy
from models.registry.aliases import _model_version, _resolve_version, set_alias
from models.registry.runs import TrackedRun
from models.registry.store import (
    CHALLENGER,
    RegistryError,
    _clean_key,
    _global_uri,
    _param_value,
    client_for,
)

MODEL_NAME_IN_RUN = "model"
SHA256_TAG, FILES_TAG = "creditflow.sha256", "creditflow.files"
_SHORT_SHA = 16  # hex digits per file in FILES_TAG: enough to locate a change, not to prove one
# Pinned requirements: MLflow's own inference loads the model in a subprocess at every
# registration (seconds each time); the served model needs exactly these packages.
PIP_REQUIREMENTS = [f"{p}=={pkg_version(p)}"
                    for p in ("mlflow", "xgboost", "numpy", "pandas", "scipy")]


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
               *(ColSpec("string", c, required=False)
                 for c in (*REASON_COLUMNS, *REASON_TEXT_COLUMNS))]
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



_LOADED: dict[tuple[str | None, ...], PDModel] = {}
_LOADED_LOCK = threading.Lock()


def load_pd_model(tracking_uri: str, name: str, alias: str | None = None,
                  version: str | None = None) -> PDModel:
    """The whole PDModel of one version (by alias or number). A registered version never
    changes, so a process keeps the last few it loaded (a daily loop would otherwise download
    the same champion every day); the alias is resolved afresh on every call."""
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

