"""Champion/challenger promotion on the small simulated book: real warehouse, real MLflow store.

Models of this module (built once, on top of the trained fixture home whose version 1 is the
champion, trained on 24 months):
- version 2 "less data": the same pipeline on 5 months of training data (same early-stopping,
  calibration and OOT windows), clearly weaker: the champion for the "better challenger" cases.
- version 3 "fewer features": the same pipeline without bureau score, PTI, DTI, LTV, dealer bad
  rate and delinquencies: clearly worse than version 1.
Further versions are registered in single tests through ``models.registry`` (copies of version 1
with a missing metric, deleted files, a distorted calibrator, or nothing changed at all).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from models.calibration import Calibrator
from models.pd_model import PDModel
from models.promotion_rules import CONFLICT, PROMOTED, REFUSED, REJECTED
from models.registry import (
    CHALLENGER,
    aliases,
    client_for,
    load_pd_model,
    load_reference,
    move_aliases_atomically,
    register_pd_model,
    set_alias,
    start_run,
    version_info,
)
from pipelines.core.settings import Settings
from pipelines.promotion import apply as promotion_apply
from pipelines.promotion.apply import promote_challenger
from pipelines.promotion.decision import (
    NoChallengerError,
    PromotionDecision,
    RegistryUnavailableError,
    RollbackError,
)
from pipelines.promotion.rollback import rollback_champion
from pipelines.scoring.models import scoring_policy
from pipelines.training.evaluate import evaluate
from pipelines.training.track import log_and_register, open_run
from pipelines.training.train import calibrate, fit_model
from pipelines.training.trainset import load_training_set, windows_for
from pipelines.warehouse.engine import Warehouse
from tests.trained import (
    BOOK,
    TRAIN_OVERRIDES,
    copy_home,
    shared_build,
    small_settings,
)

NAME = "creditflow-pd"
DROPPED = ("bureau_score", "pti", "dti", "ltv", "dealer_bad_rate", "delinquencies_2y")
runner = CliRunner()


def train_variant(settings: Settings, wh: Warehouse, drop: tuple[str, ...] = ()) -> str:
    """The training stage's own steps (the feature gate is skipped: it is tested with training
    and costs seconds here), optionally without some features; registered as challenger."""
    ts = load_training_set(settings, wh, windows_for(settings, wh))
    if drop:
        ts.X = {w: x.drop(columns=list(drop)) for w, x in ts.X.items()}
        ts.specs = [s for s in ts.specs if s.name not in drop]
    run = open_run(settings, "test-variant", ts.windows)
    booster, fit_info = fit_model(settings, ts, run)
    model = calibrate(settings, booster, ts)
    result = log_and_register(settings, run, ts, model, evaluate(settings, model, ts), fit_info,
                              "test-variant")
    run.finish()
    return result.version


def _build_promo_home(template: Path, home: Path) -> None:
    copy_home(template, home)
    wh = Warehouse.from_settings(small_settings(home))
    less = train_variant(small_settings(home, training={"train_months": 5}), wh)
    fewer = train_variant(small_settings(home, training={"n_estimators": 150}), wh, DROPPED)
    assert (less, fewer) == ("2", "3")
    client_for(small_settings(home).tracking_uri).delete_registered_model_alias(NAME, CHALLENGER)
    wh.dispose()


@pytest.fixture(scope="module")
def promo_template(trained_home_template: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Path:
    """The trained home with two weaker versions, built once for the run's workers."""
    return shared_build(tmp_path_factory, "promotion",
                        lambda home: _build_promo_home(trained_home_template, home))


@dataclass
class Home:
    settings: Settings
    wh: Warehouse

    @property
    def uri(self) -> str:
        return self.settings.tracking_uri

    def aliases(self) -> dict[str, str]:
        return aliases(self.uri, NAME)

    def audit(self) -> pd.DataFrame:
        return self.wh.read("promotion_audit", order_by="id")

    def challenger(self, version: str) -> None:
        set_alias(client_for(self.uri), NAME, CHALLENGER, version)

    def champion(self, version: str) -> None:
        """Make ``version`` the champion the way a promotion would (v1 becomes previous)."""
        move_aliases_atomically(self.uri, NAME, version, self.aliases().get("champion"))


@pytest.fixture
def home(promo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """A private copy of the module's home (champion v1, versions 2 and 3, no challenger)."""
    path = tmp_path / "home"
    copy_home(promo_template, path)
    monkeypatch.setenv("CREDITFLOW_HOME", str(path))
    for key in ("n_applications", "start", "end"):
        monkeypatch.setenv(f"CREDITFLOW_SIMULATE__{key.upper()}", str(getattr(BOOK, key)))
    for key, value in TRAIN_OVERRIDES.items():
        monkeypatch.setenv(f"CREDITFLOW_TRAINING__{key.upper()}", str(value))
    settings = Settings()
    wh = Warehouse.from_settings(settings)
    yield Home(settings, wh)
    wh.dispose()


def protect_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI points MLflow and Prefect at its home through os.environ: undo that afterwards."""
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_HOME", "PREFECT_LOGGING_LEVEL",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"):
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)


def register_copy(h: Home, model: PDModel, *, metrics: bool = True,
                  changed: dict[str, float] | None = None) -> str:
    """Register ``model`` as challenger on a new run carrying version 1's window tags and (if
    ``metrics``) its logged metrics, as the training stage would have, ``changed`` replacing
    some of them."""
    source = client_for(h.uri).get_run(version_info(h.uri, NAME, "1")["run_id"])
    run = start_run(h.uri, h.settings.training.experiment_name, h.settings.artifact_root,
                    tags={k: v for k, v in source.data.tags.items() if k.startswith("window.")})
    if metrics:
        run.log_metrics({**source.data.metrics, **(changed or {})})
    sample = load_reference(h.uri, NAME, version="1")[model.feature_names]
    version = register_pd_model(run, model, sample, NAME, alias=CHALLENGER,
                                policy=scoring_policy(h.settings))
    run.finish()
    return version


def assert_recorded(h: Home, decision: PromotionDecision | dict) -> dict:
    """The audit JSON artifact, the tag on both versions and the warehouse row exist and agree
    with the decision (a PromotionDecision or the flow's dict of it)."""
    out = decision.as_dict() if isinstance(decision, PromotionDecision) else decision
    row = h.audit().iloc[-1]
    record = json.loads(row["record"])
    assert row["decision"] == out["verdict"] == record["verdict"]
    assert row["challenger_version"] == out["challenger"]["version"]
    assert row["champion_version"] == (out["champion"] or {}).get("version")
    assert record["triggered_by"] == row["triggered_by"] == out["triggered_by"]
    assert record["config_hash"] == h.settings.config_hash()
    assert record["audit"] == out["audit"]
    assert_version_tags(h, out, row["challenger_version"], row["champion_version"])
    assert_promotion_run(h, out)
    artifact = client_for(h.uri).download_artifacts(
        out["challenger"]["run_id"], out["audit"]["artifact"], str(h.settings.home / "dl"))
    assert json.loads(Path(artifact).read_text()) == record
    apps = h.wh.read("applications", columns=["application_id"])["application_id"]
    assert not any(a in row["record"] for a in apps.sample(300, random_state=0))  # aggregates
    return record


def assert_version_tags(h: Home, out: dict, challenger: str, champion: str | None) -> None:
    """Only the challenger carries the verdict; the champion carries its part, never a verdict
    it could be mistaken for."""
    tags = out["audit"]["version_tags"]
    assert set(tags) == {v for v in (challenger, champion) if v}
    for version, expected in tags.items():
        actual = version_info(h.uri, NAME, version)["tags"]
        assert {k: actual.get(k) for k in expected} == expected
    verdicts = {v: [t for k, t in tags[v].items() if k.endswith(".verdict")] for v in tags}
    assert verdicts[challenger] == [out["verdict"]]
    if champion:
        assert verdicts[champion] == []
        role = next(t for k, t in tags[champion].items() if k.endswith(".role"))
        assert role == {PROMOTED: "replaced_champion",
                        CONFLICT: "champion_judged_against"}.get(out["verdict"],
                                                                   "defended_champion")


def assert_promotion_run(h: Home, out: dict) -> None:
    """One run per decision in the promotion experiment, with both versions' figures on the
    decision's window."""
    client = client_for(h.uri)
    exp = client.get_experiment_by_name(out["audit"]["promotion_experiment"])
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id],
                              filter_string=f"tags.decision_id = '{out['decision_id']}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED" and run.data.tags["verdict"] == out["verdict"]
    assert run.info.run_name.startswith(f"promotion v{out['challenger']['version']} vs ")
    assert run.info.run_name.endswith(f": {out['verdict']}")
    for role in filter(None, ("challenger", out["champion"] and "champion")):
        for metric in out["metrics"]:  # a refused challenger has none
            cell = out["metrics"][metric][role]
            if cell["value"] is not None:
                assert run.data.metrics[f"{role}_oot_{metric}"] == pytest.approx(cell["value"])
    if out["metrics"] and out["champion"]:
        auc = out["metrics"]["auc"]["difference"]
        assert run.data.metrics["difference_oot_auc"] == pytest.approx(auc["value"])
        assert run.data.metrics["difference_oot_auc_ci_low"] == pytest.approx(auc["ci_low"])
        assert {run.data.params["window.start"], run.data.params["window.end"]} == {
            out["window"]["start"], out["window"]["end"]}


# ---------------------------------------------------------------------------------------------
# the challenger's evidence


def test_clearly_better_challenger_is_promoted_by_the_flow_then_rolled_back(
        home: Home, prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.promotion import promotion

    home.champion("2")  # the model trained on 5 months is in production
    home.challenger("1")  # the one trained on 24 months challenges it
    out = promotion(triggered_by="test-better")
    assert out["verdict"] == PROMOTED and out["promoted"] is True, out["reasons"]
    assert [r["name"] for r in out["rules"][:4]] == [  # absolute gates first, then the duel
        "beats_baseline", "ece_bound", "mean_pd_vs_bad_rate", "monotone_directions"]
    assert [r["passed"] for r in out["rules"]] == [True] * 10
    assert out["metrics"]["auc"]["difference"]["ci_low"] > 0
    assert home.aliases() == {"champion": "1", "previous": "2"}
    record = assert_recorded(home, out)
    # each version judged at its own cut-offs, as scoring applies them
    assert set(record["cutoffs"]) == {"champion", "challenger"}
    stability = record["reason_stability"]  # reported at promotion, not a rule
    assert stability["rows"] > 100 and 0 < stability["top1_agreement"] <= 1
    assert 0 <= stability["topk_agreement"] <= 1 and stability["k"] == 3
    assert record["window"] == {"start": "2024-04-01", "end": "2024-06-30",
                                "as_of": "2025-06-30", "months": 3,
                                "performance_window_months": 12, "target": "main",
                                "label": "90+ within 12 months on book"}
    assert record["counts"]["labelled"] > 1000 and record["counts"]["bads"] > 50
    for metric in ("auc", "ks", "brier", "ece", "approval_rate"):
        for role in ("champion", "challenger", "difference"):
            cell = record["metrics"][metric][role]
            assert cell["ci_low"] <= cell["value"] <= cell["ci_high"], (metric, role)
    with get_client(sync_client=True) as client:  # the comparison table, for people
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["promotion-decision"])))
    assert any("| auc_uplift |" in str(a.data) and "**promoted**" in str(a.data)
               for a in artifacts)

    back = rollback_champion(home.settings, home.wh, triggered_by="test-rollback")
    assert home.aliases() == {"champion": "2"}
    assert (back["champion_restored"], back["demoted"]) == ("2", "1")
    row = home.audit().iloc[-1]
    assert (row["decision"], row["challenger_version"], row["champion_version"]) == (
        "rollback", "2", "1")
    assert version_info(home.uri, NAME, "1")["tags"][
        next(iter(back["audit"]["version_tags"]["1"]))] == "rolled_back_champion"
    assert version_info(home.uri, NAME, "2")["tags"][
        next(iter(back["audit"]["version_tags"]["2"]))] == "restored_champion"


def test_challenger_with_features_removed_is_not_promoted(home: Home) -> None:
    home.challenger("3")
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-worse")
    assert decision.verdict == REJECTED
    failed = {r.name for r in decision.rules if not r.passed}
    assert {"auc_uplift", "auc_uplift_ci_low"} <= failed
    assert decision.metrics["auc"]["difference"]["value"] < -0.01
    assert home.aliases() == {"champion": "1", "challenger": "3"}
    assert_recorded(home, decision)


def _steeper(cal: Calibrator) -> dict:
    """A distortion that keeps ranking (AUC, KS) and the approval cut-off (PD 5% maps to itself)
    but spreads PDs: high ones inflated, low ones deflated. Works for Platt and isotonic."""
    pivot = float(np.log(0.05 / 0.95))
    if cal.method == "platt":
        raw_pivot = (pivot - cal.intercept) / cal.coef
        coef = 2.0 * cal.coef
        return {"coef": coef, "intercept": pivot - coef * raw_pivot}
    y = np.clip(np.asarray(cal.y_thresholds), 1e-6, 1 - 1e-6)
    logit = np.log(y / (1 - y))
    spread = 1 / (1 + np.exp(-(pivot + 2.0 * (logit - pivot))))
    return {"y_thresholds": spread.tolist()}


def test_better_auc_but_distorted_calibration_is_not_promoted(home: Home) -> None:
    home.champion("2")
    v1 = load_pd_model(home.uri, NAME, version="1")
    distorted = Calibrator.from_dict({**v1.calibrator.to_dict(), **_steeper(v1.calibrator)})
    version = register_copy(home, replace(v1, calibrator=distorted))
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-calibration")
    assert decision.verdict == REJECTED
    rules = {r.name: r for r in decision.rules}
    assert rules["auc_uplift"].passed and rules["auc_uplift_ci_low"].passed
    assert rules["approval_rate_shift"].passed
    assert not rules["ece_not_worse"].passed and not rules["brier_not_worse"].passed
    assert any(r.startswith("ece_not_worse failed") for r in decision.reasons)
    record = assert_recorded(home, decision)
    assert {r["name"]: r["passed"] for r in record["rules"]}["ece_not_worse"] is False
    assert home.aliases()["champion"] == "2" and record["challenger"]["version"] == version


def test_equal_model_is_not_promoted_and_shadow_period_is_reported(
        home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    protect_env(monkeypatch)
    version = register_copy(home, load_pd_model(home.uri, NAME, version="1"))
    before = home.aliases()
    result = runner.invoke(app, ["promote", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    dry = json.loads(result.stdout.strip().splitlines()[-1])
    assert dry["ok"] is True and dry["dry_run"] is True and dry["verdict"] == REJECTED
    assert dry["metrics"]["auc"]["difference"]["value"] == 0.0
    assert home.aliases() == before and home.audit().empty  # a dry run writes nothing

    expected_shift = _shadow_scores(home, version, n=400)
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-equal")
    assert decision.verdict == REJECTED and home.aliases() == before
    assert not {r.name: r.passed for r in decision.rules}["auc_uplift_ci_low"]
    shadow = assert_recorded(home, decision)["shadow"]
    assert shadow["applications"] == 400 and shadow["champion_versions"] == ["1"]
    assert shadow["approval_rate_difference"] == pytest.approx(expected_shift)
    assert expected_shift < -0.25
    assert shadow["score_psi"] > 0.25


def _shadow_scores(h: Home, version: str, n: int) -> float:
    """Daily-scoring rows for ``n`` applications, the shadow scoring 30 points below the
    champion; returns the approval-rate difference (shadow - champion) they imply."""
    ids = h.wh.read("applications", columns=["application_id", "business_date"]).head(n)
    champion = np.linspace(520, 620, n)
    frames = []
    for role, ver, score in (("champion", "1", champion), ("shadow", version, champion - 30)):
        frames.append(pd.DataFrame({
            "application_id": ids["application_id"], "model_version": ver, "role": role,
            "model_name": NAME, "business_date": ids["business_date"], "pd": 0.05,
            "score": score, "decision": np.where(score >= 570, "approve", "review"),
            "run_id": "test", "scored_at": datetime.now(UTC).replace(tzinfo=None)}))
    h.wh.upsert("scores", pd.concat(frames, ignore_index=True))
    return float(np.mean(champion - 30 >= 570) - np.mean(champion >= 570))


def test_first_valid_model_is_promoted_when_there_is_no_champion(home: Home) -> None:
    client_for(home.uri).delete_registered_model_alias(NAME, "champion")
    home.challenger("1")  # (version 3, without the bureau score, beats the baseline by 0.0025)
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-first")
    assert decision.verdict == PROMOTED, decision.reasons
    assert [(r.name, r.passed) for r in decision.rules] == [
        ("beats_baseline", True), ("ece_bound", True), ("mean_pd_vs_bad_rate", True),
        ("monotone_directions", True)]
    assert decision.reasons == ["no champion yet: every absolute gate passed"]
    assert set(decision.metrics["auc"]) == {"challenger"}
    assert decision.monotone and all(decision.monotone.values())
    assert home.aliases() == {"champion": "1"}
    assert_recorded(home, decision)


def test_a_first_model_below_the_logistic_baseline_is_rejected_even_without_a_champion(
        home: Home) -> None:
    """No champion to beat is no free pass: a model that does not beat the logistic baseline
    by the margin stays registered, is never champion, and the audit record and MLflow say
    why."""
    client_for(home.uri).delete_registered_model_alias(NAME, "champion")
    logged = client_for(home.uri).get_run(version_info(home.uri, NAME, "1")["run_id"])
    version = register_copy(home, load_pd_model(home.uri, NAME, version="1"),
                            changed={"baseline_oot_auc": logged.data.metrics["oot_auc"] + 0.01})
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-baseline")
    assert decision.verdict == REJECTED
    assert len(decision.reasons) == 1 and decision.reasons[0].startswith("beats_baseline failed")
    assert home.aliases() == {"challenger": version}  # registered, not champion
    record = assert_recorded(home, decision)
    failed = [r["name"] for r in record["rules"] if not r["passed"]]
    assert failed == ["beats_baseline"]
    runs = client_for(home.uri).search_runs(
        [client_for(home.uri).get_experiment_by_name(
            record["audit"]["promotion_experiment"]).experiment_id],
        filter_string=f"tags.decision_id = '{record['decision_id']}'")
    assert runs[0].data.metrics["rule_passed_beats_baseline"] == 0.0


# ---------------------------------------------------------------------------------------------
# invalid challengers and an unreachable registry


def test_challenger_run_without_oot_metric_is_refused(home: Home) -> None:
    version = register_copy(home, load_pd_model(home.uri, NAME, version="1"), metrics=False)
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-metric")
    assert decision.verdict == REFUSED and decision.metrics == {}
    assert any("has no metric oot_auc" in r for r in decision.reasons), decision.reasons
    assert home.aliases() == {"champion": "1", "challenger": version}
    assert assert_recorded(home, decision)["reasons"] == decision.reasons


def test_challenger_with_missing_model_files_is_refused(home: Home) -> None:
    version = register_copy(home, load_pd_model(home.uri, NAME, version="1"))
    client = client_for(home.uri)
    model_id = client.get_model_version(NAME, version).source.split("/")[-1]
    shutil.rmtree(Path(client.get_logged_model(model_id).artifact_location
                       .removeprefix("file://")))
    decision = promote_challenger(home.settings, home.wh, triggered_by="test-files")
    assert decision.verdict == REFUSED
    assert any(f"model files of version {version} missing or corrupted" in r
               for r in decision.reasons), decision.reasons
    assert home.aliases()["champion"] == "1"
    assert_recorded(home, decision)
    missing = promote_challenger(home.settings, home.wh, triggered_by="test-version",
                                   challenger_version="99")
    assert missing.verdict == REFUSED and "not in the registry" in missing.reasons[0]
    assert home.audit().iloc[-1]["challenger_version"] == "99"  # recorded, no run to tag


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("uri", ["sqlite:///{home}/absent/mlflow.db",
                                 "http://127.0.0.1:{port}"])
def test_unreachable_registry_is_an_error_and_changes_nothing(home: Home, uri: str) -> None:
    home.challenger("2")
    before, rows = home.aliases(), len(home.audit())
    bad = home.settings.model_copy(update={"mlflow_tracking_uri": uri.format(
        home=home.settings.home, port=_closed_port())})
    with pytest.raises(RegistryUnavailableError, match="registry"):
        promote_challenger(bad, home.wh, triggered_by="test-unreachable")
    with pytest.raises(RegistryUnavailableError):
        rollback_champion(bad, home.wh, triggered_by="test-unreachable")
    assert not (home.settings.home / "absent").exists()  # no empty store was created
    assert home.aliases() == before and len(home.audit()) == rows


def test_rollback_without_previous_and_promotion_without_challenger_are_errors(home: Home,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    protect_env(monkeypatch)
    with pytest.raises(RollbackError, match="no 'previous' version"):
        rollback_champion(home.settings, home.wh, triggered_by="test")
    result = runner.invoke(app, ["rollback", "--json"])
    assert result.exit_code == 1
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ok"] is False and "no 'previous' version to roll back to" in out["error"]
    with pytest.raises(NoChallengerError, match="no 'challenger' alias"):
        promote_challenger(home.settings, home.wh, triggered_by="test")
    assert home.aliases() == {"champion": "1"} and home.audit().empty


# ---------------------------------------------------------------------------------------------
# two promotions at once


def test_two_promotions_at_once_leave_exactly_one_champion(home: Home,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    home.champion("2")
    home.challenger("1")
    barrier = threading.Barrier(2, timeout=60)
    real_move = promotion_apply.move_aliases_atomically

    def move_after_both_decided(*args, **kwargs):  # both judged the same champion
        barrier.wait()
        return real_move(*args, **kwargs)

    monkeypatch.setattr(promotion_apply, "move_aliases_atomically", move_after_both_decided)
    results: list[PromotionDecision | BaseException] = []

    def promote(who: str) -> None:
        try:
            wh = Warehouse.from_settings(home.settings)
            results.append(promote_challenger(home.settings, wh, triggered_by=who))
        except BaseException as exc:  # surfaced by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=promote, args=(f"racer-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(r, PromotionDecision) for r in results), results
    assert sorted(r.verdict for r in results) == [CONFLICT, PROMOTED]
    assert home.aliases() == {"champion": "1", "previous": "2"}
    assert sorted(home.audit()["decision"]) == [CONFLICT, PROMOTED]

