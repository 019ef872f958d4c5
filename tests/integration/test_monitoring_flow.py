"""The daily-monitoring flow on a trained home: metrics on record, and a retrain trigger that
starts the training flow (as a subflow: no Prefect server configured) ending in promotion."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from models.registry import client_for
from pipelines.core.settings import Settings
from pipelines.scoring.run import score_day
from pipelines.warehouse.engine import Warehouse

pytestmark = pytest.mark.slow
DAY = date(2025, 6, 29)


def _score_window(s: Settings, wh: Warehouse) -> None:
    for offset in range(s.monitoring.window_days):
        score_day(s, wh, DAY - timedelta(days=offset))


def test_monitor_command_records_metrics(trained_home: Path, prefect_harness: None,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "100")
    s = Settings()
    wh = Warehouse.from_settings(s)
    _score_window(s, wh)
    result = CliRunner().invoke(app, ["monitor", "--date", DAY.isoformat(), "--no-retrain",
                                      "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["business_date"] == DAY.isoformat()
    metrics = wh.read("monitoring_metrics", "business_date = :d", {"d": DAY})
    assert {"score_psi", "n_applications"} <= set(metrics["metric"])
    assert wh.count("run_manifest", "kind = 'monitor'") == 1


def test_a_population_shift_proposes_a_reference_reset_not_a_retraining(
        trained_home: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands so tight that the ordinary noise of a small window counts as a shift, with no
    outcome worse than the PDs: the policy answers with a reference reset to review, and no
    training run starts (challenger responses through promotion: test_drift_response)."""
    monkeypatch.setenv("CREDITFLOW_MONITORING__PSI_BANDS", "[0.0, 0.000001]")
    monkeypatch.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "100")
    s = Settings()
    wh = Warehouse.from_settings(s)
    _score_window(s, wh)
    from flows.monitoring import daily_monitoring

    out = daily_monitoring(business_date=DAY)
    assert out["retrain"] == "triggered" and "reference_reset" in out["alerts"], out
    assert "retraining" not in out
    trigger = wh.read("run_manifest", where="kind = 'retrain_trigger'")
    assert len(trigger) == 1 and "reference_reset" in trigger["details"].iloc[0]
    assert wh.count("promotion_audit") == 0
    versions = client_for(s.tracking_uri).search_model_versions(
        f"name = '{s.training.registered_model_name}'")
    assert sorted(str(v.version) for v in versions) == ["1"]
