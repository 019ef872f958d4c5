"""The models of a scoring run: the champion (required) and the challenger (optional, scored in
shadow), each checked against the feature builder and given the cut-offs it decides with."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from features import FEATURES, feature_specs
from features.registry import FeatureSpec
from models.pd_model import CATEGORY, PDModel
from models.policy import ScoringPolicy
from models.registry import CHAMPION as CHAMPION_ALIAS
from models.registry import RegistryError, aliases, load_pd_model, version_info
from pipelines.champion import NoChampionError, champion_version, current_champion
from pipelines.core.errors import CreditflowError
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings, redact
from pipelines.scoring.reason_codes import reason_table

CHAMPION, SHADOW = "champion", "shadow"
EPD = "epd"  # the early-payment-default family's champion, scored beside the PD champion


class ScoringError(CreditflowError):
    """Scoring cannot run; nothing was written."""


@dataclass
class ScoringModel:
    """One model of a run with the cut-offs its decisions use."""

    model: PDModel
    role: str
    approve_at: float
    decline_below: float


ModelLoader = Callable[[], list[ScoringModel]]


def load_models(settings: Settings) -> list[ScoringModel]:
    """The champion (required) and the challenger (optional, scored in shadow), loaded once per
    run by version number from one read of the aliases: an alias moving during the run cannot
    mix two versions."""
    uri, name = settings.tracking_uri, settings.training.registered_model_name
    try:
        found = aliases(uri, name)
    except Exception as exc:
        raise ScoringError(f"model registry unreachable: {redact(str(exc))[:200]}") from None
    try:
        champion = current_champion(settings, champion_version(settings, found),
                                    reference=False)
    except NoChampionError as exc:  # scoring's callers know one error: nothing was written
        raise ScoringError(str(exc)) from None
    out = [_serving(settings, champion.model, CHAMPION)]
    challenger = found.get("challenger")
    if challenger is not None and challenger != champion.version:
        out.append(_serving(settings, _load(uri, name, challenger, SHADOW), SHADOW))
    return out + auxiliary_models(settings)


def auxiliary_models(settings: Settings) -> list[ScoringModel]:
    """The EPD family's champion (role ``epd``), if it has one: the decision policy combines
    it with the PD champion's decisions (``pipelines.scoring.combine``); none: the PD decides
    alone."""
    epd = family_settings(settings, "epd")
    uri, name = epd.tracking_uri, epd.training.registered_model_name
    try:
        version = aliases(uri, name).get(CHAMPION_ALIAS)
    except Exception as exc:
        raise ScoringError(f"model registry unreachable: {redact(str(exc))[:200]}") from None
    if version is None:
        return []
    return [_serving(settings, _load(uri, name, version, EPD), EPD)]


def _serving(settings: Settings, model: PDModel, role: str) -> ScoringModel:
    check_signature(model)
    return ScoringModel(model, role, *recorded_cutoffs(settings, model))


def _load(uri: str, name: str, version: str, role: str) -> PDModel:
    try:
        return load_pd_model(uri, name, version=version)
    except RegistryError as exc:
        raise ScoringError(f"cannot load the {role} model ({name} version {version}): "
                           f"{redact(str(exc))[:500]}") from None


def model_specs(model: PDModel) -> list[FeatureSpec]:
    """The specs the scoring frame is built from, in the model's order: the registry's built-in
    features the model uses (training leaves out those a book has no data for) plus its own
    bring-your-own extras (their categories as trained). A name the registry does not know is
    left for ``check_signature`` to refuse."""
    builtin = {s.name for s in FEATURES}
    extras = [n for n in model.feature_names if n not in builtin]
    numeric = [n for n in extras if model.feature_dtypes.get(n) != CATEGORY]
    categorical = {n: model.categories.get(n, []) for n in extras if n not in numeric}
    # a policy output the model was trained on is built for it; the leakage guard still
    # refuses it unless the configuration allows it
    specs = feature_specs(numeric, categorical, allowed_policy_outputs=model.feature_names)
    by_name = {s.name: s for s in specs}
    return [by_name[n] for n in model.feature_names if n in by_name]


def check_signature(model: PDModel) -> None:
    """Every feature the model was trained on must be one the builder can produce for it."""
    built = {s.name for s in model_specs(model)}
    missing = [c for c in model.feature_names if c not in built]
    if missing:
        raise ScoringError(f"signature mismatch: {model.name} version {model.version} needs "
                           f"{missing}, which the feature builder does not produce; nothing "
                           "was scored")


def recorded_cutoffs(settings: Settings, model: PDModel) -> tuple[float, float]:
    """Configured cut-offs, or, with ``target_approval_rate`` set, the ones derived when the
    version was trained (tag ``cutoffs``): the decisions it was judged and promoted on."""
    sc = settings.scoring
    if sc.target_approval_rate is None:
        return sc.approve_at, sc.decline_below
    tags = version_info(settings.tracking_uri, str(model.name), str(model.version))["tags"]
    try:
        cut = json.loads(tags["cutoffs"])
        return float(cut["approve_at"]), float(cut["decline_below"])
    except (KeyError, TypeError, ValueError):
        raise ScoringError(f"{model.name} version {model.version} has no derived cut-offs "
                           "(tag 'cutoffs') although scoring.target_approval_rate is set; "
                           "retrain it or unset target_approval_rate") from None


def scoring_policy(settings: Settings, approve_at: float | None = None,
                   decline_below: float | None = None, reasons: bool = True) -> ScoringPolicy:
    """The settings' scaling and reason codes with these cut-offs (``recorded_cutoffs``; default the
    configured ones); training bakes the same policy into the registered model, so the served
    model decides alike."""
    sc = settings.scoring
    return ScoringPolicy(base_score=sc.base_score, base_odds=sc.base_odds, pdo=sc.pdo,
                         approve_at=sc.approve_at if approve_at is None else approve_at,
                         decline_below=sc.decline_below if decline_below is None
                         else decline_below,
                         reason_codes=sc.reason_codes if reasons else 0,
                         exact_contributions=sc.exact_contributions,
                         reason_table=reason_table(settings).as_rows())
