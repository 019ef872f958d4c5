"""Point-in-time features, the target with maturity, and the feature registry (pure pandas)."""

from features.build import (
    RATE_BENCHMARK,
    FeatureConfig,
    FeatureInputError,
    LeakageError,
    build_features,
    check_leakage,
    dealer_history,
)
from features.registry import (
    FEATURES,
    FeatureRegistryError,
    FeatureSpec,
    feature_specs,
    monotone_constraints,
)
from features.target import label_applications, maturity_summary

__all__ = [
    "FEATURES",
    "RATE_BENCHMARK",
    "FeatureConfig",
    "FeatureInputError",
    "FeatureRegistryError",
    "FeatureSpec",
    "LeakageError",
    "build_features",
    "check_leakage",
    "dealer_history",
    "feature_specs",
    "label_applications",
    "maturity_summary",
    "monotone_constraints",
]
