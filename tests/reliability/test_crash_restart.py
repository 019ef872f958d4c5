"""Crash and restart: each flow (ingest, training with its promotion, scoring, monitoring) is
SIGKILLed at a random point among its natural steps, then the same work runs again; nothing may be
duplicated or half-written, no second champion may appear, no alert may be lost, and the registry
and the warehouse must agree afterwards.

How (the approach of tests/integration/test_scoring_faults.py, whose Driver this extends): the
flow runs in a subprocess through a small driver script that wraps ONE function of the stage by
its module attribute (no test hook in product code). At the chosen call it signals the test and
holds there, its transaction and locks as they are (``after``), or signals on entry and goes on
(``during``, killed after a random short delay); the test sends SIGKILL. The rerun calls the very
same ``work`` function in-process. Invariants that must hold at ANY kill point are checked right
after the kill; the exact end state after the rerun.

The point is drawn per flow from a seed printed with it. Reproduce a failure with
``CREDITFLOW_CRASH_SEED=<seed>``, or force one point with ``CREDITFLOW_CRASH_POINT=<flow>:<label>``.

"No lost alert" (pipelines/monitoring/alerts.py) means at least once: a condition raised for a day is stored
once and delivered, or delivered by the rerun if the sender died before delivering. A kill between
a receiver accepting and ``delivered`` being stored resends on rerun; that window is not a kill
point here (it has no step boundary; the duplicate is the documented price of at least once).
"""

from __future__ import annotations

import json
import os
import random
import runpy
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.pd_model import PDModel
from models.promotion_rules import PROMOTED, REJECTED
from models.registry import (
    aliases,
    client_for,
    load_pd_model,
    load_reference,
    move_aliases_atomically,
    register_pd_model,
    start_run,
)
from models.scaling import decide_by_score, pd_to_score
from pipelines.core.settings import Settings
from pipelines.monitoring.alerts import _CLAIM_GRACE_S, send_alert
from pipelines.promotion.audit import INTERRUPTED, PROMOTING
from pipelines.scoring.chunks import day_batch_id
from pipelines.scoring.models import scoring_policy
from pipelines.simulation.simulate import simulate_book
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.scoring import manifest_rows
from tests.integration.test_alerts_http import Receiver
from tests.integration.test_scoring import DAY, corrupt, day_scores, n_applications
from tests.integration.test_scoring_faults import ROOT, Driver

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SEED = int(os.environ.get("CREDITFLOW_CRASH_SEED") or random.SystemRandom().randrange(10**6))
FORCED = os.environ.get("CREDITFLOW_CRASH_POINT", "")
NAME = "creditflow-pd"
BY = "crash-test"

CRASH_DRIVER = '''
"""Run one creditflow flow's work; with a kill point, signal the test there and hold."""
import importlib, json, os, sys, time
from datetime import date
from pathlib import Path


def work(flow, args):
    """The flow's stage calls; the killed run and the rerun both run exactly this."""
    from pipelines.core.settings import Settings
    from pipelines.warehouse.engine import Warehouse

    settings = Settings()
    wh = Warehouse.from_settings(settings)
    try:
        if flow == "ingest":
            from pipelines.ingest import load as ingest
            return ingest.ingest_file(wh, Path(args["path"]), "applications",
                                      chunk_rows=args["chunk_rows"], settings=settings)
        if flow == "training":  # the training flow: train, register, then promotion
            from pipelines.promotion import apply as promotion
            from pipelines.training import train
            trained = train.train_model(settings, wh, triggered_by=args["by"])
            return trained, promotion.promote_challenger(
                settings, wh, triggered_by=f"training run {trained.run_id}")
        if flow == "scoring":
            from pipelines.scoring import run as scoring
            return scoring.score_day(settings, wh, date.fromisoformat(args["day"]))
        if flow == "monitoring":
            import pandas as pd
            from pipelines.monitoring import day as monitor
            return monitor.monitor_day(settings, wh, date.fromisoformat(args["day"]),
                                       pd.read_parquet(args["reference"]), args["champion"])
        raise ValueError(f"unknown flow {flow}")
    finally:
        wh.dispose()


def arm(point, signals):
    calls = [0]  # shared by every name of the target (a function imported in two modules)
    for name in point["targets"]:
        module, _, attr = name.partition(":")
        owner = importlib.import_module(module)
        *path, leaf = attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, leaf, wrapped(getattr(owner, leaf), point, calls, signals))


def wrapped(original, point, calls, signals):
    def call(*args, **kwargs):
        calls[0] += 1
        hit = calls[0] == point["nth"]
        if hit and point["when"] == "during":
            (signals / "reached").touch()
        result = original(*args, **kwargs)
        if hit and point["when"] == "after":
            (signals / "reached").touch()
            while True:  # held here until the test's SIGKILL
                time.sleep(0.05)
        return result
    return call


if __name__ == "__main__":
    flow, args, point = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    signals = Path(os.environ["TEST_SIGNALS"])
    arm(point, signals)
    work(flow, args)
    (signals / "done").touch()
    while True:  # a "during" kill whose delay outlasted the work still finds the process
        time.sleep(0.05)
'''


@dataclass(frozen=True)
class Point:
    """Kill after the ``nth`` call of a function (all ``targets`` name the same function) has
    returned, or a random short delay after it was entered (``during``)."""

    label: str
    targets: tuple[str, ...]
    nth: int = 1
    when: str = "after"


def _p(label: str, *targets: str, nth: int = 1, when: str = "after") -> Point:
    return Point(label, targets, nth, when)


SET_ALIAS = ("models.registry.aliases:set_alias", "pipelines.training.track:set_alias")
POINTS: dict[str, list[Point]] = {
    "ingest": [
        _p("file read", "pipelines.ingest.load:load_batch"),
        _p("validating", "pipelines.ingest.load:run_gate", when="during"),
        _p("gate passed", "pipelines.ingest.load:run_gate"),
        *[_p(f"chunk {k} written", "pipelines.ingest.load:write_frame", nth=k) for k in (1, 2, 3)],
        _p("verdict recorded, not committed", "pipelines.ingest.load:record_gate"),
        _p("committed", "pipelines.ingest.load:ingest_file"),
    ],
    "training": [
        _p("fitting", "pipelines.training.train:fit_model", when="during"),
        _p("calibrated", "pipelines.training.train:calibrate"),
        _p("evaluated", "pipelines.training.train:evaluate"),
        _p("run logged", "pipelines.training.track:log_training"),
        _p("reference logged", "pipelines.training.track:log_reference"),
        _p("version registered", "pipelines.training.track:register_pd_model"),
        _p("run finished", "models.registry.runs:TrackedRun.finish"),
        _p("challenger alias set", *SET_ALIAS),
        _p("promotion decided", "pipelines.promotion.apply:decide"),
        _p("audit intent written", "pipelines.promotion.apply:record_intent"),
        _p("previous alias set", *SET_ALIAS, nth=2),
        _p("champion alias set", *SET_ALIAS, nth=3),
        _p("challenger alias removed", "models.registry.aliases:_delete_alias"),
        _p("audit row completed", "pipelines.promotion.audit:resume_run"),
        _p("promotion done", "pipelines.promotion.apply:promote_challenger"),
    ],
    "scoring": [
        _p("models loaded", "pipelines.scoring.run:load_models"),
        _p("manifest running", "pipelines.scoring.run:_manifest"),
        _p("date locked", "pipelines.scoring.run:take_lock"),
        *[_p(f"chunk {k} written", "pipelines.scoring.run:_write_chunk", nth=k) for k in (1, 2, 3)],
        _p("day gate recorded", "pipelines.scoring.run:record_gate"),
        _p("lock completed, not committed", "pipelines.scoring.run:finish_lock"),
        _p("manifest completed, not committed", "pipelines.scoring.run:_manifest", nth=2),
        _p("committed", "pipelines.scoring.run:score_day"),
    ],
    "monitoring": [
        _p("metrics written", "pipelines.monitoring.day:write_metrics"),
        _p("plots drawn", "pipelines.monitoring.report:day_figures"),
        _p("first alert claimed, not sent", "pipelines.monitoring.alerts:_claim"),
        _p("first alert sent", "pipelines.monitoring.day:send_alert"),
        _p("retraining decided", "pipelines.monitoring.day:decide_retrain"),
        _p("trigger alert claimed, not sent", "pipelines.monitoring.alerts:_claim", nth=2),
        _p("trigger alert sent", "pipelines.monitoring.day:send_alert", nth=2),
        # day.py imports start_run from the package; tracked_run calls it in its own module
        _p("monitoring run started", "models.registry:start_run",
           "models.registry.runs:start_run"),
        _p("monitoring run logged", "pipelines.monitoring.day:_log_mlflow"),
        _p("monitored", "pipelines.monitoring.day:monitor_day"),
    ],
}


def choose(flow: str) -> tuple[Point, float]:
    """The kill point (and, for ``during``, the delay) of this flow for this seed."""
    rng = random.Random(f"{SEED}:{flow}")
    point, delay = rng.choice(POINTS[flow]), rng.uniform(0.2, 2.0)
    forced_flow, _, label = FORCED.partition(":")
    if forced_flow == flow:
        point = next(p for p in POINTS[flow] if p.label == label)
    print(f"crash-restart {flow}: seed {SEED}, SIGKILL at '{point.label}'"
          + (f" + {delay:.2f} s" if point.when == "during" else "")
          + f" (reproduce: CREDITFLOW_CRASH_SEED={SEED} or "
            f"CREDITFLOW_CRASH_POINT='{flow}:{point.label}')")
    return point, delay


class CrashDriver(Driver):
    """test_scoring_faults' Driver with a driver script for every flow and a kill point."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.script.write_text(CRASH_DRIVER)
        self.completed = False

    def kill_at(self, flow: str, args: dict[str, Any], timeout: float = 300) -> Point:
        point, delay = choose(flow)
        spec = {"targets": list(point.targets), "nth": point.nth, "when": point.when}
        env = {**os.environ, "TEST_SIGNALS": str(self.signals), "PYTHONPATH": str(ROOT)}
        with open(self.signals / f"{flow}.out", "w") as out, \
                open(self.signals / f"{flow}.err", "w") as err:
            proc = subprocess.Popen(
                [sys.executable, str(self.script), flow, json.dumps(args), json.dumps(spec)],
                cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        self.procs.append(proc)
        self.names[proc.pid] = flow
        self.wait_for("reached", proc, timeout=timeout)
        if point.when == "during":
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (  # killed, not ended on its own
            f"{flow} ended {proc.returncode}: {self.output(proc, 'err')[-2000:]}")
        self.completed = (self.signals / "done").exists()  # the work returned before the kill
        return point

    def rerun(self, flow: str, args: dict[str, Any]) -> Any:
        return runpy.run_path(str(self.script), run_name="crash_driver")["work"](flow, args)


@pytest.fixture
def crash(tmp_path: Path) -> Iterator[CrashDriver]:
    d = CrashDriver(tmp_path)
    yield d
    d.close()


# ---------------------------------------------------------------------------------------------
# ingest


INGEST_DAY = date(2025, 3, 12)
INGEST_ROWS, INGEST_CHUNK = 320, 100  # about 317 rows pass: written in 4 chunks
DEFECTS = {7: ("bureau_score", "9999"), 150: ("annual_income", "sixty k"),
           301: ("applicant_age", "15")}


def write_tape(path: Path) -> pd.DataFrame:
    apps = simulate_book(INGEST_ROWS, INGEST_DAY, INGEST_DAY, seed=5).applications
    text = apps.astype(str).drop(columns=["business_date"])
    text["application_ts"] = apps["application_ts"].dt.strftime("%Y-%m-%d %H:%M:%S")
    for row, (column, value) in DEFECTS.items():
        text.loc[row, column] = value
    text.to_csv(path, index=False)
    return apps


def batch_state(wh: Warehouse, batch: str) -> tuple[int, int, int]:
    return (wh.count("applications", "batch_id = :b", {"b": batch}),
            wh.count("quarantine", "batch_id = :b", {"b": batch}),
            wh.count("validation_results", "batch_id = :b", {"b": batch}))


def test_ingest_killed_anywhere_leaves_all_or_nothing_and_rerun_is_exact(
        settings: Settings, sqlite_wh: Warehouse, crash: CrashDriver, tmp_path: Path) -> None:
    from pipelines.ingest.load import file_batch_id

    path = tmp_path / "applications.csv"
    apps = write_tape(path)
    batch = file_batch_id(path, "applications")
    args = {"path": str(path), "chunk_rows": INGEST_CHUNK}
    expected = (INGEST_ROWS - len(DEFECTS), len(DEFECTS), 1)
    point = crash.kill_at("ingest", args)

    # one transaction: the batch is wholly there (only if the kill came after the commit) or
    # not at all, and never recorded as validated without its rows
    committed = point.label == "committed" or crash.completed
    assert batch_state(sqlite_wh, batch) == (expected if committed else (0, 0, 0))

    result = crash.rerun("ingest", args)
    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (
        INGEST_ROWS, expected[0], len(DEFECTS))
    assert batch_state(sqlite_wh, batch) == expected
    written = sqlite_wh.read("applications", "batch_id = :b", {"b": batch})
    assert written["application_id"].is_unique
    kept = apps.drop(index=list(DEFECTS))["application_id"]
    assert set(written["application_id"]) == set(kept)
    assert sqlite_wh.count("applications") == expected[0]  # nothing from elsewhere either
    q = sqlite_wh.read("quarantine", "batch_id = :b", {"b": batch})
    assert sorted(q["row_number"].astype(int)) == [r + 1 for r in sorted(DEFECTS)]
    verdict = sqlite_wh.read("validation_results", "batch_id = :b", {"b": batch}).iloc[0]
    assert (verdict["status"], verdict["rows_in"], verdict["rows_passed"],
            verdict["rows_quarantined"]) == ("quarantined", INGEST_ROWS, *expected[:2])


# ---------------------------------------------------------------------------------------------
# scoring


def test_scoring_killed_anywhere_never_shows_a_partial_day_and_rerun_is_exact(
        trained_settings: Settings, crash: CrashDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITFLOW_SCORING__CHUNK_ROWS", "15")  # 43 applications: 3 chunks
    wh = Warehouse.from_settings(trained_settings)
    n = n_applications(wh, DAY)
    corrupt(wh, wh.read("applications", "business_date = :d", {"d": DAY},
                        order_by="application_id")["application_id"].iloc[20])
    point = crash.kill_at("scoring", {"day": DAY.isoformat()})

    committed = point.label == "committed" or crash.completed
    assert len(day_scores(wh, DAY)) == (n - 1 if committed else 0)
    dead = manifest_rows(wh, DAY)
    assert set(dead["status"]) <= {"completed" if committed else "running"}
    assert wh.count("run_locks", "business_date = :d", {"d": DAY}) == int(committed)
    assert wh.count("validation_results", "batch_id = :b",
                    {"b": day_batch_id(DAY)}) == int(committed)

    rerun = crash.rerun("scoring", {"day": DAY.isoformat()})
    assert rerun.status == ("skipped" if committed else "completed")
    manifest = manifest_rows(wh, DAY)
    done = manifest[manifest["status"] == "completed"]
    assert len(done) == 1  # one run shown complete; the dead one settled as failed
    assert set(manifest["status"]) <= {"completed", "failed", "skipped"}
    for row in manifest[manifest["status"] == "failed"].itertuples():
        assert row.details["error"].startswith("interrupted: still 'running'")
    run_id = done["run_id"].iloc[0]
    assert done["counts"].iloc[0] == {"read": n, "scored": n - 1, "quarantined": 1,
                                      "shadow_scored": 0}
    rows = day_scores(wh, DAY)
    assert len(rows) == n - 1 and rows["application_id"].is_unique
    assert set(rows["run_id"]) == {run_id} and set(rows["role"]) == {"champion"}
    assert set(rows["model_version"]) == {"1"}  # the registry's champion
    locks = wh.read("run_locks", "business_date = :d", {"d": DAY})
    assert locks[["status", "run_id"]].values.tolist() == [["completed", run_id]]
    gate = wh.read("validation_results", "batch_id = :b", {"b": day_batch_id(DAY)})
    assert gate[["rows_in", "rows_quarantined"]].values.tolist() == [[n, 1]]
    assert wh.count("quarantine", "batch_id = :b", {"b": day_batch_id(DAY)}) == 1


# ---------------------------------------------------------------------------------------------
# training and promotion


def install_weak_champion(settings: Settings) -> str:
    """A new champion that is version 1 cut to its first two trees (version 1 becomes
    ``previous``): clearly worse, so a fresh training wins its promotion and the kill can land
    inside the alias move. Its run is finished, with the training-window tags promotion reads."""
    uri = settings.tracking_uri
    strong = load_pd_model(uri, NAME, version="1")
    weak = PDModel.from_spec(strong.booster[0:2], strong.spec())
    tags = client_for(uri).get_run(strong.run_id).data.tags
    run = start_run(uri, settings.training.experiment_name, settings.artifact_root,
                    tags={k: v for k, v in tags.items() if k.startswith("window.")})
    run.log_metrics({"oot_auc": 0.6})
    sample = load_reference(uri, NAME, version="1")[strong.feature_names]
    version = register_pd_model(run, weak, sample, NAME, alias=None,
                                policy=scoring_policy(settings))
    run.finish()
    move_aliases_atomically(uri, NAME, version, "1")
    return version


@dataclass
class Registry:
    aliases: dict[str, str]  # alias -> version
    run_of: dict[str, str]  # version -> run id
    status: dict[str, str]  # run id -> status

    @classmethod
    def read(cls, settings: Settings) -> Registry:
        uri = settings.tracking_uri
        client = client_for(uri)
        versions = client.search_model_versions(f"name = '{NAME}'")
        exp = client.get_experiment_by_name(settings.training.experiment_name)
        runs = client.search_runs([exp.experiment_id])
        reg = cls(aliases(uri, NAME), {str(v.version): v.run_id for v in versions},
                  {r.info.run_id: r.info.status for r in runs})
        holders = [v for v in reg.run_of if client.get_model_version(NAME, v).aliases.count(
            "champion")]
        assert holders == [reg.aliases.get("champion")], holders  # never zero, never two
        return reg

    def finished(self, version: str) -> bool:
        return self.status.get(self.run_of[version]) == "FINISHED"


def check_any_crash_state(reg: Registry, weak: str) -> None:
    """What must hold wherever the kill landed: every alias names a version whose training run
    finished (so none names a half-trained one), and ``previous`` is one of the old two."""
    assert all(reg.finished(v) for v in reg.aliases.values()), reg
    assert reg.aliases.get("previous") in {"1", weak}


def check_audit(wh: Warehouse, reg: Registry, weak: str) -> pd.DataFrame:
    """The warehouse's audit trail agrees with the registry: nothing left in flight, the last
    promotion names the champion, and an interrupted one never took effect."""
    audit = wh.read("promotion_audit", order_by="id")
    assert PROMOTING not in set(audit["decision"])
    promoted = audit[audit["decision"] == PROMOTED]
    champion = reg.aliases["champion"]
    if promoted.empty:
        assert champion == weak  # set outside promotion by the test itself
    else:
        assert promoted["challenger_version"].iloc[-1] == champion
        assert (promoted["champion_version"] == weak).all()  # each judged against the old one
    interrupted = audit[audit["decision"] == INTERRUPTED]
    assert (interrupted["challenger_version"] != champion).all()
    return audit


def test_training_killed_anywhere_leaves_one_finished_champion_on_record(
        trained_settings: Settings, crash: CrashDriver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {  # a cheaper fit; the rules that matter here are the AUC ones
            "TRAINING__N_ESTIMATORS": "60", "TRAINING__EARLY_STOPPING_ROUNDS": "10",
            "PROMOTION__BOOTSTRAP_SAMPLES": "60",
            "PROMOTION__MAX_APPROVAL_RATE_SHIFT": "1.0"}.items():  # the weak one approves oddly
        monkeypatch.setenv(f"CREDITFLOW_{key}", value)
    settings = Settings()
    wh = Warehouse.from_settings(settings)
    weak = install_weak_champion(settings)
    crash.kill_at("training", {"by": BY})

    killed = Registry.read(settings)
    check_any_crash_state(killed, weak)
    champion_before = killed.aliases["champion"]

    trained, decision = crash.rerun("training", {"by": BY})
    reg = Registry.read(settings)
    assert reg.status[trained.run_id] == "FINISHED"
    # the killed run's process is gone: the rerun settled its run instead of leaving it RUNNING
    assert "RUNNING" not in reg.status.values(), reg.status
    for run_id, status in killed.status.items():
        if status == "RUNNING":
            assert reg.status[run_id] == "FAILED"
            tags = client_for(settings.tracking_uri).get_run(run_id).data.tags
            assert tags["creditflow.settled"].startswith("failed: its process")
    if champion_before == weak:  # the killed run never got there: the rerun wins
        assert decision.verdict == PROMOTED
        assert reg.aliases == {"champion": trained.version, "previous": weak}
    else:  # the same model again is no better than the champion the killed run installed
        assert decision.verdict == REJECTED
        assert reg.aliases == {"champion": champion_before, "previous": weak,
                               "challenger": trained.version}
    check_any_crash_state(reg, weak)
    champion = reg.aliases["champion"]
    run = client_for(settings.tracking_uri).get_run(reg.run_of[champion])
    assert "oot_auc" in run.data.metrics
    model = load_pd_model(settings.tracking_uri, NAME, alias="champion")  # artifacts load
    assert model.version == champion and len(model.booster.get_dump()) > 2
    assert not load_reference(settings.tracking_uri, NAME, version=champion).empty
    audit = check_audit(wh, reg, weak)
    mine = audit[audit["record"].str.contains(decision.decision_id)]
    assert mine["decision"].tolist() == [decision.verdict]
    assert json.loads(mine["record"].iloc[0])["aliases_after"] == reg.aliases


# ---------------------------------------------------------------------------------------------
# monitoring


MONITOR_DAY = date(2024, 9, 30)
CHAMPION = {"name": NAME, "version": "4", "oot_auc": 0.76,
            "feature_names": ["ltv", "bureau_score"]}
# what the day below must raise: the estimate's alert, and the drift response it calls for (a
# population shift with calibration holding: a reference reset proposed, no retraining)
RAISED = {"estimated_auc", "reference_reset"}


def monitoring_world(wh: Warehouse, tmp: Path) -> dict[str, Any]:
    """A reference of spread PDs and a window of scores whose PDs hardly differ: the estimated
    AUC falls far below the champion's OOT AUC (a critical alert), and the drift response is
    proposed (a second alert)."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"ltv": rng.normal(1.0, 0.2, 2000),
                              "bureau_score": rng.normal(690, 60, 2000),
                              "pd": rng.uniform(0.01, 0.25, 2000)})
    path = tmp / "reference.parquet"
    reference.to_parquet(path)
    pds = rng.uniform(0.045, 0.055, 800)
    points = np.round(pd_to_score(pds, 600.0, 50.0, 20.0), 2)
    wh.upsert("scores", pd.DataFrame({
        "application_id": [f"M{i:06d}" for i in range(pds.size)], "model_version": "4",
        "role": "champion", "model_name": NAME,
        "business_date": pd.Timestamp(MONITOR_DAY) - pd.to_timedelta(np.arange(800) % 14, "D"),
        "pd": pds, "score": points, "decision": decide_by_score(points, 570.0, 535.0), "run_id": "seed",
        "scored_at": pd.Timestamp(MONITOR_DAY)}))
    return {"day": MONITOR_DAY.isoformat(), "reference": str(path), "champion": CHAMPION}


def wait_for_claims_to_age(wh: Warehouse, timeout_s: float) -> None:
    """An undelivered claim younger than one delivery attempt may belong to a live sender, so
    a rerun leaves it alone (pipelines.monitoring.alerts); the killed sender's claims must age first."""
    claims = wh.read("alerts", "delivered = 0 AND suppressed = 0")
    if claims.empty:
        return
    newest = pd.Timestamp(claims["created_at"].max()).to_pydatetime()
    ready = newest + timedelta(seconds=timeout_s + _CLAIM_GRACE_S + 0.2)
    time.sleep(max(0.0, (ready - datetime.now(UTC).replace(tzinfo=None)).total_seconds()))


def received(receiver: Receiver) -> list[str]:
    """Condition keys of the alerts the receiver got, one per request (the title names it)."""
    titles = [r["body"]["title"] for r in receiver.requests]
    return sorted(next((k for k in sorted(RAISED) if k in t), t) for t in titles)


def test_monitoring_killed_anywhere_loses_no_alert_and_sends_none_twice(
        settings: Settings, sqlite_wh: Warehouse, crash: CrashDriver, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    args = monitoring_world(sqlite_wh, tmp_path)
    with Receiver() as receiver:
        monkeypatch.setenv("CREDITFLOW_ALERTS__URLS",
                           json.dumps([f"json://127.0.0.1:{receiver.port}/hooks/risk"]))
        monkeypatch.setenv("CREDITFLOW_ALERTS__TIMEOUT_S", "1.0")
        point = crash.kill_at("monitoring", args)

        # whatever was delivered is on record as delivered, and nothing was sent twice
        stored = sqlite_wh.read("alerts", order_by="id")
        assert stored["condition_key"].is_unique and set(stored["condition_key"]) <= RAISED
        assert received(receiver) == sorted(
            stored.loc[stored["delivered"] == 1, "condition_key"])
        if "claimed, not sent" in point.label:
            assert stored["delivered"].iloc[-1] == 0  # the lost-alert case the rerun must fix

        wait_for_claims_to_age(sqlite_wh, 1.0)
        result = crash.rerun("monitoring", args)
        stored = sqlite_wh.read("alerts", order_by="id")
        assert sorted(stored["condition_key"]) == sorted(RAISED) == sorted(result.alert_keys())
        assert (stored["business_date"].dt.date == MONITOR_DAY).all()
        assert stored[["delivered", "suppressed"]].values.tolist() == [[1, 0], [1, 0]]
        assert received(receiver) == sorted(RAISED)  # each exactly once, none lost

    metrics = sqlite_wh.read("monitoring_metrics")
    assert len(metrics) == len(result.metrics) and not metrics.duplicated(
        ["business_date", "metric", "segment"]).any()
    manifest = sqlite_wh.read("run_manifest", order_by="run_id")
    assert manifest[["run_id", "status"]].values.tolist() == [
        [f"monitor-{MONITOR_DAY}", "completed"], [f"retrain-trigger-{MONITOR_DAY}", "triggered"]]
    details = json.loads(manifest["details"].iloc[0])
    client = client_for(settings.tracking_uri)
    exp = client.get_experiment_by_name(settings.monitoring.experiment_name)
    runs = client.search_runs([exp.experiment_id],
                              filter_string=f"tags.business_date = '{MONITOR_DAY}'")
    assert [(r.info.run_id, r.info.status) for r in runs] == [
        (result.mlflow_run_id, "FINISHED")]  # the killed run's, reused, or the rerun's own
    assert details["mlflow_run_id"] == result.mlflow_run_id
    assert sorted(details["alerts"]) == sorted(RAISED)


def test_a_claimed_undelivered_alert_is_retried_once_and_never_under_a_live_sender(
        home: Path, any_wh: Warehouse) -> None:
    """The retry behind "no lost alert", on SQLite and PostgreSQL: a row that reached nobody is
    left alone while its claim is young (its sender may still be at work), then re-claimed by
    exactly one of two reruns racing for it, and never sent again once delivered."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    down = Settings(alerts={"urls": [f"json://127.0.0.1:{closed}/hook"], "timeout_s": 0.5})
    first = send_alert(down, any_wh, "score_psi", MONITOR_DAY, "score PSI 0.31", "warning")
    assert first.sent and first.delivered == 0
    with Receiver() as receiver:
        up = Settings(alerts={"urls": [f"json://127.0.0.1:{receiver.port}/hook"],
                              "timeout_s": 0.5})
        young = send_alert(up, any_wh, "score_psi", MONITOR_DAY, "score PSI 0.31", "warning")
        assert young.already_stored and not receiver.requests
        any_wh.execute("UPDATE alerts SET created_at = :t",
                       {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)})
        with ThreadPoolExecutor(2) as pool:
            racers = list(pool.map(lambda _: send_alert(
                up, any_wh, "score_psi", MONITOR_DAY, "score PSI 0.31", "warning"), range(2)))
        assert sorted(r.already_stored for r in racers) == [False, True]
        assert [r.delivered for r in racers if not r.already_stored] == [1]
        again = send_alert(up, any_wh, "score_psi", MONITOR_DAY, "score PSI 0.31", "warning")
        assert again.already_stored and again.delivered == 1
        assert len(receiver.requests) == 1
        assert receiver.requests[0]["body"]["message"] == "score PSI 0.31"
    assert any_wh.read("alerts")[["delivered", "suppressed"]].values.tolist() == [[1, 0]]


# ---------------------------------------------------------------------------------------------
# Prefect's temporary API server

_HOLDING_FLOW = """
import sys, time
from prefect import flow
from flows.common import flow_settings

@flow(name="held")
def held() -> None:
    flow_settings()
    open(sys.argv[1], "w").close()
    time.sleep(300)

held()
"""


def test_temporary_prefect_server_dies_with_a_killed_run(home: Path, tmp_path: Path) -> None:
    """A run started without PREFECT_API_URL boots Prefect's temporary server as a child
    process; SIGKILL skips the atexit hook that stops it, so without the watchdog it outlives
    the run (about 230 MB each time)."""
    import psutil

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    marker = tmp_path / "inside-the-flow"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDING_FLOW, str(marker)], env=env,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "flow never started"
            time.sleep(0.2)
        servers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "uvicorn" in " ".join(c.cmdline())]
        assert len(servers) == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(servers, timeout=15)
    assert not alive, f"temporary server {alive} outlived the killed run"
