"""A home that can move: copy or move a CREDITFLOW_HOME folder and it keeps working in its new
place, writing nothing into the old one.

Most of a home finds itself through ``Settings`` (every path is derived from ``home``), but two
stores record absolute paths when they write:

- the MLflow store (``mlflow.db``): the artifact location of every experiment, run, logged model
  and model version. A copied home would log its runs into the ORIGINAL home's ``mlartifacts``,
  and the registry refuses to load a model whose files are outside its experiment's location.
- the warehouse (``warehouse.db``): ``validation_results.report_path`` (a Data Docs page) and the
  report paths in monitoring's ``run_manifest.details``. Pointers for people, rewritten so links
  keep working.

The home records where it is in ``home.json``. Opening it (``configure_environment``, which every
command and flow calls) compares that with where it is now; if they differ, the paths recorded
under the old home are rewritten to the new one (only those: a location elsewhere is left as it
is), then the marker is updated. Only the home's own stores are rewritten: a configured
``mlflow_tracking_uri`` or ``warehouse_url`` may be shared with other homes.

Left alone: ``artifact_path`` inside each logged model's ``MLmodel`` file (informational, not
read when a model is loaded), the text of alerts (what was sent at the time), Prefect's database
(its home is set from the settings at every start; paths in its flow-run artifacts are history)
and anything outside the home. A home made
before the marker existed has no record of where it was: ``creditflow home relocate --from
OLD`` rewrites it explicitly.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipelines.core.settings import Settings, disable_telemetry

MARKER = "home.json"
log = logging.getLogger(__name__)


def open_home(settings: Settings, moved_from: Path | None = None) -> dict[str, Any] | None:
    """Record where the home is; if it was copied or moved from ``moved_from`` (default: the
    place its marker records), first rewrite the paths its stores recorded there. Returns what
    was rewritten, or None when the home had not moved."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home):  # two processes opening a moved home: the second finds it done
        old = moved_from.expanduser().resolve() if moved_from else recorded_home(home)
        result = None
        if old is not None and old != home:
            result = _rewrite(settings, old)
            log.warning("home moved from %s to %s: %s recorded paths rewritten", old, home,
                        result["mlflow"] + result["warehouse"])
        if recorded_home(home) != home:
            _write_marker(home)
    return result


def recorded_home(home: Path) -> Path | None:
    """Where the home's marker says it is (None without a readable marker)."""
    try:
        return Path(json.loads((home / MARKER).read_text(encoding="utf-8"))["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _rewrite(settings: Settings, old: Path) -> dict[str, Any]:
    from models.registry import relocate_store  # MLflow is imported only when a home moved
    from pipelines.warehouse.relocate import relocate_report_paths

    new = settings.home
    mlflow = relocate_store(settings.tracking_uri, old, new) if (
        settings.mlflow_tracking_uri is None) else 0
    warehouse = relocate_report_paths(new / "warehouse.db", old, new) if (
        settings.warehouse_url is None) else 0
    return {"from": str(old), "to": str(new), "mlflow": mlflow, "warehouse": warehouse}


def _write_marker(home: Path) -> None:
    """Atomically (a crash leaves the old marker or the new one, never half of one)."""
    tmp = home / f".{MARKER}.tmp"
    tmp.write_text(json.dumps({"path": str(home)}) + "\n", encoding="utf-8")
    tmp.replace(home / MARKER)


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    fd = os.open(home, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def configure_environment(settings: Settings) -> None:
    """Point Prefect and MLflow at the project-local home (only where the user has not already);
    a home copied or moved from elsewhere has its recorded paths rewritten first."""
    disable_telemetry()
    settings.ensure_dirs()
    open_home(settings)
    os.environ.setdefault("PREFECT_HOME", str(settings.prefect_home))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.tracking_uri)
    for noisy in ("great_expectations", "alembic", "mlflow"):  # INFO chatter, not news
        logging.getLogger(noisy).setLevel(logging.WARNING)
