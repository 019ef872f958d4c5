"""Daily batch scoring (pipelines.scoring) on the trained fixture: idempotent per date, reason codes
where adverse action needs them, shadow challenger, the model's signature, the empty day, a
corrupted artifact; idempotency again on PostgreSQL when it is reachable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from mlflow import MlflowClient

from features import build_features
from features.build import FeatureConfig
from models.pd_model import PDModel
from models.registry import load_pd_model, register_pd_model, start_run
from pipelines.core.settings import Settings
from pipelines.scoring.models import ScoringError, scoring_policy
from pipelines.scoring.reason_codes import reason_table
from pipelines.scoring.run import DayNotLoadedError, Prepared, prepare, score_day
from pipelines.scoring.summary import ScoreResult, day_summary_markdown
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import simulate_book
from pipelines.training.train import train_model
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import (
    business_day_end,
    feature_config,
    load_applications,
    load_outcomes,
)
from pipelines.warehouse.scoring import day_completed, manifest_rows, unscored_dates

pytestmark = pytest.mark.slow

DAY = date(2025, 6, 18)  # the busiest date of the fixture's last months (43 applications)
EMPTY_DAY = date(2025, 7, 15)  # after the simulated book: no applications
VOLATILE = ["run_id", "scored_at"]  # what a forced rerun may change


def with_scoring(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update={"scoring": settings.scoring.model_copy(update=changes)})


def day_scores(wh: Warehouse, day: date) -> pd.DataFrame:
    df = wh.read("scores", where="business_date = :d", params={"d": day})
    return df.sort_values(["application_id", "role"], ignore_index=True)


def n_applications(wh: Warehouse, day: date) -> int:
    return wh.count("applications", "business_date = :d", {"d": day})


def nothing_written(wh: Warehouse, day: date) -> None:
    assert day_scores(wh, day).empty
    assert wh.count("run_locks", "business_date = :d", {"d": day}) == 0
    assert wh.count("validation_results") == 0 and wh.count("quarantine") == 0


def corrupt(wh: Warehouse, app_id: str) -> None:
    """An application that the gate must quarantine (a bureau score off the scale)."""
    wh.execute("UPDATE applications SET bureau_score = 9999 WHERE application_id = :a",
               {"a": app_id})


def test_rerun_same_rows_skip_unless_forced_manifest_adds_up(trained_settings: Settings) -> None:
    settings = with_scoring(trained_settings, chunk_rows=15)  # 43 rows: three chunks
    wh = Warehouse.from_settings(settings)
    n = n_applications(wh, DAY)
    bad_id = wh.read("applications", where="business_date = :d", params={"d": DAY},
                     order_by="application_id")["application_id"].iloc[17]
    corrupt(wh, bad_id)

    first = score_day(settings, wh, DAY)
    assert first.status == "completed"
    assert first.counts == {"read": n, "scored": n - 1, "quarantined": 1, "shadow_scored": 0}
    rows = day_scores(wh, DAY)
    assert len(rows) == n - 1 and not rows.duplicated(["application_id", "model_version",
                                                       "role"]).any()
    assert bad_id not in set(rows["application_id"])
    assert set(rows["role"]) == {"champion"} and set(rows["model_version"]) == {"1"}
    assert (rows["run_id"] == first.run_id).all()
    q = wh.read("quarantine")
    assert q["record_key"].tolist() == [bad_id] and q["batch_id"].tolist() == ["score-2025-06-18"]
    gate = wh.read("validation_results")
    assert gate[["batch_id", "rows_in", "rows_passed", "rows_quarantined"]].values.tolist() == [
        ["score-2025-06-18", n, n - 1, 1]]  # one verdict for the day, not one per chunk

    again = score_day(settings, wh, DAY)
    assert again.status == "skipped"
    pd.testing.assert_frame_equal(day_scores(wh, DAY), rows)  # untouched, run ids included

    forced = score_day(settings, wh, DAY, force=True)
    assert forced.status == "completed" and forced.counts == first.counts
    replaced = day_scores(wh, DAY)
    pd.testing.assert_frame_equal(replaced.drop(columns=VOLATILE), rows.drop(columns=VOLATILE))
    assert (replaced["run_id"] == forced.run_id).all()
    assert wh.count("quarantine") == 1 and wh.count("validation_results") == 1

    manifest = manifest_rows(wh, DAY)
    assert manifest["run_id"].tolist() == [first.run_id, forced.run_id]
    assert manifest["status"].tolist() == ["completed", "completed"]
    assert manifest["model_version"].tolist() == ["1", "1"]
    for counts, details in zip(manifest["counts"], manifest["details"], strict=True):
        assert counts["read"] == counts["scored"] + counts["quarantined"] == n
        assert details["seconds"]["total"] > 0 and "score_and_write" in details["seconds"]
    assert manifest["finished_at"].notna().all()
    locks = wh.read("run_locks")
    assert locks[["kind", "status", "run_id"]].values.tolist() == [
        ["score", "completed", forced.run_id]]


def test_declined_and_referred_have_reason_codes(trained_settings: Settings) -> None:
    wh = Warehouse.from_settings(trained_settings)
    result = score_day(trained_settings, wh, DAY)
    rows = day_scores(wh, DAY)
    acted = rows[rows["decision"] != "approve"]
    assert {"review", "decline"} <= set(acted["decision"])  # the date holds both
    # a declined applicant's risk is well above the base: something raised it
    assert acted.loc[acted["decision"] == "decline", "reason_1"].notna().all()
    assert acted["reason_1"].notna().mean() > 0.9
    table = reason_table(trained_settings)
    codes = acted[["reason_1", "reason_2", "reason_3"]].stack().dropna()
    assert set(codes) <= set(table.texts())  # codes of the table, never a feature name
    for i in (1, 2, 3):  # each code is stored with its notice text
        has = acted[f"reason_{i}"].notna()
        assert (acted.loc[has, f"reason_text_{i}"]
                == acted.loc[has, f"reason_{i}"].map(table.texts())).all()
        assert acted.loc[~has, f"reason_text_{i}"].isna().all()
    no_dup = acted[["reason_1", "reason_2", "reason_3"]].apply(
        lambda r: r.dropna().is_unique, axis=1)
    assert no_dup.all()
    # the summary a person reads adds up to what was written
    assert sum(result.decisions.values()) == len(rows) == result.counts["scored"]
    assert result.decisions["decline"] == int((rows["decision"] == "decline").sum())
    assert result.mean_pd == pytest.approx(rows["pd"].mean(), abs=1e-5)
    assert sum(c for _, c in result.score_histogram) == len(rows)
    text = day_summary_markdown(ScoreResult.from_summary(result.summary()))
    assert f"| scored | {len(rows)} |" in text and "| decline |" in text


def test_shadow_challenger_scored_beside_the_champion(trained_settings: Settings) -> None:
    wh = Warehouse.from_settings(trained_settings)
    quick = trained_settings.model_copy(update={"training": trained_settings.training.model_copy(
        update={"n_estimators": 8, "early_stopping_rounds": 4})})
    challenger = train_model(quick, wh, triggered_by="test-shadow")  # gets the challenger alias
    assert challenger.version == "2"

    result = score_day(trained_settings, wh, DAY)
    n = n_applications(wh, DAY)
    assert (result.model_version, result.shadow_version) == ("1", "2")
    assert result.counts["scored"] == result.counts["shadow_scored"] == n
    rows = day_scores(wh, DAY)
    by_role = {role: g.set_index("application_id") for role, g in rows.groupby("role")}
    assert set(by_role) == {"champion", "shadow"}
    champ, shadow = by_role["champion"], by_role["shadow"]
    assert (champ["model_version"] == "1").all() and (shadow["model_version"] == "2").all()
    assert sorted(champ.index) == sorted(shadow.index) and len(champ) == n
    assert shadow["decision"].isin(["approve", "review", "decline"]).all()
    assert not np.allclose(champ["pd"], shadow.loc[champ.index, "pd"])  # another model
    assert shadow["reason_1"].isna().all()  # not acted on: no adverse-action notice
    assert "shadow v2" in day_summary_markdown(result)


def register_champion_on(settings: Settings, wh: Warehouse,
                         change: Callable[[pd.DataFrame], pd.DataFrame]) -> str:
    """A champion trained on the registry's features as ``change`` leaves them."""
    end = date(2024, 3, 31)
    apps = load_applications(wh, date(2024, 1, 1), end)
    X = change(build_features(apps, load_outcomes(wh, end, FeatureConfig()),
                              business_day_end(end), feature_config(settings)))
    y = np.random.default_rng(0).integers(0, 2, len(X))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2},
                        xgb.DMatrix(X, y, enable_categorical=True), num_boost_round=3)
    calibrator = load_pd_model(settings.tracking_uri, "creditflow-pd", version="1").calibrator
    model = PDModel.from_training(booster, calibrator, X, {}, {})
    run = start_run(settings.tracking_uri, "test-signature", settings.artifact_root)
    version = register_pd_model(run, model, X, "creditflow-pd", alias="champion",
                                policy=scoring_policy(settings))
    run.finish()
    return version


def test_signature_mismatch_is_a_clear_error_and_nothing_is_written(
        trained_settings: Settings) -> None:
    """A model trained on a column the day's applications do not carry cannot be scored."""
    wh = Warehouse.from_settings(trained_settings)
    version = register_champion_on(trained_settings, wh,
                                   lambda X: X.rename(columns={"ltv": "ltv_v2"}))
    with pytest.raises(ScoringError, match=rf"signature mismatch: creditflow-pd version "
                                           rf"{version} .*\['ltv_v2'\]"):
        score_day(trained_settings, wh, DAY)
    nothing_written(wh, DAY)
    runs = wh.read("run_manifest")
    assert "completed" not in set(runs["status"])  # the day stays to be scored


def test_a_champion_without_a_feature_scores_on_its_own_feature_list(
        trained_settings: Settings) -> None:
    """Training leaves out features a book has no data for: scoring builds exactly the
    champion's list, in its order."""
    wh = Warehouse.from_settings(trained_settings)
    version = register_champion_on(trained_settings, wh, lambda X: X.drop(columns=["ltv"]))
    result = score_day(trained_settings, wh, DAY)
    scored = wh.read("scores", where="business_date = :d", params={"d": DAY})
    assert result.status == "completed" and result.model_version == version
    assert len(scored) > 0 and set(scored["model_version"]) == {version}


def late_applications(wh: Warehouse, day: date, n: int = 3) -> None:
    """``n`` of DAY's applications arriving for ``day`` under new ids (a late feed)."""
    apps = wh.read("applications", where="business_date = :d", params={"d": DAY},
                   order_by="application_id").head(n)
    apps["application_id"] = [f"LATE{day:%m%d}{i}" for i in range(n)]
    shift = pd.Timestamp(day) - pd.Timestamp(DAY)
    apps["business_date"] = day
    apps["application_ts"] = pd.to_datetime(apps["application_ts"]) + shift
    wh.upsert("applications", apps)


def test_day_not_loaded_yet_is_refused_then_scored_once_it_arrives(
        trained_settings: Settings) -> None:
    wh = Warehouse.from_settings(trained_settings)
    with pytest.raises(DayNotLoadedError, match=r"2025-07-15: no applications loaded .*"
                                                r"latest loaded: 2025-06-30"):
        score_day(trained_settings, wh, EMPTY_DAY)
    assert not day_completed(wh, EMPTY_DAY)  # the day is not locked as done
    assert manifest_rows(wh, EMPTY_DAY)["status"].tolist() == ["failed"]
    late_applications(wh, EMPTY_DAY)
    assert unscored_dates(wh, EMPTY_DAY + timedelta(days=1), 7) == [EMPTY_DAY]
    result = score_day(trained_settings, wh, EMPTY_DAY)
    assert result.status == "completed" and result.counts["read"] == 3
    assert len(day_scores(wh, EMPTY_DAY)) == 3
    assert unscored_dates(wh, EMPTY_DAY + timedelta(days=1), 7) == []


def test_day_without_applications_before_a_loaded_day_completes_with_zero_rows(
        trained_settings: Settings) -> None:
    wh = Warehouse.from_settings(trained_settings)
    late_applications(wh, EMPTY_DAY)
    quiet = EMPTY_DAY - timedelta(days=3)  # the feed has moved past it: a day with no business
    result = score_day(trained_settings, wh, quiet)
    assert result.status == "completed"
    assert result.counts == {"read": 0, "scored": 0, "quarantined": 0, "shadow_scored": 0}
    assert day_scores(wh, quiet).empty
    manifest = manifest_rows(wh, quiet)
    assert manifest["status"].tolist() == ["completed"]
    assert manifest["counts"].iloc[0]["read"] == 0
    assert score_day(trained_settings, wh, quiet).status == "skipped"
    assert "| scored | 0 |" in day_summary_markdown(result)


def champion_artifact(settings: Settings, version: str = "1") -> Path:
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    source = client.get_model_version("creditflow-pd", version).source  # models:/m-<id>
    location = client.get_logged_model(source.rsplit("/", 1)[-1]).artifact_location
    return Path(location.removeprefix("file://")) / "artifacts" / "booster.ubj"


def test_corrupted_model_artifact_names_the_version(trained_settings: Settings) -> None:
    path = champion_artifact(trained_settings)
    assert path.exists()
    path.write_bytes(b"\x00 not a booster \xff" * 10)
    wh = Warehouse.from_settings(trained_settings)
    # the file no longer has the SHA-256 recorded at registration (models.registry)
    with pytest.raises(ScoringError, match=r"champion model \(creditflow-pd version 1\).*"
                                           r"artifacts/booster\.ubj differs"):
        score_day(trained_settings, wh, DAY)
    nothing_written(wh, DAY)


# -- PostgreSQL --------------------------------------------------------------------------------

PG_DAY = date(2025, 6, 10)


@pytest.fixture
def pg_settings(trained_settings: Settings, pg_wh: Warehouse, pg_url: str,
                monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The fixture's champion scoring a small book loaded into PostgreSQL."""
    book = simulate_book(1500, date(2025, 5, 1), PG_DAY, seed=7)
    load_book(pg_wh, book, "sim-pg")
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", pg_url)
    return with_scoring(Settings(), chunk_rows=15)


def test_idempotent_on_postgres(pg_settings: Settings, pg_wh: Warehouse) -> None:
    n = n_applications(pg_wh, PG_DAY)
    assert n > 2 * pg_settings.scoring.chunk_rows  # several chunks
    first = score_day(pg_settings, pg_wh, PG_DAY)
    assert first.counts["read"] == first.counts["scored"] + first.counts["quarantined"] == n
    rows = day_scores(pg_wh, PG_DAY)
    assert len(rows) == first.counts["scored"]
    assert score_day(pg_settings, pg_wh, PG_DAY).status == "skipped"
    forced = score_day(pg_settings, pg_wh, PG_DAY, force=True)
    assert forced.status == "completed"
    replaced = day_scores(pg_wh, PG_DAY)
    pd.testing.assert_frame_equal(replaced.drop(columns=VOLATILE), rows.drop(columns=VOLATILE))
    assert manifest_rows(pg_wh, PG_DAY)["status"].tolist() == ["completed", "completed"]


def test_a_missed_day_that_fails_again_alerts_and_does_not_hold_back_the_others(
        trained_settings: Settings, prefect_harness: None) -> None:
    """The scheduled run's catch-up: a missed date whose batch is rejected again raises its own
    alert and stays unscored; the other missed dates are scored."""
    from prefect import flow

    from flows.scoring import catch_up
    from pipelines.scoring.chunks import sequential

    wh = Warehouse.from_settings(trained_settings)
    missed = unscored_dates(wh, DAY, 7)
    bad = missed[0]
    wh.execute("UPDATE applications SET bureau_score = 9999 WHERE business_date = :d",
               {"d": bad})  # every row off the scale: the day's batch is rejected

    @flow(name="catch-up-probe")
    def probe() -> list[ScoreResult]:
        return catch_up(trained_settings, DAY, sequential)

    results = probe()
    assert len(missed) > 2 and [r.business_date for r in results] == missed[1:]
    assert all(r.status == "completed" for r in results)
    assert unscored_dates(wh, DAY, 7) == [bad]
    alert = wh.read("alerts", "condition_key = 'scoring_catch_up_failed'")
    assert pd.to_datetime(alert["business_date"]).dt.date.tolist() == [bad]
    assert "could not be caught up" in alert["message"].iloc[0]


def test_a_range_prepared_once_scores_each_date_as_a_run_of_its_own(
        trained_settings: Settings) -> None:
    """A backfill prepares the models, the contract's unchecked columns and the scores suite
    once for its range (``prepare``): each date's rows and counts equal a run preparing alone."""
    wh = Warehouse.from_settings(trained_settings)
    days = unscored_dates(wh, DAY + timedelta(days=1), 4)[-2:]
    calls: list[int] = []

    def counted() -> Prepared:
        calls.append(1)
        return prepare(trained_settings, wh)

    loader = cache(counted)
    ranged = [score_day(trained_settings, wh, d, prepared=loader) for d in days]
    assert len(days) == 2 and len(calls) == 1  # once for the range, not once per date
    rows = [day_scores(wh, d).drop(columns=VOLATILE) for d in days]
    alone = [score_day(trained_settings, wh, d, force=True) for d in days]
    assert [r.counts for r in alone] == [r.counts for r in ranged]
    assert all(r.counts["scored"] > 0 for r in ranged)
    for d, before in zip(days, rows, strict=True):
        pd.testing.assert_frame_equal(day_scores(wh, d).drop(columns=VOLATILE), before)
