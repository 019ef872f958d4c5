"""Scoring under faults: a run killed mid-write, two runs of one date at once (SQLite, and
PostgreSQL when reachable), no champion through the CLI.

The subprocesses run the real stage; a small driver script written by the test wraps two of its
functions to signal the test (and, for 'hold', to wait after each written chunk) so the kill
and the overlap happen at a known point, without a test hook in the product code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows.cli import app
from pipelines.core.settings import Settings
from pipelines.scoring.run import score_day
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.scoring import manifest_rows
from tests.integration.test_scoring import (
    DAY,
    PG_DAY,
    day_scores,
    n_applications,
    nothing_written,
    with_scoring,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CHUNK_ROWS = 25  # two chunks of the 43 applications: the first is written, then the kill

DRIVER = """
import os, sys, time
from datetime import date
from pathlib import Path

import pipelines.scoring.run as score
from pipelines.core.settings import Settings
from pipelines.warehouse.engine import Warehouse

day, mode, name = date.fromisoformat(sys.argv[1]), sys.argv[2], sys.argv[3]
signals = Path(os.environ["TEST_SIGNALS"])
write_chunk, day_completed = score._write_chunk, score.day_completed


def write_then_hold(*args, **kwargs):
    write_chunk(*args, **kwargs)
    (signals / f"{name}-chunk-written").touch()
    while not (signals / "go").exists():
        time.sleep(0.02)


def checked(*args):
    done = day_completed(*args)
    (signals / f"{name}-checked").touch()
    return done


if mode == "hold":
    score._write_chunk = write_then_hold
score.day_completed = checked
while len(sys.argv) > 4 and not (signals / sys.argv[4]).exists():  # start after another run
    time.sleep(0.02)
settings = Settings()
result = score.score_day(settings, Warehouse.from_settings(settings), day)
print("STATUS", result.status, result.run_id, flush=True)
"""


class Driver:
    def __init__(self, tmp: Path) -> None:
        self.signals = tmp / "signals"
        self.signals.mkdir()
        self.script = tmp / "driver.py"
        self.script.write_text(DRIVER)
        self.procs: list[subprocess.Popen[str]] = []
        self.names: dict[int, str] = {}

    def start(self, day: date, mode: str, name: str,
              after: str | None = None) -> subprocess.Popen[str]:
        env = {**os.environ, "TEST_SIGNALS": str(self.signals), "PYTHONPATH": str(ROOT),
               "CREDITFLOW_SCORING__CHUNK_ROWS": str(CHUNK_ROWS)}
        # output to files: a full pipe would stall the driver
        with open(self.signals / f"{name}.out", "w") as out, \
                open(self.signals / f"{name}.err", "w") as err:
            args = [day.isoformat(), mode, name, *([after] if after else [])]
            proc = subprocess.Popen([sys.executable, str(self.script), *args], cwd=ROOT,
                                    env=env, stdout=out, stderr=err, text=True)
        self.procs.append(proc)
        self.names[proc.pid] = name
        return proc

    def output(self, proc: subprocess.Popen[str], stream: str = "out") -> str:
        return (self.signals / f"{self.names[proc.pid]}.{stream}").read_text()

    def wait_for(self, signal_name: str, proc: subprocess.Popen[str],
                 timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not (self.signals / signal_name).exists():
            if proc.poll() is not None:
                pytest.fail(f"driver exited ({proc.returncode}) before '{signal_name}': "
                            f"{self.output(proc, 'err')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no '{signal_name}' within {timeout} s")
            time.sleep(0.05)

    def status(self, proc: subprocess.Popen[str]) -> list[str]:
        """['STATUS', status, run_id] printed by a driver that ran to its end."""
        proc.wait(timeout=120)
        assert proc.returncode == 0, self.output(proc, "err")[-3000:]
        return next(line.split() for line in self.output(proc).splitlines()
                    if line.startswith("STATUS"))

    def go(self) -> None:
        (self.signals / "go").touch()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    d = Driver(tmp_path)
    yield d
    d.close()


def test_killed_run_leaves_no_partial_day_and_the_rerun_completes(
        trained_settings: Settings, driver: Driver) -> None:
    wh = Warehouse.from_settings(trained_settings)
    n = n_applications(wh, DAY)
    assert n > CHUNK_ROWS
    proc = driver.start(DAY, "hold", "a")
    driver.wait_for("a-chunk-written", proc)
    # the transaction is open with a chunk written: visible as running, not as rows
    assert manifest_rows(wh, DAY)["status"].tolist() == ["running"]
    assert day_scores(wh, DAY).empty
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    nothing_written(wh, DAY)
    manifest = manifest_rows(wh, DAY)
    assert manifest["status"].tolist() == ["running"]  # the dead run never claims completion
    dead_run = manifest["run_id"].iloc[0]

    rerun = score_day(with_scoring(trained_settings, chunk_rows=CHUNK_ROWS), wh, DAY)
    assert rerun.status == "completed" and rerun.counts["read"] == n
    rows = day_scores(wh, DAY)
    assert len(rows) == rerun.counts["scored"] == n - rerun.counts["quarantined"]
    assert rows["application_id"].is_unique and (rows["run_id"] == rerun.run_id).all()
    assert dict(zip(manifest_rows(wh, DAY)["run_id"], manifest_rows(wh, DAY)["status"],
                    strict=True)) == {dead_run: "failed", rerun.run_id: "completed"}
    # settled by the rerun, which held the date's lock: the dead run cannot still be at work
    assert manifest_rows(wh, DAY).set_index("run_id").loc[dead_run, "details"][
        "error"].startswith("interrupted")


def two_runs_at_once(driver: Driver, wh: Warehouse, day: date) -> None:
    """A writes its first chunk and holds the date's lock; B starts, finds the date not yet
    completed and goes for the lock; then A is let go. One complete result, B skipped."""
    n = n_applications(wh, day)
    a = driver.start(day, "hold", "a")
    b = driver.start(day, "plain", "b", after="a-chunk-written")  # imports meanwhile
    driver.wait_for("a-chunk-written", a)
    driver.wait_for("b-checked", b)
    time.sleep(0.5)  # B is on its way to the lock (or already waiting for it)
    driver.go()
    a_status, b_status = driver.status(a), driver.status(b)
    assert (a_status[1], b_status[1]) == ("completed", "skipped")
    rows = day_scores(wh, day)
    assert len(rows) == n and rows["application_id"].is_unique  # nothing was quarantined
    assert set(rows["run_id"]) == {a_status[2]}
    statuses = dict(zip(manifest_rows(wh, day)["run_id"], manifest_rows(wh, day)["status"],
                        strict=True))
    assert statuses == {a_status[2]: "completed", b_status[2]: "skipped"}
    locks = wh.read("run_locks")
    assert locks[["status", "run_id"]].values.tolist() == [["completed", a_status[2]]]


def test_two_runs_at_once_sqlite(trained_settings: Settings, driver: Driver) -> None:
    two_runs_at_once(driver, Warehouse.from_settings(trained_settings), DAY)


def test_two_runs_at_once_postgres(trained_settings: Settings, pg_wh: Warehouse, pg_url: str,
                                   driver: Driver, monkeypatch: pytest.MonkeyPatch) -> None:
    load_book(pg_wh, simulate_book(1500, date(2025, 5, 1), PG_DAY, seed=7), "sim-pg")
    monkeypatch.setenv("CREDITFLOW_WAREHOUSE_URL", pg_url)
    two_runs_at_once(driver, pg_wh, PG_DAY)


def test_no_champion_cli_exits_non_zero(trained_settings: Settings,
                                        prefect_harness: None) -> None:
    uri = trained_settings.tracking_uri
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model_alias(
        "creditflow-pd", "champion")
    result = CliRunner().invoke(app, ["score", "--date", DAY.isoformat(), "--json"])
    assert result.exit_code == 1
    assert '"ok": false' in result.stdout and "no champion" in result.stdout
    assert "no champion: model 'creditflow-pd' has no 'champion' alias" in result.stderr
    wh = Warehouse.from_settings(trained_settings)
    nothing_written(wh, DAY)
    assert wh.count("run_manifest") == 0
    alert = wh.read("alerts")  # the flow's failure hook pages whoever watches the run
    assert alert["condition_key"].tolist() == ["flow_failed:daily-scoring"]
    assert alert["business_date"].dt.date.tolist() == [DAY]
    assert "no champion" in alert["message"].iloc[0]
