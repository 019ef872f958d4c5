"""A small simulated book with a trained champion, built once per test run and copied per test
(copying the folder costs far less than simulating and training again). Under pytest-xdist the
workers share one build: the first to arrive builds it under a file lock in the run's common
temporary folder, the others wait and copy it (a second build would cost each run about a minute
of one core). The fixtures are registered for the whole suite in tests/conftest.py (integration
and reliability tests use them)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from filelock import FileLock

from pipelines.core.home import configure_environment
from pipelines.core.settings import Settings
from pipelines.core.stage_settings import SimulateSettings

# The stack (Prefect's server app, MLflow, XGBoost, GX) is imported inside the functions: pytest
# loads this module through tests/conftest.py in every process, the xdist controller included,
# which runs no test; importing it all there cost 8 s of a core while the workers started.

# Small but honest: enough bads per window for AUC and calibration to mean something.
BOOK = SimulateSettings(n_applications=40_000, start=date(2021, 1, 1), end=date(2025, 6, 30))
TRAIN_OVERRIDES = {"n_estimators": 300, "early_stopping_rounds": 30}


def small_settings(home: Path, **overrides: object) -> Settings:
    return Settings(home=home, simulate=BOOK.model_dump(),
                    training={**TRAIN_OVERRIDES, **overrides.pop("training", {})}, **overrides)


def shared_build(factory: pytest.TempPathFactory, name: str,
                 build: Callable[[Path], None]) -> Path:
    """``<run temp>/<name>/home``, built once by ``build(home)`` for every xdist worker of the
    run (a single process builds it for itself). Users copy it and never write to it."""
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, common to its workers
    folder = base / name
    home, done = folder / "home", folder / "built"
    with FileLock(str(base / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(home)
            done.touch()
    return home


def _build_trained_home(home: Path) -> None:
    from models.registry import move_aliases_atomically
    from pipelines.simulation.book import load_book
    from pipelines.simulation.simulate import simulate_book
    from pipelines.training.train import train_model
    from pipelines.warehouse.engine import Warehouse

    settings = small_settings(home)
    configure_environment(settings)
    wh = Warehouse.from_settings(settings)
    wh.init()
    book = simulate_book(BOOK.n_applications, BOOK.start, BOOK.end, seed=settings.seed)
    load_book(wh, book, "sim-test")
    result = train_model(settings, wh, triggered_by="test-fixture")
    move_aliases_atomically(settings.tracking_uri, result.model_name, result.version, None)
    wh.dispose()


@pytest.fixture(scope="session")
def trained_home_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = shared_build(tmp_path_factory, "trained", _build_trained_home)
    configure_environment(small_settings(home))  # as in the worker that built it
    return home


@pytest.fixture
def trained_home(trained_home_template: Path, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the trained home (warehouse + MLflow store), set as CREDITFLOW_HOME."""
    home = tmp_path / "home"
    copy_home(trained_home_template, home)
    monkeypatch.setenv("CREDITFLOW_HOME", str(home))
    for key in ("n_applications", "start", "end"):
        monkeypatch.setenv(f"CREDITFLOW_SIMULATE__{key.upper()}",
                           str(getattr(BOOK, key)))
    for key, value in TRAIN_OVERRIDES.items():
        monkeypatch.setenv(f"CREDITFLOW_TRAINING__{key.upper()}", str(value))
    yield home


# MLflow stores absolute artifact locations: without this, a copy would read (and a test that
# corrupts or adds artifacts would write) the template's files, shared by every test. (The CLI
# and the flows do the same by themselves: pipelines.core.home; tests call stages directly.)


def copy_home(template: Path, home: Path) -> None:
    """A private copy of a built home, its MLflow store pointing at the copy's artifacts."""
    shutil.copytree(template, home)
    _relocate_artifacts(home / "mlflow.db", template, home)
    forget_artifact_locations()


def forget_artifact_locations() -> None:
    """MLflow caches each run's artifact location per process: after relocating a copy, the
    cache would still point at the template."""
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._artifact_repos_cache.clear()


def _relocate_artifacts(db: Path, old: Path, new: Path) -> None:
    from models.registry import relocate_store

    relocate_store(f"sqlite:///{db}", old.resolve(), new.resolve())


@pytest.fixture
def trained_settings(trained_home: Path) -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the session's flow tests (about 13 s to start here; the
    default 20 s start-up timeout is too tight on 2 shared cores)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
