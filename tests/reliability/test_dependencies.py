"""Dependencies failing: the warehouse unreachable, the MLflow store unreachable, the alert
receiver down or slow, a folder the pipeline writes into unusable. Each must be a clear error
that names the thing (host:port or path), retried where a retry can help, and leave the earlier
state as it was: warehouse rows, the champion alias, the previous day's monitoring.

Already covered elsewhere and not repeated here: Warehouse.init on a closed port
(tests/unit/pipelines/warehouse/test_warehouse.py), promotion and rollback against an unreachable registry
(tests/integration/test_promotion.py), send_alert alone against a down or slow receiver
(tests/integration/test_alerts_http.py, tests/unit/pipelines/monitoring/test_alerts.py)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from flows.cli import app
from models.registry import RegistryError, aliases, client_for
from models.scaling import decide_by_score, pd_to_score
from pipelines.champion import current_champion
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.scoring.models import ScoringError
from pipelines.scoring.run import score_day
from pipelines.simulation.book import simulate_and_load
from pipelines.training.train import train_model
from pipelines.warehouse import schema
from pipelines.warehouse.engine import Warehouse
from tests.integration.test_alerts_http import Receiver

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SCORE_DAY = date(2025, 6, 18)  # a busy date of the trained book
MONITOR_DAY = date(2024, 9, 30)
MODEL = "creditflow-pd"
PASSWORD = "s3cret-pw"
TABLES = ("applications", "scores", "run_manifest", "run_locks", "validation_results",
          "quarantine", "alerts", "monitoring_metrics")


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(wh: Warehouse) -> dict[str, int]:
    return {t: wh.count(t) for t in TABLES}


def registry_state(settings: Settings) -> tuple[dict[str, str], list[str]]:
    versions = client_for(settings.tracking_uri).search_model_versions(f"name='{MODEL}'")
    return aliases(settings.tracking_uri, MODEL), sorted(str(v.version) for v in versions)


@pytest.fixture
def fast_mlflow_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow retries a refused HTTP request 7 times with backoff by default (minutes); the
    error is what is under test, not MLflow's patience."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")


# -- the warehouse ----------------------------------------------------------------------------

def test_unreachable_warehouse_is_named_without_password_and_nothing_falls_back(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    url = f"postgresql+psycopg://risk:{PASSWORD}@127.0.0.1:{port}/creditflow"
    settings = Settings(warehouse_url=url)
    t0 = time.perf_counter()
    with pytest.raises(OperationalError) as err:
        score_day(settings, Warehouse(url), SCORE_DAY)
    message = str(err.value)
    assert '"127.0.0.1", port ' + str(port) in message and "Connection refused" in message
    assert PASSWORD not in message

    tape = tmp_path / "tape.csv"
    tape.write_text("application_id,application_ts\nA1,2025-07-01 10:00:00\n")
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", url)
    result = CliRunner().invoke(app, ["ingest", str(tape), "--json"])
    assert result.exit_code == 1
    assert f"risk:***@127.0.0.1:{port}/creditflow" in result.stderr
    assert "Connection refused" in result.stderr and '"ok": false' in result.stdout
    assert PASSWORD not in result.output + result.stderr
    assert time.perf_counter() - t0 < 15  # refused, not hanging on a timeout
    assert not (home / "warehouse.db").exists()  # no silent fallback to a local SQLite file


def test_failure_hook_alerts_when_the_warehouse_itself_is_down(
        home: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure hook cannot record its alert in a warehouse that is down: it sends it
    anyway, says it is unrecorded, and the flow's own error is what the caller sees."""
    from flows.scoring import daily_scoring

    port = closed_port()
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL",
                       f"postgresql+psycopg://risk:{PASSWORD}@127.0.0.1:{port}/creditflow")
    with Receiver() as receiver:
        monkeypatch.setenv("CREDITFLOW_ALERTS__URLS",
                           f'["json://127.0.0.1:{receiver.port}/hooks/risk"]')
        with pytest.raises(OperationalError):
            daily_scoring(business_date=SCORE_DAY)
    [alert] = receiver.requests
    body = json.dumps(alert["body"])
    assert "flow_failed:daily-scoring" in body and str(SCORE_DAY) in body
    assert "Not recorded: the warehouse is unreachable" in body
    assert PASSWORD not in body


class _State:
    """The one thing Prefect's retry condition asks of a failed task's state."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def result(self) -> None:
        raise self.exc


def test_dropped_connections_are_retried_and_verdicts_are_not() -> None:
    """Retries where sensible: a chunk whose database connection dropped is retried (with
    backoff), a CreditflowError (rejected batch, signature mismatch) would fail the same way
    again and is not; the champion lookup of monitoring retries its I/O too."""
    from flows.common import IO_RETRIES
    from flows.monitoring import load_champion
    from flows.scoring import _transient, score_chunk_task

    dropped = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert _transient(score_chunk_task, None, _State(dropped)) is True
    assert _transient(score_chunk_task, None, _State(ScoringError("signature mismatch"))) is False
    assert _transient(score_chunk_task, None, _State(CreditflowError("rejected"))) is False
    for task in (score_chunk_task, load_champion):
        assert task.retries == IO_RETRIES["retries"] >= 1
        assert task.retry_delay_seconds == IO_RETRIES["retry_delay_seconds"]


# -- the MLflow store -------------------------------------------------------------------------

def test_unreachable_mlflow_store_stops_scoring_before_any_write(
        trained_settings: Settings, fast_mlflow_http: None) -> None:
    wh = Warehouse.from_settings(trained_settings)
    before, registry = snapshot(wh), registry_state(trained_settings)
    port = closed_port()
    away = trained_settings.model_copy(update={"mlflow_tracking_uri": f"http://127.0.0.1:{port}"})
    t0 = time.perf_counter()
    with pytest.raises(ScoringError, match=rf"model registry unreachable.*127\.0\.0\.1:{port}"):
        score_day(away, wh, SCORE_DAY)
    # monitoring's first step (the flow task retries it): the same store, named the same way
    with pytest.raises(RegistryError, match=rf"registry unreachable.*127\.0\.0\.1:{port}"):
        current_champion(away)
    assert time.perf_counter() - t0 < 15
    assert snapshot(wh) == before  # no manifest, lock, score or verdict of a run that never ran
    assert registry_state(trained_settings) == registry == ({"champion": "1"}, ["1"])
    assert score_day(trained_settings, wh, SCORE_DAY).status == "completed"  # store back: runs


# -- monitoring: a small world of scores for the window ---------------------------------------

CHAMPION = {"name": MODEL, "version": "4", "oot_auc": 0.76,
            "feature_names": ["ltv", "bureau_score"]}


def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"ltv": rng.normal(1.0, 0.2, 2000),
                         "bureau_score": rng.normal(690, 60, 2000),
                         # PDs spread wider than the day's: the day's estimated AUC, judged
                         # like for like against the reference's, falls and alerts
                         "pd": rng.uniform(0.01, 0.5, 2000)})


def scored_days(wh: Warehouse, *days: date) -> None:
    """Champion scores far riskier than the reference: monitoring raises alerts."""
    rng = np.random.default_rng(1)
    for day in days:
        pds = rng.uniform(0.1, 0.3, 800)
        points = np.round(pd_to_score(pds, 600.0, 50.0, 20.0), 2)
        wh.upsert("scores", pd.DataFrame({
            "application_id": [f"M{day:%m%d}{i:05d}" for i in range(pds.size)],
            "model_version": "4", "role": "champion", "model_name": MODEL,
            "business_date": pd.Timestamp(day), "pd": pds, "score": points,
            "decision": decide_by_score(points, 570.0, 535.0), "run_id": "t",
            "scored_at": pd.Timestamp(day)}))


@pytest.fixture(scope="module")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow store with its tables made once: creating them costs 1-9 s here, a copy
    almost nothing. It holds no experiment, so no artifact location points into it."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    client_for(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def monitor_settings(settings: Settings, empty_mlflow_db: Path) -> Settings:
    shutil.copy(empty_mlflow_db, settings.home / "mlflow.db")
    return settings


def day_state(wh: Warehouse, day: date) -> dict[str, object]:
    d = {"d": day}
    return {"metrics": wh.count("monitoring_metrics", "business_date = :d", d),
            "alerts": wh.count("alerts", "business_date = :d", d),
            "manifest": wh.read("run_manifest", "kind = 'monitor' AND business_date = :d",
                                d)["status"].tolist()}


def test_unreachable_mlflow_store_during_monitoring_leaves_earlier_days_and_reruns(
        monitor_settings: Settings, sqlite_wh: Warehouse, fast_mlflow_http: None) -> None:
    settings = monitor_settings
    prev, day = MONITOR_DAY - timedelta(days=1), MONITOR_DAY
    scored_days(sqlite_wh, prev, day)
    first = monitor_day(settings, sqlite_wh, prev, reference(), CHAMPION)
    earlier = day_state(sqlite_wh, prev)
    assert earlier["manifest"] == ["completed"] and first.alerts
    port = closed_port()
    away = settings.model_copy(update={"mlflow_tracking_uri": f"http://127.0.0.1:{port}"})
    with pytest.raises(MlflowException, match=rf"127\.0\.0\.1', port={port}"):
        monitor_day(away, sqlite_wh, day, reference(), CHAMPION)
    assert day_state(sqlite_wh, prev) == earlier
    # the failed day left nothing that reads as done: no metrics, alerts or manifest
    assert day_state(sqlite_wh, day) == {"metrics": 0, "alerts": 0, "manifest": []}
    again = monitor_day(settings, sqlite_wh, day, reference(), CHAMPION)
    assert day_state(sqlite_wh, day) == {"metrics": len(again.metrics),
                                         "alerts": len(again.alerts), "manifest": ["completed"]}


# -- the alert receiver -----------------------------------------------------------------------

@pytest.fixture
def slow_receiver() -> Iterator[Receiver]:
    with Receiver(delay_s=3.0) as r:
        yield r


def test_receiver_down_or_slow_costs_a_stored_undelivered_alert_not_the_day(
        monitor_settings: Settings, sqlite_wh: Warehouse, slow_receiver: Receiver,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = monitor_settings
    down = closed_port()
    timeout = 0.5
    urls = [f"json://127.0.0.1:{down}/hook?token=tok-{PASSWORD}",
            f"json://127.0.0.1:{slow_receiver.port}/slow"]
    s = settings.model_copy(update={"alerts": settings.alerts.model_copy(
        update={"urls": urls, "timeout_s": timeout})})
    scored_days(sqlite_wh, MONITOR_DAY)
    with caplog.at_level(logging.WARNING, logger="pipelines.monitoring.alerts"):
        result = monitor_day(s, sqlite_wh, MONITOR_DAY, reference(), CHAMPION)
    assert result.alerts and all(a.sent and a.delivered == 0 and a.receivers == 2
                                 for a in result.alerts)
    # each alert waits at most its timeout (+1 s guard), both receivers in parallel
    assert result.timings["alerts"] < len(result.alerts) * (timeout + 1.0) + 1.0
    assert len(slow_receiver.requests) == len(result.alerts)  # tried, and too slow
    stored = sqlite_wh.read("alerts")
    assert len(stored) == len(result.alerts) and (stored["delivered"] == 0).all()
    # the day itself is whole: metrics, manifest and MLflow run are there
    assert day_state(sqlite_wh, MONITOR_DAY) == {"metrics": len(result.metrics),
                                                 "alerts": len(result.alerts),
                                                 "manifest": ["completed"]}
    assert result.mlflow_run_id
    logged = caplog.text
    assert f"127.0.0.1:{down}" in logged and f"127.0.0.1:{slow_receiver.port}" in logged
    assert PASSWORD not in logged

    # Retried where sensible: once the claim is older than a delivery attempt (backdated
    # here instead of sleeping), a rerun delivers the stored alerts, without new rows.
    with sqlite_wh.begin() as conn:
        conn.execute(schema.alerts.update().values(created_at=datetime(2024, 1, 1)))
    with Receiver() as fixed:
        s_up = s.model_copy(update={"alerts": s.alerts.model_copy(update={
            "urls": [f"json://127.0.0.1:{fixed.port}/hook"], "timeout_s": 5.0})})
        monitor_day(s_up, sqlite_wh, MONITOR_DAY, reference(), CHAMPION)
    assert len(fixed.requests) == len(result.alerts)
    again = sqlite_wh.read("alerts")
    assert len(again) == len(stored) and (again["delivered"] == 1).all()


# -- folders the pipeline writes into -----------------------------------------------------------

def make_unusable(folder: Path) -> Path:
    """Make ``folder`` unusable for writing and return the path an error must name. Read-only
    permissions where they bind; root ignores them, so there (and wherever chmod does not
    take) a regular file takes the folder's place, which fails for every user."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o500)
        if not os.access(folder, os.W_OK):
            return folder
        folder.chmod(0o700)
    shutil.rmtree(folder)
    folder.write_text("a file where a folder should be\n")
    return folder


@pytest.fixture
def restore_modes() -> Iterator[list[Path]]:
    """Folders made read-only are made writable again, so pytest can clean up."""
    made: list[Path] = []
    yield made
    for path in made:
        if path.is_dir():
            path.chmod(0o700)


def test_home_that_cannot_be_created_is_named_by_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # a home below a regular file fails for root too
    monkeypatch.setenv("CREDITFLOW_HOME", str(blocker / "home"))
    monkeypatch.delenv("CREDITFLOW_WAREHOUSE_URL", raising=False)
    result = CliRunner().invoke(app, ["init", "--json"])
    assert result.exit_code == 1
    assert str(blocker) in result.stderr and '"ok": false' in result.stdout
    assert "Traceback" not in result.output + result.stderr
    assert blocker.read_text() == "x"


def test_unwritable_data_folder_stops_simulate_before_loading(
        trained_settings: Settings, restore_modes: list[Path]) -> None:
    wh = Warehouse.from_settings(trained_settings)
    before, registry = snapshot(wh), registry_state(trained_settings)
    blocked = make_unusable(trained_settings.data_dir)
    restore_modes.append(blocked)
    sim = trained_settings.simulate.model_copy(update={"n_applications": 300})
    with pytest.raises(OSError) as err:
        simulate_and_load(trained_settings, sim, seed=5)
    assert str(blocked) in str(err.value)
    assert snapshot(wh) == before and registry_state(trained_settings) == registry


def test_unwritable_artifact_store_fails_training_and_keeps_the_champion(
        trained_settings: Settings, restore_modes: list[Path]) -> None:
    wh = Warehouse.from_settings(trained_settings)
    before, registry = snapshot(wh), registry_state(trained_settings)
    blocked = make_unusable(trained_settings.artifact_root)
    restore_modes.append(blocked)
    quick = trained_settings.model_copy(update={"training": trained_settings.training
                                                .model_copy(update={"n_estimators": 8,
                                                                    "early_stopping_rounds": 4})})
    with pytest.raises(OSError) as err:
        train_model(quick, wh, triggered_by="test-unwritable")
    assert str(blocked) in str(err.value)
    # no new version, no challenger, the champion where it was
    assert registry_state(trained_settings) == registry == ({"champion": "1"}, ["1"])
    assert snapshot(wh) == before
    client = client_for(trained_settings.tracking_uri)
    experiment = client.get_experiment_by_name(trained_settings.training.experiment_name)
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.triggered_by = 'test-unwritable'")
    assert [r.info.status for r in runs] == ["FAILED"]  # on record, not left looking alive


def test_unwritable_reports_folder_fails_monitoring_before_any_write(
        settings: Settings, sqlite_wh: Warehouse, restore_modes: list[Path]) -> None:
    scored_days(sqlite_wh, MONITOR_DAY)
    blocked = make_unusable(settings.reports_dir)
    restore_modes.append(blocked)
    with pytest.raises(OSError) as err:
        monitor_day(settings, sqlite_wh, MONITOR_DAY, reference(), CHAMPION)
    assert str(blocked) in str(err.value)
    assert day_state(sqlite_wh, MONITOR_DAY) == {"metrics": 0, "alerts": 0, "manifest": []}
