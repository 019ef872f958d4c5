"""The training stage on a small simulated book: what lands in MLflow and the registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.registry import client_for, get_alias_version, load_pd_model, load_reference
from models.scaling import pd_to_score
from pipelines.core.settings import Settings
from pipelines.training.evaluate import derive_cutoffs
from pipelines.training.trainset import load_training_set, windows_for
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import load_applications


@pytest.fixture
def champion_run(trained_settings: Settings) -> tuple[Settings, object]:
    s = trained_settings
    version = get_alias_version(s.tracking_uri, s.training.registered_model_name, "champion")
    client = client_for(s.tracking_uri)
    mv = client.get_model_version(s.training.registered_model_name, version)
    return s, client.get_run(mv.run_id)


def test_run_records_windows_counts_versions_and_oot_metrics(champion_run) -> None:
    s, run = champion_run
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    for key in ("window.train", "window.early_stopping", "window.calibration", "window.oot",
                "window.as_of", "config_hash", "git_commit", "count.train.rows",
                "count.oot.bads", "count.immature_total", "triggered_by"):
        assert key in tags, key
    assert tags["config_hash"] == s.config_hash()
    for key in ("oot_auc", "oot_ks", "oot_gini", "oot_brier", "oot_log_loss", "oot_ece",
                "baseline_oot_auc", "train_auc", "oot_approval_rate",
                "oot_bad_rate_approved", "oot_score_psi_train_vs_oot",
                "reasons_topk_set_agreement"):
        assert key in metrics, key
    # honest range: a credit model on application data far above 0.9 means a leak
    assert 0.65 < metrics["oot_auc"] < 0.9
    # the fitted booster was swept along every constrained feature: no direction broken
    assert metrics["monotone_violations"] == 0
    assert params["seed"] == str(s.seed)


def test_run_records_learning_curves_every_round(champion_run) -> None:
    """The curves of the curve sample and the early-stopping slice, one step a round, up to
    early stopping's patience past the best round (which the valid log loss curve bottoms at)."""
    s, run = champion_run
    client = client_for(s.tracking_uri)
    best = int(run.data.metrics["best_iteration"])
    rounds = min(s.training.n_estimators, best + 1 + s.training.early_stopping_rounds)
    curves = {}
    for key in ("curve_train_sample_auc", "curve_train_sample_logloss", "curve_valid_auc",
                "curve_valid_logloss"):
        points = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in points] == list(range(rounds)), key
        curves[key] = [m.value for m in points]
    assert int(np.argmin(curves["curve_valid_logloss"])) == best
    assert curves["curve_train_sample_logloss"][-1] < curves["curve_train_sample_logloss"][0]
    assert run.data.params["trained_on"] == "local"


def test_run_is_named_described_and_lists_its_data(champion_run) -> None:
    """What an engineer sees in the MLflow UI: a name saying what the run is, an experiment
    that opens on its runs, and the two windows as inputs (digests, not data)."""
    s, run = champion_run
    tags = run.data.tags
    train_end = tags["window.train"].split("..")[1]
    assert run.info.run_name == f"pd-train {train_end} test-fixture"
    assert tags["window.oot"] in tags["mlflow.note.content"]
    client = client_for(s.tracking_uri)
    kind = client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    inputs = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset
              for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "evaluation"}
    for context, window in (("training", "train"), ("evaluation", "oot")):
        dataset = inputs[context]
        assert dataset.name == f"applications {window} {tags[f'window.{window}']}"
        assert dataset.source_type == "warehouse" and len(dataset.digest) == 16
        source = json.loads(dataset.source)
        assert source["window"] == tags[f"window.{window}"] and source["label"] == "bad"
        assert json.loads(dataset.profile)["num_rows"] == int(tags[f"count.{window}.rows"])


def test_run_artifacts_include_card_plots_tables_and_reference(champion_run,
                                                               tmp_path: Path) -> None:
    s, run = champion_run
    client = client_for(s.tracking_uri)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "plots", "tables", "reference", "data"} <= names
    plots = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"roc_oot.png", "ks_oot.png", "calibration_oot.png", "score_distribution_oot.png",
            "feature_importance.png", "contribution_summary.png"} <= plots
    card = Path(client.download_artifacts(run.info.run_id, "model_card.md", str(tmp_path)))
    text = card.read_text()
    assert "out-of-time" in text.lower() and s.config_hash() in text
    maturity = json.loads(Path(client.download_artifacts(
        run.info.run_id, "data/maturity.json", str(tmp_path))).read_text())
    assert maturity["counts"]["oot"]["rows"] == int(run.data.tags["count.oot.rows"])


def test_registered_champion_predicts_what_the_training_data_implies(
        trained_settings: Settings) -> None:
    s = trained_settings
    name = s.training.registered_model_name
    model = load_pd_model(s.tracking_uri, name, alias="champion")
    reference = load_reference(s.tracking_uri, name, alias="champion")
    X = reference[model.feature_names]
    np.testing.assert_array_equal(model.predict_pd(X), reference["pd"].to_numpy())
    assert {"pd", "raw_pd", "score"} <= set(reference.columns)


def test_training_set_excludes_immature_and_unbooked(trained_settings: Settings) -> None:
    s = trained_settings
    wh = Warehouse.from_settings(s)
    windows = windows_for(s, wh)
    ts = load_training_set(s, wh, windows)
    apps = load_applications(wh, windows.train[0], windows.oot[1])
    for name, counts in ts.counts.items():
        assert counts["rows"] == len(ts.X[name]) == len(ts.y[name])
        assert counts["rows"] + counts["not_booked"] + counts["immature"] <= \
            counts["applications"]
    assert sum(c["applications"] for c in ts.counts.values()) == len(apps)
    # every labelled row lies inside its window
    for name, (start, end) in windows.as_dict().items():
        days = apps.set_index("application_id").loc[ts.X[name].index, "business_date"]
        assert days.min().date() >= start and days.max().date() <= end
    # every application of a window is kept for through-the-door figures: a target approval
    # rate is met on all of them, not on the booked, matured slice
    for name, counts in ts.counts.items():
        assert len(ts.applications[name]) == counts["applications"]
    model = load_pd_model(s.tracking_uri, s.training.registered_model_name, version="1")
    target = s.model_copy(update={"scoring": s.scoring.model_copy(
        update={"target_approval_rate": 0.6})})
    cut = derive_cutoffs(target, model, ts)
    sc = s.scoring
    everyone = pd_to_score(model.predict_pd(ts.applications["calibration"]), sc.base_score,
                           sc.base_odds, sc.pdo)
    assert np.mean(everyone >= cut["approve_at"]) == pytest.approx(0.6, abs=0.01)

