"""The deployments for real: a local Prefect server on 127.0.0.1 (free port), `prefect deploy --all`
from prefect.yaml, the server's own scheduler creating runs from the crons, a process worker
executing them, and a past date run by hand through the server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.settings import PROJECT_ROOT
from pipelines.warehouse.engine import Warehouse

PREFECT = str(Path(sys.executable).with_name("prefect"))
CRON_DEPLOYMENTS = ("training", "daily-scoring", "daily-monitoring", "risk-report",
                    "epd-training", "collections")
SOURCE_DAY = date(2025, 6, 18)
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("prefect server did not become healthy")


@pytest.fixture
def prefect_server(trained_home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-server"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
           "PREFECT_LOGGING_LEVEL": "WARNING", "CREDITFLOW_PROJECT_DIR": str(PROJECT_ROOT)}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(env["PREFECT_API_URL"], proc)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _prefect(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _api(env: dict[str, str], path: str, body: dict | None = None) -> object:
    request = urllib.request.Request(
        f"{env['PREFECT_API_URL']}{path}", method="POST", data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def _scheduled_runs(env: dict[str, str], timeout: float = 120) -> dict[str, list[dict]]:
    """Deployment name -> its scheduled runs, earliest first, once every cron deployment of
    prefect.yaml has at least one (what Prefect's scheduler service creates by itself)."""
    deployments = {d["id"]: d["name"] for d in _api(env, "/deployments/filter")}
    deadline = time.monotonic() + timeout
    while True:
        runs = _api(env, "/flow_runs/filter", {"flow_runs": {"state": {"type": {
            "any_": ["SCHEDULED"]}}}, "sort": "EXPECTED_START_TIME_ASC"})
        by_name: dict[str, list[dict]] = {name: [] for name in deployments.values()}
        for run in runs:
            by_name[deployments[run["deployment_id"]]].append(run)
        if all(by_name[n] for n in CRON_DEPLOYMENTS) or time.monotonic() > deadline:
            return by_name
        time.sleep(2)


def _run_now(env: dict[str, str], run: dict) -> None:
    """Move a scheduled run's start to now, as if its cron time had come (its business date
    stays the date it was scheduled for)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _api(env, f"/flow_runs/{run['id']}/set_state", {"state": {
        "type": "SCHEDULED", "state_details": {"scheduled_time": now}}, "force": True})


def _state_of(env: dict[str, str], run: dict) -> dict:
    found = _api(env, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    return found[0]["state"]


def test_deployed_crons_schedule_runs_and_a_missing_day_is_caught_up(
        prefect_server: dict[str, str], trained_home: Path) -> None:
    env = prefect_server
    _prefect(env, "work-pool", "create", "creditflow", "--type", "process")
    _prefect(env, "--no-prompt", "deploy", "--all")
    scheduled = _scheduled_runs(env)
    assert {n for n, runs in scheduled.items() if runs} == set(CRON_DEPLOYMENTS), scheduled
    deployment = _api(env, "/deployments/filter", {"deployments": {"name": {
        "any_": ["daily-scoring"]}}})[0]
    assert deployment["job_variables"]["env"]["CREDITFLOW_HOME"] == str(trained_home)
    # the worker knows no home: runs get it from the deployment, not by inheritance
    worker_env = {k: v for k, v in env.items() if k != "CREDITFLOW_HOME"}
    first, second = scheduled["daily-scoring"][:2]
    day = date.fromisoformat(first["expected_start_time"][:10])
    wh = Warehouse(f"sqlite:///{trained_home / 'warehouse.db'}")
    # the cron fires before the day's applications are loaded: refused, not locked as done
    _run_now(env, first)
    _prefect(worker_env, "worker", "start", "--pool", "creditflow", "--run-once", timeout=300)
    state = _state_of(env, first)
    assert state["type"] == "FAILED" and "no applications loaded" in state["message"], state
    assert wh.count("run_locks", "business_date = :d AND status = 'completed'", {"d": day}) == 0
    # the data arrive late; the next scheduled run scores the missed day first, then its own;
    # beside it, a past date run by hand as the README says (one worker poll takes both)
    for late in (day, day + timedelta(days=1)):
        copy_applications(wh, late)
    _run_now(env, second)
    out = _prefect(env, "deployment", "run", "daily-scoring/daily-scoring",
                   "--param", "business_date=2025-06-02", "--param", "force=true")
    by_hand = {"id": out.split("UUID:")[1].split()[0]}
    _prefect(worker_env, "worker", "start", "--pool", "creditflow", "--run-once", timeout=300)
    assert _state_of(env, second)["type"] == "COMPLETED"
    assert _state_of(env, by_hand)["type"] == "COMPLETED"
    for scored in (day, day + timedelta(days=1)):
        assert wh.count("scores", "business_date = :d", {"d": scored}) == 3
    assert 0 < wh.count("scores", "business_date = :d", {"d": date(2025, 6, 2)}) <= wh.count(
        "applications", "business_date = :d", {"d": date(2025, 6, 2)})
    assert wh.execute("SELECT status FROM run_locks WHERE kind = 'score' AND "
                      "business_date = '2025-06-02'").scalar_one() == "completed"
    _same_trigger_starts_one_retraining(env)


_RETRAIN_TWICE = """
import json
from datetime import date
from dataclasses import replace
from prefect import flow
from flows.common import flow_settings
from flows.monitoring import start_retraining
from pipelines.monitoring.policy import decide_retrain
from pipelines.monitoring.retrain_rules import PolicyInputs
from pipelines.warehouse.engine import warehouse_for

@flow(name="monitoring-probe")
def probe() -> list:
    s = flow_settings()
    wh, day, seen = warehouse_for(s.warehouse), date(2025, 6, 29), PolicyInputs(score_psi=9.9)
    first = decide_retrain(s, wh, day, seen)
    launches = [start_retraining(s, day, first)]
    # a process killed between the launch and its record: Prefect's idempotency key holds
    launches.append(start_retraining(s, day, replace(first, launched=None)))
    launches.append(start_retraining(s, day, decide_retrain(s, wh, day, seen)))  # a rerun
    return launches

print(json.dumps(probe()))
"""


def _same_trigger_starts_one_retraining(env: dict[str, str]) -> None:
    """Monitoring's trigger through the real deployment: the same day's trigger, relaunched
    after a lost record and decided again by a rerun, starts one retraining run."""
    probe_env = {**env, "CREDITFLOW_PREFECT_API_URL": env["PREFECT_API_URL"]}
    done = subprocess.run([sys.executable, "-c", _RETRAIN_TWICE], env=probe_env,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    launches = json.loads(done.stdout.strip().splitlines()[-1])
    assert len({launch["flow_run_id"] for launch in launches}) == 1, launches
    assert launches[2]["already_started"] is True
    deployment = _api(env, "/deployments/filter", {"deployments": {"name": {
        "any_": ["retraining"]}}})[0]
    runs = _api(env, "/flow_runs/filter", {"flow_runs": {"deployment_id": {
        "any_": [deployment["id"]]}}})
    assert [r["id"] for r in runs] == [launches[0]["flow_run_id"]]


def copy_applications(wh: Warehouse, day: date, n: int = 3) -> None:
    """``n`` applications of the fixture's last days, arriving for ``day`` under new ids."""
    apps = wh.read("applications", where="business_date = :d", params={"d": SOURCE_DAY},
                   order_by="application_id").head(n)
    apps["application_id"] = [f"SCHED{day:%y%m%d}{i}" for i in range(n)]
    apps["application_ts"] = pd.to_datetime(apps["application_ts"]) + (
        pd.Timestamp(day) - pd.Timestamp(SOURCE_DAY))
    apps["business_date"] = day
    wh.upsert("applications", apps)
