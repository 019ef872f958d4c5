"""Which features a book can train: those with data in the training window.

A lender's book rarely has every built-in feature: a book without vehicles has no LTV, one
without a bureau feed has no bureau score. A feature with (almost) no values, or a single value,
in the training window teaches the model nothing and would be imputed for every applicant; it is
left out of the model, with the reason recorded (MLflow and the model card), and scoring builds
only the champion's own features.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from features.registry import FeatureSpec


def features_with_data(X: pd.DataFrame, specs: Sequence[FeatureSpec],
                       min_coverage: float) -> tuple[list[FeatureSpec], dict[str, str]]:
    """The specs whose feature has a value in at least ``min_coverage`` of ``X``'s rows and more
    than one distinct value, and, for every other one, why it was left out."""
    kept: list[FeatureSpec] = []
    dropped: dict[str, str] = {}
    for spec in specs:
        values = X[spec.name]
        share = float(values.notna().mean()) if len(values) else 0.0
        if share == 0.0:
            dropped[spec.name] = "no value in the training window"
        elif share < min_coverage:
            dropped[spec.name] = (f"a value in only {share:.1%} of the training window "
                                  f"(training.min_feature_coverage {min_coverage:.0%})")
        elif values.nunique(dropna=True) < 2:
            dropped[spec.name] = (f"a single value ({values.dropna().iloc[0]}) in the training "
                                  "window")
        else:
            kept.append(spec)
    return kept, dropped
