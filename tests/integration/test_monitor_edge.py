"""monitor_day on the edges: an empty warehouse is a completed day with zero counts (not an error),
and a champion description or reference that cannot be used is refused by name."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.scaling import decide_by_score, pd_to_score
from pipelines.core.settings import Settings
from pipelines.monitoring.day import MonitoringError, monitor_day
from pipelines.monitoring.report import monitoring_summary_markdown
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.engine import Warehouse

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
    summary = monitoring_summary_markdown(result)
    assert "0 applications, 0 scored" in summary and "**Alerts:** none" in summary
    assert "**Retraining:** quiet" in summary

    # A rerun of the day replaces its metrics and reuses its MLflow run.
    again = monitor_day(settings, sqlite_wh, DAY, _reference(), CHAMPION)
    assert sqlite_wh.count("monitoring_metrics") == len(again.metrics) == len(result.metrics)
    assert again.mlflow_run_id == result.mlflow_run_id
    assert sqlite_wh.count("run_manifest", "kind = 'monitor'") == 1


def test_score_psi_ignores_rounded_points_on_tied_pds(settings: Settings,
                                                    sqlite_wh: Warehouse) -> None:
    """Isotonic PDs tie in blocks and scoring stores points rounded to 2 decimals: a tie block
    on a reference edge must not jump a bin (the PSI is taken on the PD)."""
    rng = np.random.default_rng(1)
    levels = np.array([0.0113, 0.023684, 0.0519, 0.104478, 0.2377])
    ref = _reference(5_000)
    ref["pd"] = rng.choice(levels, len(ref))
    ref["score"] = pd_to_score(ref["pd"], 600.0, 50.0, 20.0)
    pds = rng.choice(levels, 1_000)
    points = np.round(pd_to_score(pds, 600.0, 50.0, 20.0), 2)
    sqlite_wh.upsert("scores", pd.DataFrame({
        "application_id": [f"A{i:09d}" for i in range(pds.size)], "model_version": "4",
        "role": "champion", "model_name": "creditflow-pd", "business_date": pd.Timestamp(DAY),
        "pd": pds, "score": points, "decision": decide_by_score(points, 570.0, 535.0), "run_id": "t",
        "scored_at": pd.Timestamp(DAY)}))
    result = monitor_day(settings, sqlite_wh, DAY, ref, CHAMPION)
    psi = result.metrics.set_index("metric").loc["score_psi"]
    assert psi["value"] < 0.02 and psi["band"] == "stable"


def test_matured_vintages_get_realised_performance(settings: Settings,
                                                   sqlite_wh: Warehouse) -> None:
    """A champion that scored 2023-03..06 with the true PDs (perfectly calibrated): on 30 June
    2024 the three latest fully matured vintages (April-June 2023; March is older than
    ``realised_vintages``) are labelled from the tape and reported, and none alerts."""
    book = simulate_book(4_000, date(2022, 7, 1), date(2024, 6, 30), seed=11)
    for name in ("applications", "loans", "repayments"):
        sqlite_wh.upsert(name, getattr(book, name).assign(batch_id="t"))
    keep = ((book.applications["business_date"] >= "2023-03-01")
            & (book.applications["business_date"] <= "2023-06-30")).to_numpy()
    apps, truth = book.applications[keep], book.truth[keep]
    sqlite_wh.upsert("scores", pd.DataFrame({
        "application_id": apps["application_id"], "model_version": "4", "role": "champion",
        "model_name": "creditflow-pd", "business_date": apps["business_date"],
        "pd": truth["true_pd"], "score": 0.0, "decision": "approve", "run_id": "t",
        "scored_at": pd.Timestamp("2023-04-01")}))
    result = monitor_day(settings, sqlite_wh, date(2024, 6, 30), _reference(), CHAMPION)
    realised = result.metrics[result.metrics["metric"].str.startswith(("realised_", "predicted_"))]
    assert sorted(set(realised["segment"])) == ["vintage=2023-04", "vintage=2023-05",
                                                "vintage=2023-06"]
    auc = realised[realised["metric"] == "realised_auc"]
    assert (auc["value"] > 0.6).all()
    assert auc["band"].isna().all()  # a few dozen bads a month: reported, no verdict
    bad = realised[realised["metric"] == "realised_bad_rate"]
    assert (bad["band"] == "ok").all()  # true PDs: no vintage above prediction
    assert not any(k.startswith("bad_rate:") for k in result.alert_keys())


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
