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
    key: str  # "pd" | "epd" | "roll": how flows and the CLI name it
    # the label it learns: "main" | "epd" | "roll" (pipelines.warehouse.history.target_config);
    # "roll" learns on loan-month rows (pipelines.training.rollset), the others on applications
    target: str
    registered_model_name: str
    experiment_name: str
    # the family's own thresholds of the shared promotion gates (``settings.promotion`` keys)
    promotion: tuple[tuple[str, float], ...] = ()


def families(settings: Settings) -> dict[str, ModelFamily]:
    """Every configured family by key; "pd" is the main model, which decides; "roll" is the
    collections roll-forward model (``settings.collections``)."""
    t, e, c = settings.training, settings.epd, settings.collections
    return {"pd": ModelFamily("pd", "main", t.registered_model_name, t.experiment_name),
            "epd": ModelFamily("epd", "epd", e.registered_model_name, e.experiment_name),
            "roll": ModelFamily("roll", "roll", c.registered_model_name, c.experiment_name,
                                (("max_ece", c.max_ece),))}


def family(settings: Settings, key: str) -> ModelFamily:
    found = families(settings)
    if key not in found:
        raise UnknownFamilyError(f"unknown model family {key!r}; one of {', '.join(found)}")
    return found[key]


def family_settings(settings: Settings, key: str) -> Settings:
    """``settings`` with the family's registered name and experiment in ``training`` and its own
    promotion thresholds, if any: what the training, promotion and registry code read."""
    fam = family(settings, key)
    training = settings.training.model_copy(update={
        "registered_model_name": fam.registered_model_name,
        "experiment_name": fam.experiment_name})
    promotion = settings.promotion.model_copy(update=dict(fam.promotion))
    return settings.model_copy(update={"training": training, "promotion": promotion})
