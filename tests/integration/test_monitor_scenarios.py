"""Monitoring on simulated books, one test per scenario (issue 8's "done when").

Set-up, paid once per module:
- a "none" book at 60 applications a day from April 2023 (old enough that roll rates are past the
  seasoning of a brand-new book), scenario onset 1 August 2024;
- a champion fitted here (models.fit + isotonic calibration) on application features of the
  pre-onset history. Its labels are the simulator's 12-month outcomes (``truth.bad_12m``), so the
  fixture needs no year-old tape; monitoring itself never sees them. The dealer-history features
  are left out: in a 20-month book they are still filling up and would drift by construction;
- a template warehouse with that book (applications from the first monitored window on, every
  loan and tape row), copied per scenario. Every scenario draws its random numbers like "none",
  so rows before the onset are identical (pipelines.simulation.simulate) and only the rows from the onset
  on are replaced by the scenario's;
- one MLflow store, one experiment per scenario.
The champion's scores are written to ``scores`` (version "1", role champion) for every monitored
day. Evidently (about 3 s a report here) runs where its verdict is asserted and behind the PSI/CSI
screen (``evidently_when = "watch"``) elsewhere, to keep the file well under a minute.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import build_features, feature_specs
from features.build import DEALER_FEATURES, HISTORY_COLUMNS
from models import metrics as M
from models.calibration import Calibrator
from models.fit import fit_booster
from models.pd_model import PDModel
from models.registry import build_reference, client_for
from models.scaling import decide_by_score, pd_to_score
from pipelines.core.settings import Settings
from pipelines.monitoring.context import MonitorResult
from pipelines.monitoring.day import monitor_day
from pipelines.monitoring.report import monitoring_summary_markdown
from pipelines.simulation.simulate import Book, fraud_dealers, simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import business_day_end, feature_config

pytestmark = pytest.mark.slow

SEED = 7
START, END, ONSET = date(2023, 4, 1), date(2024, 12, 2), date(2024, 8, 1)
PER_DAY = 60
FRAUD_START, FRAUD_PER_DAY = date(2024, 2, 1), 150  # enough volume per dealer to name one
FIRST_WINDOW = date(2024, 6, 17)  # applications and scores are loaded from here on
MODEL = "creditflow-pd"
DRIFT_KEYS = ("score_psi", "feature_drift", "feature_csi_shift")


@dataclass
class Champion:
    model: PDModel
    reference: pd.DataFrame
    info: dict


@dataclass
class World:
    root: Path
    none_book: Book
    champion: Champion
    template: Path
    tracking_uri: str


def _simulate(scenario: str, start: date = START, per_day: int = PER_DAY) -> Book:
    return simulate_book(per_day * (END - start).days, start, END, seed=SEED, scenario=scenario,
                         scenario_start=ONSET)


def _specs() -> list:
    return [s for s in feature_specs() if s.name not in DEALER_FEATURES]


def _features(apps: pd.DataFrame, as_of: date) -> pd.DataFrame:
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})
    return build_features(apps, empty, business_day_end(as_of), feature_config(Settings()),
                          _specs())


def _slice(book: Book, start: str, end: str, booked_only: bool = True):
    when = book.applications["business_date"]
    keep = (when >= pd.Timestamp(start)) & (when <= pd.Timestamp(end))
    if booked_only:
        keep &= book.truth["booked"].to_numpy()
    apps = book.applications[keep]
    return _features(apps, pd.Timestamp(end).date()), book.truth.loc[keep, "bad_12m"].to_numpy()


def _fit_champion(book: Book) -> Champion:
    X_tr, y_tr = _slice(book, "2023-10-01", "2024-02-29")
    X_es, y_es = _slice(book, "2024-03-01", "2024-03-31")
    X_cal, y_cal = _slice(book, "2024-04-01", "2024-04-30")
    X_oot, y_oot = _slice(book, "2024-05-01", "2024-06-15")
    monotone = {s.name: s.monotone for s in _specs()}
    params = {"max_depth": 3, "learning_rate": 0.1, "min_child_weight": 5.0, "subsample": 0.9,
              "colsample_bytree": 0.9, "reg_lambda": 1.0, "nthread": 2}
    booster = fit_booster(X_tr, y_tr, X_es, y_es, params, monotone, num_boost_round=300,
                          early_stopping_rounds=25, seed=0)
    cal = Calibrator("isotonic").fit(booster.inplace_predict(X_cal), y_cal)
    model = PDModel.from_training(booster, cal, X_tr, monotone, {})
    oot_auc = M.auc(y_oot, model.predict_pd(X_oot))
    # Reference: every application of the training window (scoring sees all of them, not only
    # the booked ones), as models.registry builds it for a registered champion.
    X_ref, _ = _slice(book, "2023-10-01", "2024-02-29", booked_only=False)
    reference = build_reference(model, X_ref, max_rows=20_000, seed=0)
    info = {"name": MODEL, "version": "1", "oot_auc": oot_auc,
            "feature_names": list(X_tr.columns)}
    return Champion(model, reference, info)


def _load(wh: Warehouse, book: Book, apps_from: date, rows_from: date | None = None) -> None:
    """Applications from ``apps_from``; loans and tape rows from ``rows_from`` (all if None)."""
    apps = book.applications[book.applications["business_date"] >= pd.Timestamp(apps_from)]
    loans, tape = book.loans, book.repayments
    if rows_from is not None:
        loans = loans[loans["origination_date"] >= pd.Timestamp(rows_from)]
        tape = tape[tape["as_of_month"] >= pd.Timestamp(rows_from)]
    for name, frame in (("applications", apps), ("loans", loans), ("repayments", tape)):
        wh.upsert(name, frame.assign(batch_id=f"test-{name}"))


def _write_scores(wh: Warehouse, book: Book, champion: Champion, start: date) -> None:
    apps = book.applications[book.applications["business_date"] >= pd.Timestamp(start)]
    X = _features(apps, END)
    p = champion.model.predict_pd(X)
    points = np.round(pd_to_score(p, 600.0, 50.0, 20.0), 2)  # stored as pipelines.scoring.chunks does
    wh.upsert("scores", pd.DataFrame({
        "application_id": apps["application_id"].to_numpy(), "model_version": "1",
        "role": "champion", "model_name": MODEL,
        "business_date": apps["business_date"].to_numpy(), "pd": p, "score": points,
        "decision": decide_by_score(points, 570.0, 535.0), "run_id": "fixture",
        "scored_at": pd.Timestamp("2024-01-01")}))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("monitor_scenarios")
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CREDITFLOW_") and key != "CREDITFLOW_TEST_PG_URL":
                mp.delenv(key)
        mp.setenv("CREDITFLOW_HOME", str(root / "default"))
        book = _simulate("none")
        champion = _fit_champion(book)
        template = root / "template.db"
        wh = Warehouse(f"sqlite:///{template}")
        wh.init()
        _load(wh, book, FIRST_WINDOW)
        wh.dispose()
        yield World(root, book, champion, template, f"sqlite:///{root / 'mlflow.db'}")


def _copy_db(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def _scenario(world: World, scenario: str, **monitoring: object) -> tuple[Settings, Warehouse,
                                                                           Book]:
    home = world.root / scenario
    settings = Settings(home=home, mlflow_tracking_uri=world.tracking_uri,
                        monitoring={"experiment_name": f"monitoring-{scenario}", **monitoring})
    settings.ensure_dirs()
    _copy_db(world.template, home / "warehouse.db")
    wh = Warehouse(settings.warehouse)
    book = world.none_book
    if scenario != "none":
        book = _simulate(scenario)
        before = book.repayments["as_of_month"] < pd.Timestamp(ONSET)
        same = world.none_book.repayments["as_of_month"] < pd.Timestamp(ONSET)
        assert before.sum() == same.sum()  # the simulator's promise the template relies on
        for table, col in (("applications", "business_date"), ("loans", "origination_date"),
                           ("repayments", "as_of_month")):
            wh.execute(f"DELETE FROM {table} WHERE {col} >= :d", {"d": ONSET.isoformat()})
        _load(wh, book, ONSET, rows_from=ONSET)
    _write_scores(wh, book, world.champion, FIRST_WINDOW)
    return settings, wh, book


def _always(settings: Settings) -> Settings:
    """The same settings with the Evidently report forced on."""
    monitoring = settings.monitoring.model_copy(update={"evidently_when": "always"})
    return settings.model_copy(update={"monitoring": monitoring})


def _run(settings: Settings, wh: Warehouse, world: World, day: date) -> MonitorResult:
    return monitor_day(settings, wh, day, world.champion.reference, world.champion.info)


def _drift_alerts(result: MonitorResult) -> list[str]:
    return [k for k in result.alert_keys() if k.startswith(DRIFT_KEYS)]


def test_none_is_quiet_for_120_days(world: World) -> None:
    """Stationary book: no shift-band alert, no retraining, over 120 days monitored every 14th
    day with a 14-day pooled window (the windows tile the whole span). Evidently sits behind the
    PSI/CSI screen here; its verdict on a stationary population is checked in income_shock."""
    settings, wh, _ = _scenario(world, "none", evidently_when="watch")
    days = [date(2024, 7, 1) + timedelta(days=14 * k) for k in range(9)]  # .. 2024-10-28
    results = [_run(settings, wh, world, d) for d in days]
    assert (days[-1] - days[0]).days + settings.monitoring.window_days >= 120
    for r in results:
        assert _drift_alerts(r) == [], (r.business_date, r.alert_keys())
        assert not r.decision.fire, (r.business_date, r.decision.reasons)
    assert wh.count("alerts") == 0, wh.read("alerts")[["condition_key", "message"]].to_string()
    assert wh.count("run_manifest", "kind = 'retrain_trigger'") == 0
    psi = wh.read("monitoring_metrics", "metric = 'score_psi'")
    assert len(psi) == 9 and (psi["value"] < 0.10).all()
    csi = wh.read("monitoring_metrics", "metric LIKE 'csi.%'")
    assert len(csi) == 9 * len(world.champion.info["feature_names"])
    assert (csi["band"] == "stable").all()  # so the screen never called Evidently in
    assert wh.count("monitoring_metrics", "metric = 'drifted_share'") == 0  # (see income_shock)
    for r in results:
        assert r.report_paths["psi_over_time"].exists() and r.report_paths["roll_rates"].exists()

    client = client_for(world.tracking_uri)
    exp = client.get_experiment_by_name("monitoring-none")
    assert len(client.search_runs([exp.experiment_id])) == 9  # one run per business date


def test_used_car_mix_drift_is_flagged_within_two_windows(world: World) -> None:
    """The first pooled window wholly after the onset flags the mix shift (the windows before
    it hold the same rows as "none", which stays quiet)."""
    settings, wh, _ = _scenario(world, "used_car_mix", evidently_when="watch")
    window = settings.monitoring.window_days
    after = _run(settings, wh, world, ONSET + timedelta(days=window - 1))
    assert after.report_paths.get("drift_report")  # the PSI/CSI screen called Evidently in
    assert "feature_drift" in after.alert_keys(), after.alert_keys()
    # a population shift with calibration holding: no retraining, a reference reset proposed
    d = after.decision
    assert (d.fire, d.status, d.kind, d.response) == (False, "triggered", "population_shift",
                                                      "reference_reset")
    assert any("drifted feature share" in r or "score PSI" in r for r in after.decision.reasons)
    assert "reference_reset" in after.alert_keys()
    metrics = after.metrics.set_index(["metric", "segment"])
    assert metrics.loc[("csi.is_used", "all"), "band"] == "shift"
    assert metrics.loc[("evidently.is_used", "all"), "band"] == "alert"
    message = wh.read("alerts", "condition_key = 'feature_drift'")["message"].iloc[0]
    assert "is_used" in message and str(after.report_paths["drift_report"]) in message
    client = client_for(world.tracking_uri)
    artifacts = {a.path for a in client.list_artifacts(after.mlflow_run_id, "drift")}
    assert f"drift/{after.business_date}.html" in artifacts
    plots = {a.path for a in client.list_artifacts(after.mlflow_run_id, "plots")}
    assert {"plots/psi_over_time.png", "plots/roll_rates.png",
            "plots/vintage_curves.png"} <= plots
    summary = monitoring_summary_markdown(after)
    assert "| score PSI |" in summary and "feature_drift (stored, no receiver)" in summary
    assert "**Retraining:** triggered" in summary
    assert "**Response:** reference_reset (population_shift)" in summary


def test_income_shock_is_caught_by_performance_not_feature_drift(world: World) -> None:
    """Same population, riskier: the feature screen and Evidently stay quiet while early
    delinquency (or the roll rates) raise it. Those measure the book against its past, not its
    loans against their PDs: no retraining until a vintage's bad rate is above its PDs (no
    vintage here is old enough for that by December)."""
    settings, wh, _ = _scenario(world, "income_shock", evidently_when="watch")
    results = [_run(_always(settings), wh, world, date(2024, 10, 1)),
               _run(settings, wh, world, date(2024, 12, 1))]
    for r in results:
        assert _drift_alerts(r) == [], (r.business_date, r.alert_keys())
        bands = r.metrics.loc[r.metrics["metric"].str.startswith("csi."), "band"]
        assert set(bands) <= {"stable", "watch"}
    share = results[0].metrics.set_index(["metric", "segment"]).loc[("drifted_share", "all")]
    assert share["value"] <= settings.monitoring.drift_share_threshold
    raised = [k for r in results for k in r.alert_keys()]
    assert any(k.startswith(("roll_rate:", "early_delinquency:all")) for k in raised), raised
    for r in results:  # a response only for outcomes above the PDs of the same loans
        assert r.decision.status == "quiet" or (
            (r.decision.kind, r.decision.response) == ("calibration_drift", "recalibration")
            and any("bad rate above predicted" in x for x in r.decision.reasons)), r.decision


def test_dealer_fraud_names_the_dealer(world: World) -> None:
    home = world.root / "dealer_fraud"
    settings = Settings(home=home, mlflow_tracking_uri=world.tracking_uri,
                        monitoring={"experiment_name": "monitoring-dealer_fraud",
                                    "evidently_when": "watch"})
    settings.ensure_dirs()
    wh = Warehouse(settings.warehouse)
    wh.init()
    book = _simulate("dealer_fraud", FRAUD_START, FRAUD_PER_DAY)
    day = date(2024, 12, 1)
    _load(wh, book, day - timedelta(days=settings.monitoring.window_days))
    _write_scores(wh, book, world.champion, day - timedelta(days=settings.monitoring.window_days))
    result = _run(settings, wh, world, day)
    ring = set(fraud_dealers(300, SEED))
    named = [k.split("=", 1)[1] for k in result.alert_keys()
             if k.startswith("early_delinquency:dealer_id=")]
    assert named and set(named) <= ring, (named, sorted(ring))
    alert = wh.read("alerts", "condition_key = :k", {"k": f"early_delinquency:dealer_id={named[0]}"})
    assert f"dealer_id={named[0]}" in alert["message"].iloc[0]
    segment = result.metrics[(result.metrics["metric"] == "early_delinquency")
                             & (result.metrics["segment"] == f"dealer_id={named[0]}")]
    assert segment["band"].tolist() == ["alert"]
    # A dealer's alert is for a person to look at, not a reason to retrain.
    assert not any("dealer" in r for r in result.decision.reasons)
    assert "A0" not in alert["message"].iloc[0]  # no applicant id in what leaves the warehouse


def test_fixture_champion_is_honest(world: World) -> None:
    """The scenarios are judged against a champion in the honest AUC range (no leak)."""
    assert np.isfinite(world.champion.info["oot_auc"])
    assert 0.6 < world.champion.info["oot_auc"] < 0.9
