"""Versions and aliases of a registered model, and the atomic promotion.

Promotion safety (two promotions at once): alias moves run under an exclusive ``flock`` on a lock
file next to the SQLite store (``<mlflow.db>.aliases.lock``) and are compare-and-set: the caller
says which champion it judged against, the champion is re-read under the lock, and the move is
refused if it changed. Each alias write is a single upsert, and ``previous`` is written before
``champion``, so a crash between writes never leaves zero or two champions. For a store that is not
a local SQLite file, pass ``lock_path`` on storage every promoter shares, or hold your own lock
(e.g. a warehouse row) and pass ``external_lock=True``.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from models.registry.store import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    AliasConflictError,
    RegistryError,
    _clean_key,
    _param_value,
    client_for,
    sqlite_file,
)


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except MlflowException as exc:
        raise RegistryError(f"cannot point alias {alias!r} of {name} at version {version}: "
                            f"{exc.message}") from exc


def _delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    try:
        client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(f"cannot delete alias {alias!r} of {name}: {exc.message}") from exc


def get_alias_version(tracking_uri: str, name: str, alias: str) -> str | None:
    """The version an alias points at, or None if the alias (or the model) does not exist."""
    return aliases(tracking_uri, name).get(alias)


def aliases(tracking_uri: str, name: str) -> dict[str, str]:
    """alias -> version of a registered model ({} if the model does not exist)."""
    try:
        model = client_for(tracking_uri).get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise RegistryError(f"registry unreachable or failing for {name}: {exc.message}") from exc
    return {a: str(v) for a, v in model.aliases.items()}


def set_version_tags(tracking_uri: str, name: str, version: str,
                     tags: Mapping[str, Any]) -> None:
    client = client_for(tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), _clean_key(key), _param_value(value))


def version_info(tracking_uri: str, name: str, version: str) -> dict[str, Any]:
    """run_id, status, tags and aliases of one version (for promotion reports)."""
    mv = _model_version(tracking_uri, name, version)
    return {"name": name, "version": str(mv.version), "run_id": mv.run_id, "status": mv.status,
            "tags": dict(mv.tags), "aliases": list(mv.aliases), "source": mv.source,
            "created_ms": mv.creation_timestamp}


def _model_version(tracking_uri: str, name: str, version: str) -> Any:
    try:
        return client_for(tracking_uri).get_model_version(name, str(version))
    except MlflowException as exc:
        raise RegistryError(f"{name} version {version} not found: {exc.message}") from exc


def _resolve_version(tracking_uri: str, name: str, alias: str | None,
                     version: str | None) -> str:
    if (alias is None) == (version is None):
        raise RegistryError("give exactly one of alias or version")
    if version is not None:
        return str(version)
    found = get_alias_version(tracking_uri, name, alias)
    if found is None:
        raise RegistryError(f"model {name} has no alias {alias!r}")
    return found


def default_lock_path(tracking_uri: str) -> Path | None:
    """``<db>.aliases.lock`` for a local SQLite store, else None."""
    db = sqlite_file(tracking_uri)
    return None if db is None else Path(f"{db}.aliases.lock")


@contextmanager
def alias_lock(tracking_uri: str, lock_path: str | Path | None = None,
               timeout_s: float = 30.0, external_lock: bool = False) -> Iterator[None]:
    """Exclusive lock for alias moves (see module docstring)."""
    if external_lock:
        yield
        return
    path = Path(lock_path) if lock_path else default_lock_path(tracking_uri)
    if path is None:
        raise RegistryError("alias moves on a non-SQLite store need lock_path (shared storage) "
                            "or external_lock=True with a lock the caller holds")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(f"another promotion holds {path} for more than "
                                        f"{timeout_s:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def move_aliases_atomically(tracking_uri: str, name: str, new_champion: str,
                            expected_champion: str | None, *,
                            lock_path: str | Path | None = None, timeout_s: float = 30.0,
                            external_lock: bool = False) -> dict[str, Any]:
    """Promote ``new_champion``: old champion -> ``previous``, new -> ``champion``; the
    ``challenger`` alias is removed if it pointed at the new champion.

    ``expected_champion`` is the champion the decision was made against (None: there was none);
    if the champion changed meanwhile, AliasConflictError and nothing moves."""
    client = client_for(tracking_uri)
    with alias_lock(tracking_uri, lock_path, timeout_s, external_lock):
        before = aliases(tracking_uri, name)
        current = before.get(CHAMPION)
        expected = None if expected_champion is None else str(expected_champion)
        if current != expected:
            raise AliasConflictError(
                f"{name}: champion is version {current} but the decision was made against "
                f"{expected}; re-run the comparison")
        new = str(new_champion)
        _model_version(tracking_uri, name, new)
        if new == current:
            raise RegistryError(f"{name} version {new} is already the champion")
        if current is not None:
            set_alias(client, name, PREVIOUS, current)
        set_alias(client, name, CHAMPION, new)
        if before.get(CHALLENGER) == new:
            _delete_alias(client, name, CHALLENGER)
        after = aliases(tracking_uri, name)
    return {"name": name, "champion": new, "previous": current, "before": before,
            "after": after}


def rollback(tracking_uri: str, name: str, *, lock_path: str | Path | None = None,
             timeout_s: float = 30.0, external_lock: bool = False) -> dict[str, Any]:
    """Put ``previous`` back as champion. The demoted version is tagged ``rolled_back_at`` and
    ``previous`` is removed (a second rollback without a new promotion is an error, not a flip)."""
    client = client_for(tracking_uri)
    with alias_lock(tracking_uri, lock_path, timeout_s, external_lock):
        before = aliases(tracking_uri, name)
        target = before.get(PREVIOUS)
        if target is None:
            raise RegistryError(f"{name} has no 'previous' version to roll back to")
        _model_version(tracking_uri, name, target)
        demoted = before.get(CHAMPION)
        set_alias(client, name, CHAMPION, target)
        _delete_alias(client, name, PREVIOUS)
        if demoted is not None and demoted != target:
            client.set_model_version_tag(name, demoted, "rolled_back_at",
                                         datetime.now(UTC).isoformat(timespec="seconds"))
        after = aliases(tracking_uri, name)
    return {"name": name, "champion": target, "demoted": demoted, "before": before,
            "after": after}

