"""models.ranges.out_of_range: share of scoring values outside the training range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ranges import out_of_range


def test_shares_below_and_above_the_training_range_per_feature() -> None:
    train = pd.DataFrame({"count": [0.0, 5, 10, np.nan], "ltv": [0.5, 0.9, 1.2, 1.0],
                          "housing": pd.Categorical(["own", "rent", "own", "own"])})
    scoring = pd.DataFrame({"count": [3.0, 11, 12, 20, np.nan], "ltv": [0.4, 0.8, 1.0, 1.1, 1.2],
                            "housing": pd.Categorical(["own"] * 5)})
    table = out_of_range(train, scoring, ["count", "ltv", "housing", "absent"]).set_index(
        "feature")
    assert list(table.index) == ["count", "ltv"]  # categories and absent columns skipped
    assert (table.loc["count", "train_min"], table.loc["count", "train_max"]) == (0.0, 10.0)
    assert table.loc["count", "share_above"] == pytest.approx(3 / 4)  # NaN not counted
    assert table.loc["ltv", "share_below"] == pytest.approx(1 / 5)
    assert table.loc["ltv", "share_out"] == pytest.approx(1 / 5)  # 1.2 is inside: inclusive
