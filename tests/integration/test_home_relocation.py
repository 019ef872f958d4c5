"""A home copied to another folder works there and writes nothing into the original: its MLflow
store and warehouse have the paths recorded under the old place rewritten when it is opened."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from models.registry import client_for, ensure_experiment, load_pd_model, relocate_store
from pipelines.champion import current_champion
from pipelines.core.home import MARKER, configure_environment, open_home, recorded_home
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.scoring.run import score_day
from pipelines.warehouse.engine import Warehouse
from tests.trained import BOOK, TRAIN_OVERRIDES

pytestmark = pytest.mark.slow
DAY = date(2025, 6, 29)
WINDOW_DAYS = 3


def use_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point this process at ``home`` the way a command does (``configure_environment``); the
    environment it sets is put back after the test."""
    for key in ("MLFLOW_TRACKING_URI", "PREFECT_HOME", "PREFECT_LOGGING_LEVEL",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CREDITFLOW_HOME", str(home))
    for key in ("n_applications", "start", "end"):
        monkeypatch.setenv(f"CREDITFLOW_SIMULATE__{key.upper()}", str(getattr(BOOK, key)))
    for key, value in TRAIN_OVERRIDES.items():
        monkeypatch.setenv(f"CREDITFLOW_TRAINING__{key.upper()}", str(value))
    monkeypatch.setenv("CREDITFLOW_MONITORING__WINDOW_DAYS", str(WINDOW_DAYS))
    monkeypatch.setenv("CREDITFLOW_MONITORING__MIN_WINDOW_ROWS", "50")
    settings = Settings()
    configure_environment(settings)
    return settings


def score_and_monitor(settings: Settings) -> str:
    """A few scored days and one monitored day; returns the monitoring run's id."""
    wh = Warehouse.from_settings(settings)
    try:
        for offset in range(WINDOW_DAYS):
            score_day(settings, wh, DAY - timedelta(days=offset), force=True)
        champion = current_champion(settings)
        result = monitor_day(settings, wh, DAY, champion.reference, champion.description)
    finally:
        wh.dispose()
    return result.mlflow_run_id


def listing(home: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in home.rglob("*") if p.is_file()}


def mentions(db: Path, text: str) -> list[str]:
    """table.column of every value in a SQLite file that contains ``text``."""
    found = []
    with sqlite3.connect(db) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for column in [r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")]:
                n = conn.execute(f'SELECT count(*) FROM "{table}" WHERE instr('
                                 f'CAST("{column}" AS TEXT), ?) > 0', (text,)).fetchone()[0]
                found += [f"{table}.{column}"] * bool(n)
    return found


def test_copied_home_scores_and_monitors_without_touching_the_original(
        trained_home_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tmp_path / "original"
    shutil.copytree(trained_home_template, original)
    settings = use_home(original, monkeypatch)  # a copy of the template: relocated by itself
    assert recorded_home(original) == original.resolve()
    first_run = score_and_monitor(settings)  # report paths in the warehouse, a monitoring run
    before = listing(original)

    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    settings = use_home(copy, monkeypatch)
    assert recorded_home(copy) == copy.resolve()
    run_id = score_and_monitor(settings)

    assert listing(original) == before  # nothing written, nothing added, nothing touched
    client = client_for(settings.tracking_uri)
    assert run_id == first_run  # the day's monitoring run of the copied store, reused
    run = client.get_run(run_id)
    assert run.info.artifact_uri.startswith(copy.resolve().as_uri() + "/mlartifacts/")
    logged = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert logged and all((copy / "mlartifacts" / "monitoring" / run_id / "artifacts" / p)
                          .is_file() for p in logged)
    name = settings.training.registered_model_name
    assert load_pd_model(settings.tracking_uri, name, alias="champion").version == "1"
    assert mentions(copy / "mlflow.db", str(original.resolve())) == []
    # an alert's text is what was sent at the time, and stays so
    assert mentions(copy / "warehouse.db", str(original.resolve())) == ["alerts.message"]
    manifest = Warehouse.from_settings(settings).read("run_manifest", "kind = 'monitor'")
    reports = json.loads(manifest["details"].iloc[0])["reports"].values()
    assert reports and all(Path(r).is_relative_to(copy.resolve()) for r in reports)


def test_relocate_command_rewrites_a_home_made_before_the_marker(
        trained_home_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tmp_path / "original"
    shutil.copytree(trained_home_template, original)
    open_home(Settings(home=original))
    legacy = tmp_path / "legacy"
    shutil.copytree(original, legacy)
    (legacy / MARKER).unlink()  # no record of where it was: the command is told
    use_home(legacy, monkeypatch)
    result = CliRunner().invoke(app, ["home", "relocate", "--from", str(original), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ok"] and out["mlflow"] >= 4 and out["to"] == str(legacy.resolve())
    assert mentions(legacy / "mlflow.db", str(original.resolve())) == []
    again = CliRunner().invoke(app, ["home", "relocate", "--from", str(original), "--json"])
    assert json.loads(again.stdout.strip().splitlines()[-1])["mlflow"] == 0  # idempotent


def test_only_locations_under_the_old_home_are_rewritten(tmp_path: Path) -> None:
    """A sibling whose name starts the same (or matches '_' as a LIKE wildcard) and a location
    outside any home are left as they are."""
    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    old, new = tmp_path / "home_a", tmp_path / "moved"
    roots = {"mine": old / "mlartifacts", "sibling": tmp_path / "home_ab" / "mlartifacts",
             "wildcard": tmp_path / "homeXa" / "mlartifacts", "outside": tmp_path / "bucket"}
    ids = {k: ensure_experiment(uri, k, root) for k, root in roots.items()}
    assert relocate_store(uri, old, new) == 1
    client = client_for(uri)
    where = {k: client.get_experiment(i).artifact_location for k, i in ids.items()}
    assert where["mine"] == (new / "mlartifacts" / "mine").as_uri()
    assert all(where[k] == (roots[k] / k).as_uri() for k in ("sibling", "wildcard", "outside"))
    assert relocate_store(uri, old, new) == 0
