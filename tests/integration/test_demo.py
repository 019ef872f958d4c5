"""The end-to-end demo, small: history, a first champion, then simulated days ingested, scored and
monitored; the drift scenario starts mid-way and the story must hold."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from models.registry import get_alias_version
from pipelines.core.settings import Settings
from pipelines.monitoring.retrain_rules import CHALLENGER_RESPONSES, REFERENCE_RESET
from pipelines.simulation.demo import DemoPlan
from pipelines.warehouse.engine import Warehouse

pytestmark = pytest.mark.slow
DRIFT_KEYS = ("score_psi", "feature_csi_shift", "feature_drift")
PLAN = DemoPlan(days=42, per_day=150, history_per_day=25, scenario="used_car_mix", onset_day=14)


@pytest.fixture
def demo_run(home: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> dict:
    # a short quarter: small days, a quick model, the shift at day 21
    monkeypatch.setenv("CREDITFLOW_TRAINING__N_ESTIMATORS", "200")
    monkeypatch.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "300")
    from flows.demo import demo

    return demo(days=PLAN.days, per_day=PLAN.per_day, history_per_day=PLAN.history_per_day,
                scenario=PLAN.scenario, onset_day=PLAN.onset_day, progress=False)


def test_demo_tells_the_story(demo_run: dict) -> None:
    s = Settings()
    wh = Warehouse.from_settings(s)
    plan = PLAN
    name = s.training.registered_model_name
    assert get_alias_version(s.tracking_uri, name, "champion") is not None

    # every simulated day scored, once per application and role
    per_day = wh.execute(
        "SELECT business_date, COUNT(*), COUNT(DISTINCT application_id) FROM scores "
        "WHERE role = 'champion' AND business_date >= :a GROUP BY business_date",
        {"a": plan.demo_start}).all()
    assert len(per_day) == plan.days
    assert all(n == distinct and n > 0 for _, n, distinct in per_day)
    apps = wh.count("applications", "business_date >= :a", {"a": plan.demo_start})
    assert sum(n for _, n, _ in per_day) == apps

    # drift alerts after onset, none before
    alerts = wh.read("alerts", "business_date >= :a", {"a": plan.demo_start})
    drift = alerts[alerts["condition_key"].str.startswith(DRIFT_KEYS)]
    assert not drift.empty
    assert drift["business_date"].min().date() >= plan.onset
    assert drift["business_date"].min().date() <= plan.onset + timedelta(days=28)

    # one drift response inside the cool-down, recorded with its kind: a reviewed reference
    # reset (the population moved, no retraining) or a challenger with its promotion decision
    assert len(demo_run["retrainings"]) == 1
    response = demo_run["retrainings"][0]["response"]
    assert response in (REFERENCE_RESET, *CHALLENGER_RESPONSES)
    audits = wh.read("promotion_audit", "model_name = :n", {"n": name})
    assert len(audits) == 1 + (response in CHALLENGER_RESPONSES)  # the first model's first
    assert audits["decision"].iloc[0] == "promoted"
    assert len(demo_run["weeks"]) == PLAN.days // 7

    # what it draws for people: figures weekly and on the last day, Data Docs for batches
    # with an issue, and the commands to open them
    monitoring = Path(s.reports_dir) / "monitoring"
    drawn = sorted(p.parent.name for p in monitoring.glob("*/psi_over_time.png"))
    assert drawn[-1] == plan.demo_end.isoformat()
    assert len(drawn) == plan.days // 7 + (plan.days % 7 != 0)
    results = wh.read("validation_results", "batch_id LIKE 'demo-%'")
    with_page = results["report_path"].notna()
    assert (results.loc[with_page, "status"] != "passed").all()
    assert (results.loc[~with_page, "status"] == "passed").all()
    assert "--host 127.0.0.1" in demo_run["open"]["mlflow_ui"]
    # the risk team's pages: a report per simulated week's end, listed on the index
    index = Path(demo_run["open"]["risk_pages"])
    weeks = sorted((index.parent / "risk").glob("week-*.html"))
    assert index.is_file() and len(weeks) >= PLAN.days // 7
    assert all(f'href="risk/{w.name}"' in index.read_text() for w in weeks)
    assert "--host 127.0.0.1" in demo_run["open"]["evidently_ui"]
