"""The deployments for real: a local Prefect server on 127.0.0.1 (free port), `prefect deploy`
from prefect.yaml, a process worker, and a daily-scoring run that goes through the server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_ROOT
from pipelines.warehouse import Warehouse

PREFECT = str(Path(sys.executable).with_name("prefect"))
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


def test_daily_scoring_runs_through_a_deployment(prefect_server: dict[str, str],
                                                 trained_home: Path) -> None:
    env = prefect_server
    _prefect(env, "work-pool", "create", "creditflow", "--type", "process")
    _prefect(env, "--no-prompt", "deploy", "--name", "daily-scoring")
    out = _prefect(env, "deployment", "run", "daily-scoring/daily-scoring",
                   "--param", "business_date=2025-06-02", "--param", "force=true")
    assert "Created flow run" in out
    _prefect(env, "worker", "start", "--pool", "creditflow", "--run-once", timeout=300)
    request = urllib.request.Request(
        f"{env['PREFECT_API_URL']}/flow_runs/filter", method="POST",
        data=json.dumps({"limit": 5}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        runs = json.loads(resp.read())
    assert [r["state"]["type"] for r in runs] == ["COMPLETED"], runs
    wh = Warehouse(f"sqlite:///{trained_home / 'warehouse.db'}")
    scored = wh.count("scores", "business_date = :d", {"d": "2025-06-02"})
    read = wh.count("applications", "business_date = :d", {"d": "2025-06-02"})
    assert scored > 0 and scored <= read
    status = wh.execute("SELECT status FROM run_locks WHERE kind = 'score' AND "
                        "business_date = '2025-06-02'").scalar_one()
    assert status == "completed"
