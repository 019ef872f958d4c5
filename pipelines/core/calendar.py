"""Time windows of a training run: train, early stopping, calibration, out-of-time (OOT).

Never a random split. The windows follow each other without overlap, and the OOT window ends no
later than ``as_of`` minus the performance window, so every loan in it has a matured label.
All windows are whole calendar months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from pipelines.core.errors import CreditflowError


class WindowError(CreditflowError):
    """The requested windows are impossible (overlap, immature OOT, no data)."""


@dataclass(frozen=True)
class Windows:
    train: tuple[date, date]
    early_stopping: tuple[date, date]
    calibration: tuple[date, date]
    oot: tuple[date, date]
    as_of: date  # labels and dealer history are read as known on this date

    def as_dict(self) -> dict[str, tuple[date, date]]:
        return {"train": self.train, "early_stopping": self.early_stopping,
                "calibration": self.calibration, "oot": self.oot}

    def tags(self) -> dict[str, str]:
        out = {f"window.{k}": f"{a.isoformat()}..{b.isoformat()}"
               for k, (a, b) in self.as_dict().items()}
        out["window.as_of"] = self.as_of.isoformat()
        return out


def business_day_end(day: date, future_minutes: int = 0) -> pd.Timestamp:
    """The last instant of a business date: the ``as_of`` of that date's scoring run. The
    validation gate adds ``future_minutes``, the clock skew it tolerates in a batch's
    timestamps."""
    last = pd.Timestamp(day).normalize() + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return last + pd.Timedelta(minutes=future_minutes)


def month_end(day: date) -> date:
    return (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()


def _months_back(end: date, months: int) -> tuple[date, date]:
    """The ``months`` whole months ending on month-end ``end``."""
    start = (pd.Period(end, freq="M") - (months - 1)).start_time.date()
    return start, end


def _previous_month_end(day: date) -> date:
    return (pd.Timestamp(day).replace(day=1) - pd.Timedelta(days=1)).date()


def latest_matured_month_end(as_of: date, performance_months: int) -> date:
    """Last month end whose every loan has ``performance_months`` on book by ``as_of``."""
    cut = (pd.Timestamp(as_of) - pd.DateOffset(months=performance_months)).date()
    end = month_end(cut)
    return end if end <= cut else _previous_month_end(cut)


def plan_windows(as_of: date, performance_months: int, train_months: int,
                 early_stopping_months: int, calibration_months: int, oot_months: int,
                 train_end: date | None = None) -> Windows:
    """Windows ending at the latest matured OOT month, or following ``train_end`` if given."""
    if min(train_months, early_stopping_months, calibration_months, oot_months) < 1:
        raise WindowError("every window needs at least one month")
    latest = latest_matured_month_end(as_of, performance_months)
    if train_end is None:
        oot = _months_back(latest, oot_months)
        cal = _months_back(_previous_month_end(oot[0]), calibration_months)
        es = _months_back(_previous_month_end(cal[0]), early_stopping_months)
        train = _months_back(_previous_month_end(es[0]), train_months)
    else:
        train = _months_back(month_end(train_end), train_months)
        es = _following(train[1], early_stopping_months)
        cal = _following(es[1], calibration_months)
        oot = _following(cal[1], oot_months)
        if oot[1] > latest:
            raise WindowError(
                f"OOT window {oot[0]}..{oot[1]} is not matured as of {as_of}: loans need "
                f"{performance_months} months on book, so it must end by {latest}; use an "
                f"earlier --train-end or fewer --oot-months")
    return Windows(train=train, early_stopping=es, calibration=cal, oot=oot, as_of=as_of)


def _following(prev_end: date, months: int) -> tuple[date, date]:
    start = (pd.Timestamp(prev_end) + pd.Timedelta(days=1)).date()
    return start, month_end((pd.Timestamp(start) + pd.DateOffset(months=months - 1)).date())


def window_of(business_dates: pd.Series, windows: Windows) -> pd.Series:
    """The window name of each business date ("" outside every window)."""
    out = pd.Series("", index=business_dates.index, dtype=object)
    days = pd.to_datetime(business_dates)
    for name, (start, end) in windows.as_dict().items():
        out[(days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))] = name
    return out
