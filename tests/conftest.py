"""Shared fixtures: a temporary home per test, a real SQLite warehouse, and PostgreSQL when it is
reachable on 127.0.0.1:5432 (skipped with the reason otherwise)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from pipelines.core.settings import Settings, disable_telemetry
from tests.trained import (  # noqa: F401  (fixtures shared by integration and reliability tests)
    prefect_harness,
    trained_home,
    trained_home_template,
    trained_settings,
)

if TYPE_CHECKING:  # imported in the fixtures: the xdist controller loads this file too
    from pipelines.warehouse.engine import Warehouse

disable_telemetry()
# Every flow refuses the shipped salt; the suite's processes (and their subprocesses) share one.
SALT_ENV = "CREDITFLOW_SECURITY__ID_SALT"
os.environ.setdefault(SALT_ENV, "creditflow-test-suite-salt")
KEPT_ENV = ("CREDITFLOW_TEST_PG_URL", SALT_ENV)
PG_ADMIN_URL = os.environ.get("CREDITFLOW_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CREDITFLOW_HOME; no CREDITFLOW_* from the caller's shell leaks in."""
    for key in list(os.environ):
        if key.startswith("CREDITFLOW_") and key not in KEPT_ENV:
            monkeypatch.delenv(key)
    path = tmp_path / "home"
    monkeypatch.setenv("CREDITFLOW_HOME", str(path))
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    s = Settings()
    s.ensure_dirs()
    return s


@pytest.fixture
def sqlite_wh(settings: Settings) -> Iterator[Warehouse]:
    from pipelines.warehouse.engine import Warehouse

    wh = Warehouse.from_settings(settings)
    wh.init()
    yield wh
    wh.dispose()


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__})"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, dropped afterwards."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    name = f"creditflow_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_wh(pg_url: str) -> Iterator[Warehouse]:
    """The session's PostgreSQL warehouse, emptied before each test."""
    from pipelines.warehouse.engine import Warehouse

    wh = Warehouse(pg_url)
    wh.init()
    from pipelines.monitoring import window
    from pipelines.warehouse import tape_cache
    from pipelines.warehouse.schema import metadata

    with wh.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    tape_cache.clear()  # the URL is reused: what an earlier test read must not be served
    window.clear()
    yield wh
    wh.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_wh(request: pytest.FixtureRequest) -> Warehouse:
    """Each warehouse test runs on SQLite and, when reachable, on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_wh")
    return request.getfixturevalue("pg_wh")
