from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pandas as pd
import pytest

from pipelines.core.calendar import WindowError, latest_matured_month_end, plan_windows, window_of


@pytest.mark.parametrize("as_of", [date(2025, 6, 30), date(2025, 6, 14), date(2024, 2, 29),
                                   date(2025, 1, 1)])
@pytest.mark.parametrize("months", [(24, 2, 2, 3), (6, 1, 1, 1), (12, 3, 1, 6)])
def test_windows_follow_each_other_without_overlap(as_of: date, months: tuple) -> None:
    w = plan_windows(as_of, 12, *months)
    spans = list(w.as_dict().values())
    for (a, b), (c, d) in pairwise(spans):
        assert a <= b and c <= d
        assert c == b + timedelta(days=1), "windows must touch, not overlap or leave gaps"
    for (start, end), n in zip(spans, months, strict=True):
        assert start.day == 1 and (end + timedelta(days=1)).day == 1  # whole months
        assert (end.year - start.year) * 12 + end.month - start.month + 1 == n


def test_oot_ends_where_every_loan_has_matured() -> None:
    w = plan_windows(date(2025, 6, 14), 12, 24, 2, 2, 3)
    assert w.oot[1] == date(2024, 5, 31)
    # the last loan of the OOT window has 12 months on book by as_of
    assert pd.Timestamp(w.oot[1]) + pd.DateOffset(months=12) <= pd.Timestamp(w.as_of)
    assert latest_matured_month_end(date(2025, 6, 30), 12) == date(2024, 6, 30)


def test_train_end_given_places_later_windows_after_it() -> None:
    w = plan_windows(date(2025, 6, 30), 12, 12, 1, 1, 2, train_end=date(2023, 6, 15))
    assert w.train == (date(2022, 7, 1), date(2023, 6, 30))
    assert w.oot == (date(2023, 9, 1), date(2023, 10, 31))


def test_immature_oot_is_refused_with_the_reason() -> None:
    with pytest.raises(WindowError, match="not matured"):
        plan_windows(date(2025, 6, 30), 12, 12, 1, 1, 3, train_end=date(2024, 12, 31))


def test_window_of_labels_each_date() -> None:
    w = plan_windows(date(2025, 6, 30), 12, 2, 1, 1, 1)
    days = pd.Series(pd.to_datetime(["2024-02-15", "2024-03-31", "2024-05-01", "2024-06-30",
                                     "2024-07-01"]))
    assert window_of(days, w).tolist() == ["train", "train", "calibration", "oot", ""]
