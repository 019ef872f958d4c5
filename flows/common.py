"""What every flow shares: settings, the warehouse, the failure hook, the scheduled date.

Flows stay thin: they call ``pipelines`` stages, add retries, caching and artifacts, and never
compute anything about credit themselves.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import date
from typing import Any

from pipelines.core.home import configure_environment
from pipelines.core.privacy import require_own_salt
from pipelines.core.settings import Settings, redact, reveal
from pipelines.warehouse.engine import warehouse_for

# Retries with backoff for steps whose I/O can fail transiently (database, registry).
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 10]}


def flow_settings() -> Settings:
    """Settings of this process, with Prefect and MLflow pointed at the project home."""
    settings = Settings()
    require_own_salt(reveal(settings.security.id_salt))
    configure_environment(settings)
    stop_temporary_api_with_this_process()
    return settings


# Reads its stdin, whose only writer is this process: EOF comes when this process is gone, by
# exit or by SIGKILL (which skips the atexit hook Prefect relies on to stop its server).
_WATCHDOG = ("import os, signal, sys\n"
             "sys.stdin.buffer.read()\n"
             "try:\n    os.kill(int(sys.argv[1]), signal.SIGTERM)\n"
             "except ProcessLookupError:\n    pass\n")
_WATCHED: dict[int, subprocess.Popen] = {}


def stop_temporary_api_with_this_process() -> None:
    """Tie Prefect's temporary API server (a child process of about 230 MB, started when
    no PREFECT_API_URL is set) to this process: a killed run must not leave it behind. One
    small watchdog process per server, started the first time a flow sees the server."""
    if "prefect.server.api.server" not in sys.modules:  # no temporary server in this process
        return
    from prefect.server.api.server import SubprocessASGIServer

    for server in list(SubprocessASGIServer._instances.values()):
        proc = server.server_process
        if proc is None or proc.poll() is not None or proc.pid in _WATCHED:
            continue
        _WATCHED[proc.pid] = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(proc.pid)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def boot_api_in_background() -> threading.Thread | None:
    """Start Prefect's temporary API server (used when no PREFECT_API_URL is set) in a
    background thread, or return None if an API is configured. The server is a subprocess that
    migrates its database (10-19 s on a new PREFECT_HOME), so it boots on the other core while
    this process imports the flows and their libraries (5-7 s). Join the thread before the
    first flow run: two callers starting the one server at once would race."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None

    def boot() -> None:
        from prefect.server.api.server import SubprocessASGIServer

        try:
            SubprocessASGIServer().start()
        except Exception:  # the first flow run starts it again and reports why
            return

    thread = threading.Thread(target=boot, name="prefect-api-boot", daemon=True)
    thread.start()
    return thread


def scheduled_date(explicit: date | None) -> date:
    """The business date of a run: the one given, else the date the run was scheduled for, so
    a late or backfilled run scores the day it stands for, not the day it happens to run."""
    if explicit is not None:
        return explicit
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    if scheduled is None:  # pragma: no cover - Prefect always sets it inside a flow run
        raise ValueError("no business date given and the run has no scheduled time")
    # a plain date: Prefect's is a pendulum Date, which the sqlite3 driver cannot bind (every
    # scheduled run failed on it; runs started by hand with a date never went this way)
    return date(scheduled.year, scheduled.month, scheduled.day)


def current_run_id() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.id


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect on-failure hook: the same alert function monitoring uses."""
    from pipelines.monitoring.alerts import send_alert

    settings = flow_settings()
    params = getattr(flow_run, "parameters", {}) or {}
    business = params.get("business_date") or (flow_run.expected_start_time or
                                                flow_run.start_time).date()
    if isinstance(business, str):
        business = date.fromisoformat(business)
    message = redact(f"flow '{flow.name}' run '{flow_run.name}' failed for {business}: "
                     f"{state.message or state.name}")
    send_alert(settings, warehouse_for(settings.warehouse), f"flow_failed:{flow.name}",
               business, message, severity="error")
