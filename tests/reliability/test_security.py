"""Security: secrets and applicant identifiers stay where they belong, and only the configured
registry's own models are loaded.

1. A training, scoring and monitoring run with a database password (PostgreSQL when reachable,
   otherwise SQLite plus a configured-but-unused URL with a password), a webhook token, a
   password on a second (dead) receiver and a secret id salt: none of these strings appears in
   any log record (DEBUG, every logger), stdout/stderr, MLflow entity, MLflow or report file,
   Prefect artifact text, stored alert or manifest, or alert body.
2. After scoring, monitoring (with alerts) and two defective batches with Data Docs on the trained
   book, no raw application or loan id appears in any MLflow artifact, report, alert body or
   artifact text, while the warehouse keeps the real ids and the Data Docs show the pseudonym.
3. A model version whose files live outside the store, or whose spec no longer matches its
   booster or logged signature, is refused by name before anything is scored.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from mlflow import MlflowClient
from mlflow.entities import ViewType
from sqlalchemy.engine import make_url

from models import registry
from models.registry import (
    PD_COL,
    RAW_PD_COL,
    RegistryError,
    load_pd_model,
    load_reference,
    model_io,
    move_aliases_atomically,
    set_alias,
)
from models.serving import TamperedModelError
from pipelines.champion import current_champion
from pipelines.core.privacy import pseudonymise
from pipelines.core.settings import Settings
from pipelines.monitoring.day import monitor_day
from pipelines.monitoring.report import monitoring_summary_markdown
from pipelines.scoring import summary as scoring_summary
from pipelines.scoring.models import ScoringError
from pipelines.scoring.run import score_day
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import simulate_book
from pipelines.training.train import train_model
from pipelines.validation import gate as validate_stage
from pipelines.validation.gate import BatchRejected
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.schema import metadata
from tests.integration.test_alerts_http import Receiver

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

DAY = date(2025, 6, 29)
MODEL = "creditflow-pd"
# Tight bands and a small floor: the ordinary noise of a few days raises drift alerts.
ALERTING = {"psi_bands": [0.0, 1e-6], "min_window_rows": 20, "evidently_when": "always",
            "evidently_sample_rows": 2_000}


# -- capture and scan -------------------------------------------------------------------------

@contextmanager
def every_log_record(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """DEBUG on the root and on every logger that set its own level; caplog's handler also on
    the loggers that do not propagate (Prefect's), so no record is missed. SQLAlchemy's engine
    stays at INFO: statements and bound parameters, not every row read back (the warehouse
    itself is scanned apart, and its rows would multiply the run time)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    detached: list[logging.Logger] = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):
            continue
        if logger.level != logging.NOTSET and not name.startswith("sqlalchemy.engine"):
            caplog.set_level(logging.DEBUG, logger=name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
            detached.append(logger)
    try:
        yield
    finally:
        for logger in detached:
            logger.removeHandler(caplog.handler)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for r in caplog.records:
        parts += [r.name, r.getMessage(), r.exc_text or "", str(getattr(r, "stack_info", ""))]
    return "\n".join(parts)


def file_texts(*roots: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file as bytes; a Parquet file also decoded (its pages are compressed)."""
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.suffix == ".parquet":  # only text columns can hold an id
                frame = pd.read_parquet(path).reset_index()
                text = frame.select_dtypes(exclude="number").astype(str)
                data += "\n".join(map(str, text.columns)).encode()
                data += "\n".join(text.stack().unique()).encode()
            yield path, data


def mlflow_texts(tracking_uri: str) -> Iterator[tuple[str, str]]:
    """Every name, param, tag and metric key of every experiment, run, logged model, registered
    model and version in the store."""
    client = MlflowClient(tracking_uri, tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    for exp in experiments:
        yield f"experiment {exp.name}", f"{exp.name} {exp.tags}"
        for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL,
                                      max_results=1000):
            d = run.data
            yield f"run {run.info.run_id}", (f"{run.info.run_name} {d.params} {d.tags} "
                                             f"{list(d.metrics)}")
    for lm in client.search_logged_models([e.experiment_id for e in experiments]):
        yield f"logged model {lm.model_id}", f"{lm.name} {lm.params} {lm.tags}"
    for rm in client.search_registered_models():
        yield f"registered model {rm.name}", f"{rm.description} {rm.tags}"
        for mv in client.search_model_versions(f"name = '{rm.name}'"):
            yield f"{rm.name} v{mv.version}", f"{mv.description} {mv.tags} {mv.source}"


def warehouse_texts(wh: Warehouse) -> Iterator[tuple[str, str]]:
    for table, cols in (("alerts", ["message"]), ("run_manifest", ["counts", "details"]),
                        ("validation_results", ["details", "report_path"])):
        frame = wh.read(table, columns=cols)
        yield f"warehouse {table}", frame.to_csv()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. secrets -------------------------------------------------------------------------------

@dataclass
class SecretSetup:
    settings: Settings
    wh: Warehouse
    secrets: dict[str, str]  # what -> the secret string
    backend: str


def _empty(wh: Warehouse) -> None:
    with wh.begin() as conn:  # the session's PostgreSQL database is shared by other tests
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def secret_setup(request: pytest.FixtureRequest, trained_home: Path, tmp_path: Path,
                 receiver: Receiver) -> Iterator[SecretSetup]:
    """A small book in a warehouse reached with a password; the trained home's MLflow store
    (its tables already created: a fresh store costs 7-10 s of migrations)."""
    tag = uuid.uuid4().hex[:12]
    secrets = {"database password": f"dbpw{tag}D", "webhook token": f"tok{tag}W",
               "receiver password": f"rpw{tag}R", "id salt": f"salt{tag}S"}
    try:
        pg_url = request.getfixturevalue("pg_url")
    except pytest.skip.Exception:
        pg_url = None
    extra: dict[str, object] = {}
    if pg_url:  # trust authentication on the test server: any password connects
        url = make_url(pg_url).set(password=secrets["database password"])
        warehouse_url, backend = url.render_as_string(hide_password=False), "postgresql"
    else:  # SQLite has no password: the secret sits in a configured URL nothing connects to
        warehouse_url, backend = f"sqlite:///{tmp_path / 'secret-warehouse.db'}", "sqlite"
        extra["prefect_api_url"] = (f"http://creditflow:{secrets['database password']}"
                                    "@127.0.0.1:9/api")
    live = f"json://127.0.0.1:{receiver.port}/hooks/{secrets['webhook token']}"
    dead = f"json://alerts:{secrets['receiver password']}@127.0.0.1:{free_port()}/hook"
    settings = Settings(
        home=trained_home, warehouse_url=warehouse_url,
        training={"train_months": 12, "n_estimators": 40, "early_stopping_rounds": 10},
        monitoring=ALERTING, alerts={"urls": [live, dead], "timeout_s": 3.0},
        security={"id_salt": secrets["id salt"]}, **extra)
    wh = Warehouse.from_settings(settings)
    wh.init()
    _empty(wh)
    book = simulate_book(8_000, date(2022, 11, 1), date(2025, 6, 30), seed=5)
    load_book(wh, book, "sim-security")
    yield SecretSetup(settings, wh, secrets, backend)
    if backend == "postgresql":
        _empty(wh)
    wh.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_secrets_never_reach_logs_mlflow_or_reports(secret_setup: SecretSetup,
                                                    receiver: Receiver,
                                                    caplog: pytest.LogCaptureFixture,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    s, wh = secret_setup.settings, secret_setup.wh
    with every_log_record(caplog):
        trained = train_model(s, wh, triggered_by="security-test")
        move_aliases_atomically(s.tracking_uri, trained.model_name, trained.version, "1")
        scored = [score_day(s, wh, DAY - timedelta(days=d)) for d in range(3)]
        champion = current_champion(s)
        monitored = monitor_day(s, wh, DAY, champion.reference, champion.description)
    out, err = capfd.readouterr()

    # The run really used every secret-bearing setting.
    assert wh.count("scores") == sum(r.counts["scored"] for r in scored) > 20
    assert any(a.sent for a in monitored.alerts), monitored.alert_keys()
    assert receiver.requests and all(secret_setup.secrets["webhook token"] in r["path"]
                                     for r in receiver.requests)
    assert all(a.delivered == 1 for a in monitored.alerts if a.sent)  # the dead one failed
    assert re.search(r"alert delivery to json://alerts:\*\*\*@127\.0\.0\.1:\d+/\*\*\* failed",
                     caplog.text)  # ... and was logged, masked
    assert len(caplog.records) > 50 and trained.metrics

    texts: list[tuple[str, str | bytes]] = [("log records", log_text(caplog)),
                                            ("stdout", out), ("stderr", err)]
    texts += list(mlflow_texts(s.tracking_uri))
    texts += [(f"mlflow store {p.name}", p.read_bytes())
              for p in s.home.glob("mlflow.db*")]
    texts += [(str(p), data) for p, data in file_texts(s.artifact_root, s.reports_dir)]
    texts += [("scoring artifact", scoring_summary.day_summary_markdown(r)) for r in scored]
    texts += [("monitoring artifact", monitoring_summary_markdown(monitored))]
    texts += list(warehouse_texts(wh))
    texts += [(f"alert body {i}", str(r["body"])) for i, r in enumerate(receiver.requests)]
    texts += [("creditflow config", json.dumps(s.masked(), default=str))]
    assert any("psi_over_time" in str(where) for where, _ in texts)  # the reports were scanned
    leaks = [(what, where) for where, text in texts
             for what, secret in secret_setup.secrets.items()
             if (secret.encode() if isinstance(text, bytes) else secret) in text]
    lines = [f"{r.name}: {r.getMessage()[:300]}" for r in caplog.records
             if any(v in f"{r.getMessage()} {r.exc_text}" for v in secret_setup.secrets.values())]
    assert not leaks, f"{secret_setup.backend}: secrets found: {leaks[:10]}; log: {lines[:5]}"


# -- 2. applicant identifiers -----------------------------------------------------------------

ID_TOKEN = re.compile(rb"[A-Za-z0-9]+")


def tokens(data: bytes, lengths: set[int]) -> set[str]:
    """Alphanumeric runs, and every window of an id's length inside runs a little longer than
    an id: an id is alphanumeric, so it shows as a run of its own or glued to a short prefix or
    suffix ("idA000123"); long runs are encoded images and scripts."""
    found = {run.decode("ascii") for run in set(ID_TOKEN.findall(data))}
    longest = max(lengths) + 16
    for text in [t for t in found if min(lengths) < len(t) <= longest]:
        found.update(text[i:i + n] for n in lengths for i in range(1, len(text) - n + 1))
    return found


def defect_batch(wh: Warehouse, table: str, key: str, day_sql: str, day: date, n: int
                 ) -> tuple[pd.DataFrame, str]:
    """``n`` real rows of ``table`` plus a second copy of one of them (a repeated key)."""
    rows = wh.read(table, where=f"{day_sql} = :d", params={"d": day}, order_by=key).head(n)
    rows = rows.drop(columns=["batch_id"])
    dup = str(rows[key].iloc[3])
    return pd.concat([rows, rows.iloc[[3]]], ignore_index=True), dup


@pytest.fixture
def id_settings(trained_home: Path, receiver: Receiver) -> Settings:
    return Settings(monitoring=ALERTING,
                    alerts={"urls": [f"json://127.0.0.1:{receiver.port}/hooks/risk"]},
                    security={"id_salt": "security-test-salt"})


def test_no_raw_applicant_id_leaves_the_warehouse(id_settings: Settings,
                                                  receiver: Receiver) -> None:
    s = id_settings
    wh = Warehouse.from_settings(s)
    scored = [score_day(s, wh, DAY - timedelta(days=d)) for d in range(3)]
    champion = current_champion(s)
    monitored = monitor_day(s, wh, DAY, champion.reference, champion.description)
    assert any(a.sent for a in monitored.alerts) and receiver.requests

    # Batches with a repeated id and an off-scale value: quarantined, with Data Docs.
    loose = s.model_copy(update={"validation": s.validation.model_copy(
        update={"max_duplicate_key_share": 0.5})})
    apps, dup_app = defect_batch(wh, "applications", "application_id", "business_date",
                                 DAY - timedelta(days=20), 12)
    bad_app = str(apps["application_id"].iloc[7])
    apps.loc[7, "bureau_score"] = 9999
    gate_apps = validate_stage.run_gate(apps, "applications", "defect-apps", loose, wh)
    assert gate_apps.status == "quarantined" and gate_apps.rows_quarantined == 2
    loans, dup_loan = defect_batch(wh, "loans", "loan_id", "origination_date",
                                   date(2024, 6, 3), 12)
    gate_loans = validate_stage.run_gate(loans, "loans", "defect-loans", loose, wh)
    assert gate_loans.status == "quarantined"
    for gate in (gate_apps, gate_loans):
        validate_stage.record_gate(wh, gate)
    # The same repeat under the default share: rejected by GX's own uniqueness check.
    with pytest.raises(BatchRejected) as rejected:
        validate_stage.run_gate(apps, "applications", "rejected-apps", s, wh)

    # The warehouse keeps the real ids.
    quarantined = set(wh.read("quarantine", columns=["record_key"])["record_key"])
    assert {dup_app, bad_app, dup_loan} <= quarantined

    raw = sampled_ids(wh, 300) | {dup_app, bad_app, dup_loan}
    raw |= set(apps["application_id"]) | set(loans["loan_id"]) | set(loans["application_id"])
    raw |= set(wh.read("scores", columns=["application_id"])["application_id"])
    lengths = {len(i) for i in raw}
    docs = [Path(p) for p in (gate_apps.report_path, gate_loans.report_path,
                              rejected.value.result.report_path) if p]
    assert len(docs) == 3 and all(p.is_relative_to(s.reports_dir) for p in docs)

    seen: dict[str, set[str]] = {}
    for path, data in file_texts(s.artifact_root, s.reports_dir):
        seen[str(path)] = tokens(data, lengths)
    texts = [(f"validation artifact {g.batch_id}", validate_stage.summary_markdown(g))
             for g in (gate_apps, gate_loans, rejected.value.result)]
    texts += [(f"scoring artifact {r.business_date}", scoring_summary.day_summary_markdown(r))
              for r in scored]
    texts += [("monitoring artifact", monitoring_summary_markdown(monitored))]
    texts += [(f"alert body {i}", str(r["body"])) for i, r in enumerate(receiver.requests)]
    for where, text in texts:
        seen[where] = tokens(text.encode(), lengths)
    assert len(seen) > 30 and any("drift" in w for w in seen)
    assert any("reference.parquet" in w for w in seen)
    leaks = {where: sorted(found & raw)[:5] for where, found in seen.items() if found & raw}
    assert not leaks, f"raw ids outside the warehouse: {leaks}"
    assert "(identifier withheld)" in texts[0][1]  # the repeated id's example

    # The Data Docs show the pseudonym of each repeated id: consistent, and salt-dependent.
    for dup, page in ((dup_app, docs[0]), (dup_loan, docs[1]), (dup_app, docs[2])):
        mine = pseudonymise([dup], s.security.id_salt.get_secret_value())[0]
        assert mine == pseudonymise(pd.Series([dup]), s.security.id_salt.get_secret_value()).iloc[0]
        assert mine in seen[str(page)], page
        assert pseudonymise([dup], "another-salt")[0] not in seen[str(page)]


def sampled_ids(wh: Warehouse, n: int) -> set[str]:
    ids = wh.read("applications", columns=["application_id"])["application_id"]
    loans = wh.read("loans", columns=["loan_id"])["loan_id"]
    rng = np.random.default_rng(0)
    return set(rng.choice(ids.to_numpy(), n, replace=False)) | set(
        rng.choice(loans.to_numpy(), n // 3, replace=False))


# -- 3. only the configured registry's own, consistent models ---------------------------------

def champion_dir(settings: Settings, version: str = "1") -> Path:
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    uri = client.get_model_version_download_uri(MODEL, version)
    return Path(uri.removeprefix("file://"))


def refused_at_scoring(settings: Settings, match: str) -> None:
    wh = Warehouse.from_settings(settings)
    with pytest.raises(ScoringError, match=match):
        score_day(settings, wh, DAY)
    assert wh.count("scores") == 0 and wh.count("run_manifest") == 0


def test_model_files_outside_the_store_are_refused(trained_settings: Settings,
                                                   tmp_path: Path) -> None:
    s = trained_settings
    client = MlflowClient(s.tracking_uri, s.tracking_uri)
    run_id = client.get_model_version(MODEL, "1").run_id
    outside = tmp_path / "elsewhere" / "model"
    shutil.copytree(champion_dir(s), outside)
    escape = f"file://{s.artifact_root}/creditflow-training/../../../elsewhere/model"
    for source, claimed_run in ((str(outside), None), (f"file://{outside}", run_id),
                                (escape, run_id)):
        mv = client.create_model_version(MODEL, source=source, run_id=claimed_run)
        set_alias(client, MODEL, "champion", mv.version)
        with pytest.raises(RegistryError, match=rf"version {mv.version}: its files at .* are "
                                                "outside this model store"):
            load_pd_model(s.tracking_uri, MODEL, alias="champion")
        refused_at_scoring(s, rf"champion model .*version {mv.version}.*outside this model")
    assert load_pd_model(s.tracking_uri, MODEL, version="1").version == "1"  # the store's own


def _reversed_booster(settings: Settings) -> xgb.Booster:
    """A booster trained on the champion's features in reverse order (same names). Not through
    load_pd_model: a loaded version is cached per process, so a later load would not see the
    tampered file."""
    ref = load_reference(settings.tracking_uri, MODEL, version="1")
    X = ref.drop(columns=[RAW_PD_COL, PD_COL]).iloc[:, ::-1]
    y = np.random.default_rng(0).integers(0, 2, len(X))
    return xgb.train({"objective": "binary:logistic", "max_depth": 2},
                     xgb.DMatrix(X, y, enable_categorical=True), num_boost_round=3)


def _drop_signature_input(mlmodel: Path) -> None:
    meta = yaml.safe_load(mlmodel.read_text())
    inputs = json.loads(meta["signature"]["inputs"])  # a JSON string inside the YAML
    meta["signature"]["inputs"] = json.dumps(inputs[:-1])
    mlmodel.write_text(yaml.safe_dump(meta))


def reseal(settings: Settings, version: str = "1") -> None:
    """Re-record a version's checksums over its files as they are now: what someone who can
    write both the artifact folder and the registry database could do. Lets a test reach the
    contract checks that stand behind the checksum."""
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    for key, value in model_io._seal(settings.tracking_uri, MODEL, version).items():
        client.set_model_version_tag(MODEL, version, key, value)


def test_model_whose_files_disagree_with_its_spec_is_refused(trained_settings: Settings
                                                             ) -> None:
    """check_signature compares the spec with the feature builder; these edits keep the spec
    (so it still matches the builder) but change what the spec describes. Resealed after each
    edit: the contract check must hold even when the checksums were recorded anew."""
    s = trained_settings
    folder = champion_dir(s)
    booster_file = folder / "artifacts" / "booster.ubj"
    original = {p: p.read_bytes() for p in (folder / "MLmodel", booster_file)}
    tampered = {"the logged signature": lambda: _drop_signature_input(folder / "MLmodel"),
                "the booster": lambda: _reversed_booster(s).save_model(booster_file)}
    for what, tamper in tampered.items():
        tamper()
        reseal(s)
        with pytest.raises(RegistryError, match=rf"signature mismatch: {MODEL} version 1: .*"
                                                rf"differs from {what}"):
            load_pd_model(s.tracking_uri, MODEL, version="1")
        refused_at_scoring(s, r"champion model .*version 1.*signature mismatch")
        for path, data in original.items():
            path.write_bytes(data)
        reseal(s)
    assert load_pd_model(s.tracking_uri, MODEL, version="1").feature_names


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def _approve_everyone(spec: dict) -> None:
    """The issue's attack: a calibrator intercept far below the fitted one, every PD near 0."""
    assert spec["calibrator"]["method"] == "platt"
    spec["calibrator"]["intercept"] -= 20.0


def test_tampered_model_files_are_refused_by_name(trained_settings: Settings) -> None:
    """A checksum of every file is recorded at registration: an edited calibrator (in the spec
    file, or its checksum in MLmodel) or cut-off is refused before anything is scored, by the
    pipeline's loader and by the served model's own load path."""
    s = trained_settings
    folder = champion_dir(s)
    edits = {
        "artifacts/spec.json": lambda p: _edit_json(p, _approve_everyone),
        "artifacts/policy.json": lambda p: _edit_json(p, lambda d: d.update(approve_at=0.0)),
        "MLmodel": lambda p: p.write_text(p.read_text().replace("pyfunc", "pyfunc ", 1)),
    }
    for relative, edit in edits.items():
        path = folder / relative
        original = path.read_bytes()
        edit(path)
        with pytest.raises(RegistryError, match=rf"{MODEL} version 1: model files changed "
                                                rf"since registration \({relative} differs\)"):
            load_pd_model(s.tracking_uri, MODEL, version="1")
        refused_at_scoring(s, rf"champion model .*version 1.*{relative} differs")
        path.write_bytes(original)
    _edit_json(folder / "artifacts" / "spec.json", _approve_everyone)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(s.tracking_uri)
    try:
        with pytest.raises(TamperedModelError, match=r"spec\.json differs"):
            mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    finally:
        mlflow.set_tracking_uri(previous)


def test_untouched_model_loads_and_a_model_without_checksum_is_refused(
        trained_settings: Settings) -> None:
    s = trained_settings
    client = MlflowClient(s.tracking_uri, s.tracking_uri)
    tags = client.get_model_version(MODEL, "1").tags
    assert len(tags[registry.SHA256_TAG]) == 64
    assert "artifacts/spec.json" in json.loads(tags[registry.FILES_TAG])
    assert load_pd_model(s.tracking_uri, MODEL, version="1").version == "1"
    unsealed = client.create_model_version(MODEL, source=f"file://{champion_dir(s)}",
                                           run_id=client.get_model_version(MODEL, "1").run_id)
    with pytest.raises(RegistryError, match=rf"version {unsealed.version}: no checksum"):
        load_pd_model(s.tracking_uri, MODEL, version=unsealed.version)

