"""monitor_day on the edges: an empty warehouse is a completed day with zero counts (not an error),
and a champion description or reference that cannot be used is refused by name."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.monitor import MonitoringError, monitor_day, summary_markdown
from pipelines.settings import Settings
from pipelines.warehouse import Warehouse

DAY = date(2024, 9, 30)


def _reference(n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"ltv": rng.normal(1.0, 0.2, n), "bureau_score": rng.normal(690, 60, n),
                         "pd": rng.uniform(0.01, 0.2, n)})


CHAMPION = {"name": "creditflow-pd", "version": "4", "oot_auc": 0.76,
            "feature_names": ["ltv", "bureau_score"]}


def test_empty_day_completes_with_zero_counts(settings: Settings, sqlite_wh: Warehouse) -> None:
    result = monitor_day(settings, sqlite_wh, DAY, _reference(), CHAMPION)
    counts = result.metrics.set_index("metric")["value"]
    assert counts["n_applications"] == 0 and counts["n_scored"] == 0
    assert "score_psi" not in counts.index and "drifted_share" not in counts.index
    assert result.alerts == [] and not result.decision.fire
    assert sqlite_wh.count("monitoring_metrics") == len(result.metrics)
    manifest = sqlite_wh.read("run_manifest", "kind = 'monitor'")
    assert manifest["status"].tolist() == ["completed"]
    assert result.mlflow_run_id and result.report_paths["psi_over_time"].exists()
    summary = summary_markdown(result)
    assert "0 applications, 0 scored" in summary and "**Alerts:** none" in summary
    assert "**Retraining:** quiet" in summary

    # A rerun of the day replaces its metrics and reuses its MLflow run.
    again = monitor_day(settings, sqlite_wh, DAY, _reference(), CHAMPION)
    assert sqlite_wh.count("monitoring_metrics") == len(again.metrics) == len(result.metrics)
    assert again.mlflow_run_id == result.mlflow_run_id
    assert sqlite_wh.count("run_manifest", "kind = 'monitor'") == 1


def test_unusable_champion_or_reference_is_named(settings: Settings,
                                                 sqlite_wh: Warehouse) -> None:
    with pytest.raises(MonitoringError, match=r"lacks column.*bureau_score"):
        monitor_day(settings, sqlite_wh, DAY, _reference().drop(columns=["bureau_score"]),
                    CHAMPION)
    with pytest.raises(MonitoringError, match=r"lacks column.*pd"):
        monitor_day(settings, sqlite_wh, DAY, _reference().drop(columns=["pd"]), CHAMPION)
    with pytest.raises(MonitoringError, match="lacks version"):
        monitor_day(settings, sqlite_wh, DAY, _reference(),
                    {k: v for k, v in CHAMPION.items() if k != "version"})
