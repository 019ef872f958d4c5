"""The model registry: the only package that talks to MLflow.

- ``store``: the client, ``RegistryError``, MLflow's global-URI guard, key/value cleaning, the
  SQLite file of a local store and one write transaction on it.
- ``runs``: experiments and tracked runs (params, metrics, figures, frames, datasets, HPO trials;
  owner tags; settling runs whose process died).
- ``model_io``: the registered PD model as a servable pyfunc: register, seal (SHA-256 of its
  files), load and check its feature contract.
- ``reference``: the training-window reference sample monitoring compares against.
- ``aliases``: versions and aliases (champion, challenger, previous); the locked, compare-and-set
  promotion and the rollback.
- ``relocate``: a store moved to another folder.

The public names of every module are re-exported here, so callers write
``from models.registry import load_pd_model``. To replace a function for a test, patch it in the
module that calls it (e.g. ``models.registry.aliases.set_alias``): the name here is a second
reference to the same function.
"""

from models.registry.aliases import (
    alias_lock,
    aliases,
    default_lock_path,
    get_alias_version,
    move_aliases_atomically,
    rollback,
    set_alias,
    set_version_tags,
    version_info,
)
from models.registry.model_io import (
    FILES_TAG,
    MODEL_NAME_IN_RUN,
    PIP_REQUIREMENTS,
    SHA256_TAG,
    load_pd_model,
    register_pd_model,
)
from models.registry.reference import (
    PD_COL,
    RAW_PD_COL,
    REFERENCE_DIR,
    REFERENCE_FILE,
    REFERENCE_MAX_ROWS,
    build_reference,
    load_reference,
    log_reference,
)
from models.registry.relocate import STORE_PATH_COLUMNS, relocate_store
from models.registry.runs import (
    EXPERIMENT_KIND,
    OWNER_TAG,
    SETTLED_TAG,
    DescribedSource,
    TrackedRun,
    ensure_experiment,
    frame_digest,
    log_training,
    resume_run,
    run_info,
    run_tagged,
    settle_abandoned_runs,
    start_run,
    tracked_run,
)
from models.registry.store import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    AliasConflictError,
    RegistryError,
    client_for,
    immediate_transaction,
    sqlite_file,
)

__all__ = [
    "CHALLENGER", "CHAMPION", "EXPERIMENT_KIND", "FILES_TAG", "MODEL_NAME_IN_RUN", "OWNER_TAG",
    "PD_COL", "PIP_REQUIREMENTS", "PREVIOUS", "RAW_PD_COL", "REFERENCE_DIR", "REFERENCE_FILE",
    "REFERENCE_MAX_ROWS", "SETTLED_TAG", "SHA256_TAG", "STORE_PATH_COLUMNS", "AliasConflictError",
    "DescribedSource", "RegistryError", "TrackedRun", "alias_lock", "aliases", "build_reference",
    "client_for", "default_lock_path", "ensure_experiment", "frame_digest", "get_alias_version",
    "immediate_transaction", "load_pd_model", "load_reference", "log_reference", "log_training",
    "move_aliases_atomically", "register_pd_model", "relocate_store", "resume_run", "rollback",
    "run_info", "run_tagged", "set_alias", "set_version_tags", "settle_abandoned_runs",
    "sqlite_file", "start_run", "tracked_run", "version_info",
]
