"""The typed parts of one monitoring day: what it is asked (``DayContext``), what each step found
(``DriftFindings``, ``PerformanceFindings``, ``PortfolioFindings``, together ``DayFindings``),
the metric rows it writes (``MetricRows``) and what it returns (``MonitorResult``).

Every part but the row collector is frozen: a step returns its findings instead of filling in a
shared object, so what a later step reads is exactly what an earlier one produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.settings import Settings
from pipelines.core.stage_settings import MonitoringSettings
from pipelines.monitoring.alerts import AlertOutcome
from pipelines.monitoring.drift import EvidentlyResult
from pipelines.monitoring.retrain_rules import RetrainDecision

ALERT, OK = "alert", "ok"


@dataclass(frozen=True)
class ChampionDescription:
    """The champion as monitoring compares against it."""

    name: str
    version: str
    oot_auc: float | None
    feature_names: list[str]
    top_features: list[str] = field(default_factory=list)  # by importance, most first


@dataclass(frozen=True)
class DayContext:
    """One business date's run: its settings, window, champion and report folder."""

    settings: Settings
    business_date: date
    window_start: date
    champion: ChampionDescription
    report_dir: Path
    plots: bool = True
    experiment_id: str = ""

    @property
    def cfg(self) -> MonitoringSettings:
        return self.settings.monitoring

    def note(self, n: int) -> dict[str, str]:
        """Details of a metric whose window is too small for a verdict (band left empty)."""
        floor = self.cfg.min_window_rows
        return {} if n >= floor else {"note": f"only {n} rows in the window (< {floor}): "
                                              "no verdict"}


@dataclass(frozen=True)
class DriftFindings:
    ok: bool = False  # enough rows for drift verdicts
    csi: pd.DataFrame | None = None
    score_psi: tuple[float, str] | None = None  # value, band
    score_means: tuple[float, float] | None = None  # window, reference
    evidently: EvidentlyResult | None = None
    features: pd.DataFrame | None = None  # the window's champion features, as compared


@dataclass(frozen=True)
class PerformanceFindings:
    estimate: dict[str, float] = field(default_factory=dict)
    realised: pd.DataFrame | None = None
    early: pd.DataFrame | None = None
    early_months: tuple[list[pd.Timestamp], list[pd.Timestamp]] | None = None  # recent, base
    # the early-performance target per early-matured vintage (pipelines.monitoring.early)
    early_target: pd.DataFrame | None = None


@dataclass(frozen=True)
class PortfolioFindings:
    rolls: pd.DataFrame | None = None
    roll_matrix: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None


@dataclass(frozen=True)
class DayFindings:
    n_applications: int
    n_scored: int
    drift: DriftFindings
    performance: PerformanceFindings
    portfolio: PortfolioFindings
    fairness: pd.DataFrame | None = None  # models.fairness table of the window's decisions


class MetricRows:
    """The day's ``monitoring_metrics`` rows, in the order the steps add them."""

    def __init__(self, ctx: DayContext) -> None:
        self.ctx = ctx
        self.rows: list[dict[str, Any]] = []

    def add(self, metric: str, value: float | None, segment: str = "all",
            band: str | None = None, details: dict | None = None,
            window: tuple[date, date] | None = None) -> None:
        start, end = window or (self.ctx.window_start, self.ctx.business_date)
        finite = value is not None and np.isfinite(value)
        self.rows.append({"business_date": self.ctx.business_date, "metric": metric,
                          "segment": segment, "value": float(value) if finite else None,
                          "band": band, "window_start": start, "window_end": end,
                          "details": json.dumps(details, default=_json_default)
                          if details else None})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (date, pd.Timestamp)):
        return value.isoformat()
    return str(value)


@dataclass
class MonitorResult:
    business_date: date
    window_start: date
    window_end: date
    n_applications: int
    n_scored: int
    metrics: pd.DataFrame  # the rows written to monitoring_metrics
    alerts: list[AlertOutcome]
    decision: RetrainDecision
    report_paths: dict[str, Path] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    snapshot_path: Path | None = None  # the day's snapshot in the Evidently workspace
    page: str = ""  # the risk-team page that covers the day (path or URL)
    reference: str = "training window"  # the drift reference compared against (a reset's?)

    def alert_keys(self) -> list[str]:
        return [a.condition_key for a in self.alerts]
