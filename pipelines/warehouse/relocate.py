"""The home's warehouse path rewrite: when a home folder was copied or moved, the report paths
its SQLite warehouse recorded under the old folder are pointed at the new one.

Two columns hold such paths, both pointers for people (rewritten so links keep working):
``validation_results.report_path`` (a Data Docs page) and the report paths inside monitoring's
``run_manifest.details`` (JSON text). The database is opened with ``sqlite3`` directly, not
migrated: a home being opened must not change its schema, and either table may be missing in
an old or empty home.
"""

from __future__ import annotations

import json
from pathlib import Path


def relocate_report_paths(db: Path, old: Path, new: Path) -> int:
    """Rewrite report paths under ``old`` to ``new`` in one write transaction (a path elsewhere
    is left as it is); returns how many rows changed. A missing file changes nothing."""
    if not db.is_file():
        return 0
    # one SQLite write-transaction helper for the MLflow store and the warehouse; importing the
    # registry imports MLflow, which only a moved home pays for
    from models.registry import immediate_transaction

    changed = 0
    with immediate_transaction(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "validation_results" in tables:
            changed += conn.execute(
                "UPDATE validation_results SET report_path = :new || substr(report_path, :n + 1)"
                " WHERE substr(report_path, 1, :n + 1) = :old || '/'",
                {"old": str(old), "new": str(new), "n": len(str(old))}).rowcount
        if "run_manifest" in tables:  # JSON text: the path is a string value, after a quote
            changed += conn.execute(
                "UPDATE run_manifest SET details = replace(details, :old, :new) "
                "WHERE instr(details, :old) > 0",
                {"old": json.dumps(f"{old}/")[:-1], "new": json.dumps(f"{new}/")[:-1]}).rowcount
    return changed
