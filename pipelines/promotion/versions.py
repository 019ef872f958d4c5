"""The two versions as the registry knows them: the aliases, the challenger's validity and the
champion to compare it with. Reads only.

An unreachable store is a ``RegistryUnavailableError`` and nothing changes. A local SQLite store
that does not exist counts as unreachable: MLflow would silently create an empty one, and every
model would look like the first. A challenger is *refused* unless the version exists, is READY and
is not the champion; its run FINISHED and logged ``oot_auc`` (training completed its out-of-time
evaluation); its train / early-stopping / calibration windows end before the promotion window
(otherwise it would be judged on its own training data); and its model loads.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from models.pd_model import PDModel
from models.promotion_rules import TRAINING_WINDOW_TAGS, training_overlap
from models.registry import RegistryError, aliases, load_pd_model, run_info, version_info
from pipelines.champion import NoChampionError, current_champion
from pipelines.core.settings import Settings, mask_secret, redact
from pipelines.promotion.decision import PromotionError, RegistryUnavailableError

REQUIRED_METRIC = "oot_auc"
_PROBE_TIMEOUT_S = 5.0


def registry_aliases(settings: Settings) -> dict[str, str]:
    """alias -> version, or RegistryUnavailableError (never a silently created empty store)."""
    uri = settings.tracking_uri
    _probe(uri)
    try:
        return aliases(uri, settings.training.registered_model_name)
    except Exception as exc:
        raise RegistryUnavailableError(
            f"model registry unreachable at {mask_secret(uri)}: "
            f"{type(exc).__name__}: {redact(str(exc)).splitlines()[0][:300]}") from None


def _probe(uri: str) -> None:
    """Fail fast where MLflow would create an empty store or retry for minutes."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = uri.split(":///", 1)[-1].split("?", 1)[0]
        if db and db != ":memory:" and not Path(db).is_file():
            raise RegistryUnavailableError(
                f"model registry not found: no SQLite store at {db} (train a model first, or "
                "point mlflow_tracking_uri at the existing store)")
    elif parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname or "localhost", port),
                                     timeout=_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise RegistryUnavailableError(
                f"model registry unreachable at {mask_secret(uri)}: {exc}") from None


def _run_of(settings: Settings, run_id: str) -> dict[str, Any] | None:
    try:
        return run_info(settings.tracking_uri, run_id)
    except Exception:
        return None


def check_challenger(settings: Settings, version: str, champion: str | None,
                     window: Mapping[str, Any]) -> tuple[dict[str, Any], PDModel | None,
                                                         list[str]]:
    """(what is known of the version, its model if valid, reasons to refuse it)."""
    name, uri = settings.training.registered_model_name, settings.tracking_uri
    try:
        info = version_info(uri, name, version)
    except RegistryError as exc:
        return {"version": str(version), "run_id": None}, None, [
            f"challenger version {version} is not in the registry ({exc})"]
    about = {"version": info["version"], "run_id": info["run_id"], "status": info["status"]}
    problems = []
    if str(version) == champion:
        problems.append(f"version {version} is already the champion")
    if info["status"] != "READY":
        problems.append(f"version {version} has registry status {info['status']}, not READY")
    run = _run_of(settings, info["run_id"])
    if run is None:
        problems.append(f"the run {info['run_id']} of version {version} is missing")
    else:
        about |= _run_facts(run)
        problems += _run_problems(run, version, window)
    model = None
    try:
        model = load_pd_model(uri, name, version=str(version))
    except RegistryError as exc:
        problems.append(f"model files of version {version} missing or corrupted: {exc}")
    return about, (None if problems else model), problems


def _run_facts(run: Mapping[str, Any]) -> dict[str, Any]:
    tags = run["tags"]
    return {"logged_oot_auc": run["metrics"].get(REQUIRED_METRIC),
            "logged_baseline_oot_auc": run["metrics"].get("baseline_oot_auc"),
            "training_windows": {k: tags.get(k) for k in (*TRAINING_WINDOW_TAGS, "window.oot",
                                                          "window.as_of")},
            "trained_by": tags.get("triggered_by"), "config_hash": tags.get("config_hash"),
            "target": tags.get("target", "main"), "response": tags.get("response")}


def _run_problems(run: Mapping[str, Any], version: str, window: Mapping[str, Any]) -> list[str]:
    problems = []
    if run["status"] != "FINISHED":
        problems.append(f"the training run {run['run_id']} of version {version} is "
                        f"{run['status']}, not FINISHED")
    if REQUIRED_METRIC not in run["metrics"]:
        problems.append(f"the training run {run['run_id']} of version {version} has no "
                        f"metric {REQUIRED_METRIC}: its out-of-time evaluation never finished")
    problems += [f"version {version} cannot be judged out of time: {o}"
                 for o in training_overlap(run["tags"], window)]
    return problems


def champion_to_compare(settings: Settings, version: str, window: Mapping[str, Any]
                        ) -> tuple[dict[str, Any], PDModel, list[str]]:
    """(what is known of the champion, its model, warnings). A champion that cannot be loaded
    stops the promotion: there is nothing to compare with."""
    try:  # the one loader scoring and monitoring use too
        model = current_champion(settings, version, reference=False).model
    except NoChampionError as exc:
        raise PromotionError(f"the champion (version {version}) cannot be loaded, so nothing can "
                             f"be compared with it; roll back or repair it first: {exc}") from None
    about: dict[str, Any] = {"version": version, "run_id": model.run_id}
    run = _run_of(settings, model.run_id or "")
    if run is None:
        return about, model, [f"the champion's run {model.run_id} is missing"]
    about |= _run_facts(run)
    # A champion judged on its own training data looks better than it is: that only makes the
    # challenger's case harder, so it is a warning, not a refusal.
    return about, model, [f"champion version {version}: {o} (its metrics there are in-sample)"
                          for o in training_overlap(run["tags"], window, require=False)]
