"""Features with no data in the training window are left out, with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import feature_specs
from features.coverage import features_with_data


def test_empty_sparse_and_constant_features_are_left_out_with_the_reason() -> None:
    specs = [s for s in feature_specs() if s.name in ("ltv", "pti", "bureau_score", "term_months")]
    n = 100
    X = pd.DataFrame({"ltv": np.nan, "pti": np.where(np.arange(n) < 3, 0.2, np.nan),
                      "bureau_score": np.linspace(500, 800, n), "term_months": 60.0},
                     index=range(n))
    kept, dropped = features_with_data(X, specs, min_coverage=0.05)
    assert [s.name for s in kept] == ["bureau_score"]
    assert dropped == {
        "ltv": "no value in the training window",
        "pti": "a value in only 3.0% of the training window (training.min_feature_coverage 5%)",
        "term_months": "a single value (60.0) in the training window"}
