"""A moved store: rewrite the absolute artifact locations an MLflow SQLite store records."""

from __future__ import annotations

from pathlib import Path

from models.registry.store import immediate_transaction, sqlite_file

# Where an MLflow 3 SQLite store records absolute artifact locations (MLflow has no API to
# change them). model_versions.source is "models:/<id>" for models logged here; it is rewritten
# too in case a version was registered from a path.
STORE_PATH_COLUMNS = (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                      ("logged_models", "artifact_location"), ("model_versions", "source"),
                      ("model_versions", "storage_location"))


def relocate_store(tracking_uri: str, old_root: Path, new_root: Path) -> int:
    """Rewrite every artifact location under ``old_root`` (as a ``file://`` URI or a plain
    path) to the same place under ``new_root``, in one transaction; locations elsewhere are not
    touched. Returns how many values changed (0 for a store that is not a local SQLite file).
    Run it before anything in the process has written to a run: MLflow caches each run's
    artifact location per process, so that cache is emptied too."""
    db = sqlite_file(tracking_uri)
    if db is None or not db.is_file():
        return 0
    pairs = [(old_root.as_uri(), new_root.as_uri()), (str(old_root), str(new_root))]
    changed = 0
    with immediate_transaction(db) as conn:
        for table, column in STORE_PATH_COLUMNS:
            for old, new in pairs:
                # an exact prefix (LIKE would read '_' in a path as a wildcard), whole segments
                changed += conn.execute(
                    f"UPDATE {table} SET {column} = :new || substr({column}, :n + 1) "
                    f"WHERE substr({column}, 1, :n) = :old "
                    f"AND (length({column}) = :n OR substr({column}, :n + 1, 1) = '/')",
                    {"old": old, "new": new, "n": len(old)}).rowcount
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._artifact_repos_cache.clear()
    return changed

