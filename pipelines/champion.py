"""The model in production, as the monitoring stage needs it: its description and the
training-window reference sample it is compared against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.registry import (
    RegistryError,
    client_for,
    get_alias_version,
    load_pd_model,
    load_reference,
)
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings


class NoChampionError(CreditflowError):
    """There is no champion to monitor or score with."""


@dataclass
class ChampionInfo:
    description: dict[str, Any]  # name, version, oot_auc, feature_names
    reference: pd.DataFrame


def current_champion(settings: Settings) -> ChampionInfo:
    uri, name = settings.tracking_uri, settings.training.registered_model_name
    version = get_alias_version(uri, name, "champion")
    if version is None:
        raise NoChampionError(f"model '{name}' has no champion: train and promote one first")
    try:
        model = load_pd_model(uri, name, version=version)
        reference = load_reference(uri, name, version=version)
    except RegistryError as exc:
        raise NoChampionError(f"champion {name} v{version} cannot be loaded: {exc}") from None
    run = client_for(uri).get_run(model.run_id) if model.run_id else None
    oot_auc = run.data.metrics.get("oot_auc") if run is not None else None
    return ChampionInfo({"name": name, "version": version, "oot_auc": oot_auc,
                         "feature_names": model.feature_names}, reference)
