"""The model in production, loaded one way for every stage that needs it: scoring decides with
it, monitoring compares the day against its training-window reference sample, promotion judges
a challenger against it.

One error type: ``NoChampionError`` when there is no champion alias or its version cannot be
loaded (the registry reports a store failure while loading the same way as missing files, so
that counts too). A registry that cannot be reached when the alias is read is not that:
``models.registry.RegistryError`` passes through, since a retry may cure it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.importance import ranked_importance
from models.pd_model import PDModel
from models.registry import RegistryError, aliases, load_pd_model, load_reference, run_info
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings, redact

CHAMPION_ALIAS = "champion"


class NoChampionError(CreditflowError):
    """There is no champion to score, monitor or compare with, or it cannot be loaded."""


@dataclass(frozen=True)
class Champion:
    """One registered version in the champion role. ``reference`` and ``oot_auc`` are loaded
    only when asked for (monitoring); scoring and promotion need the model alone."""

    model: PDModel
    name: str
    version: str
    run_id: str | None = None
    oot_auc: float | None = None
    reference: pd.DataFrame | None = None  # the training-window sample monitoring compares to

    @property
    def feature_names(self) -> list[str]:
        return list(self.model.feature_names)

    @property
    def description(self) -> dict[str, Any]:
        """The champion as monitoring's day reads it: name, version, oot_auc, feature_names."""
        return {"name": self.name, "version": self.version, "oot_auc": self.oot_auc,
                "feature_names": self.feature_names,
                "top_features": ranked_importance(self.model.booster)}


def champion_version(settings: Settings, found: Mapping[str, str] | None = None) -> str:
    """The version the champion alias points at. ``found`` is an alias snapshot the caller
    already read (scoring reads champion and challenger together); otherwise it is read here."""
    name = settings.training.registered_model_name
    if found is None:
        found = aliases(settings.tracking_uri, name)
    version = found.get(CHAMPION_ALIAS)
    if version is None:
        raise NoChampionError(f"no champion: model '{name}' has no '{CHAMPION_ALIAS}' alias; "
                              "train and promote a model first (creditflow train)")
    return version


def current_champion(settings: Settings, version: str | None = None, *,
                     reference: bool = True) -> Champion:
    """The champion: ``version`` if given (an alias snapshot already read), else the one the
    alias points at now. ``reference`` also loads the training-window reference sample and the
    training run's out-of-time AUC."""
    uri, name = settings.tracking_uri, settings.training.registered_model_name
    version = version or champion_version(settings)
    try:
        model = load_pd_model(uri, name, version=version)
        sample = load_reference(uri, name, version=version) if reference else None
    except RegistryError as exc:
        raise NoChampionError(f"cannot load the champion model ({name} version {version}): "
                              f"{redact(str(exc))[:500]}") from None
    oot_auc = None
    if reference and model.run_id:
        oot_auc = run_info(uri, model.run_id)["metrics"].get("oot_auc")
    return Champion(model, name, str(version), model.run_id, oot_auc, sample)
