"""Model families: the main PD model and its auxiliary models, each a name, a target and an
experiment. One training sequence, one promotion and one registry loader serve every family:
they read ``settings.training.registered_model_name`` and ``experiment_name``, so a family runs
them on ``family_settings(settings, family)``, the same settings with its own name and
experiment. A new family costs a spec here and its target's label (``pipelines.warehouse.
history.target_config``), not a copy of the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings


class UnknownFamilyError(CreditflowError):
    """A model family that is not configured."""


@dataclass(frozen=True)
class ModelFamily:
    key: str  # "pd" | "epd": how flows and the CLI name it
    target: str  # the label it learns: "main" | "epd" (pipelines.warehouse.history.target_config)
    registered_model_name: str
    experiment_name: str


def families(settings: Settings) -> dict[str, ModelFamily]:
    """Every configured family by key; "pd" is the main model, which decides."""
    t, e = settings.training, settings.epd
    return {"pd": ModelFamily("pd", "main", t.registered_model_name, t.experiment_name),
            "epd": ModelFamily("epd", "epd", e.registered_model_name, e.experiment_name)}


def family(settings: Settings, key: str) -> ModelFamily:
    found = families(settings)
    if key not in found:
        raise UnknownFamilyError(f"unknown model family {key!r}; one of {', '.join(found)}")
    return found[key]


def family_settings(settings: Settings, key: str) -> Settings:
    """``settings`` with the family's registered name and experiment in ``training``: what the
    training, promotion and registry code read."""
    fam = family(settings, key)
    training = settings.training.model_copy(update={
        "registered_model_name": fam.registered_model_name,
        "experiment_name": fam.experiment_name})
    return settings.model_copy(update={"training": training})
