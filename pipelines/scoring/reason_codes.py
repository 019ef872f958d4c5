"""The reason-code table in force: ``scoring.reason_codes_file`` (default the project's
``reason_codes.yaml``), read with the safe YAML reader and checked against the feature registry
(``models.reason_table.parse_reason_table``). Scoring and training bake it into the policy they
decide with, so the warehouse and the served model give the same codes and texts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from features import FEATURES
from models.reason_table import ReasonTable, ReasonTableError, parse_reason_table
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.core.yaml_input import load_yaml_file

DEFAULT_FILE = PROJECT_ROOT / "reason_codes.yaml"


class ReasonCodesError(CreditflowError):
    """The reason-code table cannot be read or is inconsistent; the message names the file."""


def reason_table_path(settings: Settings) -> Path:
    return settings.scoring.reason_codes_file or DEFAULT_FILE


def reason_table(settings: Settings) -> ReasonTable:
    """The validated table (read again only when the file changes)."""
    path = reason_table_path(settings).resolve()
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        raise ReasonCodesError(f"reason-code table not found: {path}") from None
    return _load(path, stamp)


@lru_cache(maxsize=4)
def _load(path: Path, stamp: tuple[int, int]) -> ReasonTable:
    data = load_yaml_file(path, ReasonCodesError, "reason-code table")
    try:
        return parse_reason_table(data, {s.name: s.protected for s in FEATURES})
    except ReasonTableError as exc:
        raise ReasonCodesError(f"reason-code table {path}: {exc}") from None
