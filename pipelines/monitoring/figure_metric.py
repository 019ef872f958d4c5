"""``CreditflowFigure``: one of creditflow's figures of the day (score PSI on every row,
estimated and realised AUC, approval rate) as an Evidently 0.7 single-value metric, so a
workspace snapshot stores and its dashboard plots it like Evidently's own.

A module of its own because importing Evidently costs 3-4 s: only a process that takes a
snapshot pays it, not every flow, worker run or command that imports the monitoring stage.
"""

from __future__ import annotations

import math
from typing import Any

from evidently._pydantic_compat import PrivateAttr
from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

FIGURES = {"score_psi": "score PSI (every row of the window)",
           "estimated_auc": "estimated AUC (from PDs)",
           "realised_auc": "realised AUC (latest matured vintage)",
           "approval_rate": "approval rate"}


class CreditflowFigure(SingleValueMetric):
    """One of creditflow's figures of the day, carried into the snapshot as a single value.
    Only ``figure`` is a parameter, so every day's value lands on the same dashboard series;
    the value itself is private (set by ``figure_metric``)."""

    figure: str
    _value: float = PrivateAttr(default=math.nan)


class CreditflowFigureCalculation(SingleValueCalculation[CreditflowFigure]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
        return self.result(self.metric._value)

    def display_name(self) -> str:
        return FIGURES.get(self.metric.figure, self.metric.figure)


def figure_metric(name: str, value: float) -> CreditflowFigure:
    metric = CreditflowFigure(figure=name)
    metric._value = float(value)
    return metric
