"""A figure drawn once per process for the same data: the memo returns what drawing it again
would, and any change to the data, labels or title draws it anew."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipelines.monitoring import plots
from pipelines.monitoring.html_page import figure_img, frame_key, memo_figure_img


def _matrix(scale: float = 1.0) -> pd.DataFrame:
    values = np.array([[0.9, 0.1], [0.4 * scale, np.nan]])
    return pd.DataFrame(values, index=["current", "1-30"], columns=["current", "1-30"])


def test_memo_draws_once_and_returns_the_same_img() -> None:
    drawn: list[str] = []

    def build(matrix: pd.DataFrame, title: str) -> Figure:
        drawn.append(title)
        return plots.roll_rate_heatmap(matrix, title)

    m = _matrix()
    first = memo_figure_img(("t", "A", frame_key(m)), lambda: build(m, "A"), "alt")
    again = memo_figure_img(("t", "A", frame_key(_matrix())), lambda: build(m, "A"), "alt")
    assert first == again == figure_img(plots.roll_rate_heatmap(m, "A"), "alt")
    assert drawn == ["A"]
    changed = _matrix(1.0 + 1e-12)
    memo_figure_img(("t", "A", frame_key(changed)), lambda: build(changed, "A"), "alt")
    memo_figure_img(("t", "B", frame_key(m)), lambda: build(m, "B"), "alt")
    assert drawn == ["A", "A", "B"]


def test_frame_key_holds_labels_and_values_exactly() -> None:
    m = _matrix()
    assert frame_key(m) == frame_key(m.copy())
    assert frame_key(m) != frame_key(m.rename(index={"1-30": "31-60"}))
    assert frame_key(m) != frame_key(m.fillna(0.0))
    words = pd.DataFrame({"a": ["x", "y"]})
    assert frame_key(words) == frame_key(words.copy())
    assert frame_key(words) != frame_key(pd.DataFrame({"a": ["x", "z"]}))
