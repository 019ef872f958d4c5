"""Pseudonymous applicant identifiers for everything that leaves the warehouse.

The warehouse keeps the real ``application_id`` and ``loan_id`` (the lender needs them to act on a
score). Anything written for people or other systems — Data Docs, monitoring reports, MLflow
artifacts, alerts, Prefect artifacts — shows at most
``pseudonymise(id, settings.security.id_salt)``: the same id always gives the same pseudonym (an
analyst can follow one applicant across reports), and a reader without the salt cannot go back to
the id.

The ids are short and sequential (``A000039956``), so anyone holding the salt can re-identify by
hashing every candidate: the salt is the whole secret. It is masked by ``Settings.masked`` and
never logged; ``security.id_salt`` must be set per installation.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.errors import CreditflowError
from pipelines.core.text import record_keys

log = logging.getLogger(__name__)


class SaltError(CreditflowError, ValueError):
    """The salt that keys the pseudonyms is missing or public."""

ID_COLUMNS = frozenset({"application_id", "loan_id"})
DEFAULT_SALT = "change-me"
DIGEST_BYTES = 8  # 16 hex characters: ~3e-8 chance of any collision among 1M ids
_FIRST_AT = re.compile(r" \(first at row \d+\)$")  # quarantine's unique_key value suffix


def pseudonymise(values: pd.Series | Iterable[object], salt: str) -> pd.Series | list[str | None]:
    """Keyed BLAKE2b (key derived from ``salt``) of each id as 16 hex characters.

    A Series comes back as a Series on the same index, anything else as a list. Missing values
    stay missing (a null is not an identifier); other values are hashed as ``str(value)``, so
    ``123`` and ``"123"`` share a pseudonym. Each distinct value is hashed once: about 1 s per
    million distinct ids here.

    An empty salt is refused (the pseudonym would be a plain hash, reversible by enumerating the
    id space), and so is the shipped default ``"change-me"``, which is public and gives no more
    protection (the demo makes a salt of its own, see ``pipelines.simulation.demo``).
    """
    base = _keyed(salt)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    digests = []
    for value in uniques:
        h = base.copy()
        h.update(str(value).encode("utf-8", "surrogatepass"))
        digests.append(h.hexdigest())
    out = np.array([*digests, None], dtype=object)[codes]  # code -1 (missing): the last, None
    if isinstance(values, pd.Series):
        return pd.Series(out, index=values.index, name=values.name, dtype=object)
    return list(out)


def is_id_column(column: object) -> bool:
    """A column name, or a comma-joined key ("loan_id,as_of_month"), that holds an identifier."""
    return any(part.strip() in ID_COLUMNS for part in str(column).split(","))


def withhold_id(column: object, value: object) -> object:
    """``value`` unless ``column`` holds identifiers: for summaries built without the settings
    (the salt), where an example value is a convenience, not a lead to follow."""
    return "(identifier withheld)" if value is not None and is_id_column(column) else value


def pseudonymise_examples(summary: Any, salt: str) -> Any:
    """``summary`` (nested dicts and lists, e.g. a gate summary) with the ``example`` of every
    ``{"column": ..., "example": ...}`` entry on an identifier column pseudonymised: for
    printing, where only the text of the value is left. A repeated key keeps its ``(first at
    row n)`` note; a key whose parts cannot be told apart (an id holding ``|``) is withheld."""
    if isinstance(summary, list):
        return [pseudonymise_examples(item, salt) for item in summary]
    if not isinstance(summary, dict):
        return summary
    out = {k: pseudonymise_examples(v, salt) for k, v in summary.items()}
    if "column" in out and is_id_column(out["column"]) and out.get("example") is not None:
        out["example"] = _example(str(out["column"]), str(out["example"]), salt)
    return out


def _example(column: str, value: str, salt: str) -> str:
    note = _FIRST_AT.search(value)
    key = value[:note.start()] if note else value
    names = [n.strip() for n in column.split(",")]
    parts = key.split("|") if len(names) > 1 else [key]  # record_keys joins a key with "|"
    if len(parts) != len(names):
        return "(identifier withheld)"
    shown = [pseudonymise([p], salt)[0] if n in ID_COLUMNS else p
             for n, p in zip(names, parts, strict=True)]
    return "|".join(str(x) for x in shown) + (note.group(0) if note else "")


def pseudonymise_frame(frame: pd.DataFrame, salt: str) -> pd.DataFrame:
    """``frame`` with every identifier column pseudonymised (a shallow copy; the rest shared)."""
    cols = [c for c in frame.columns if c in ID_COLUMNS]
    if not cols:
        return frame
    return frame.assign(**{c: pseudonymise(frame[c], salt) for c in cols})


def pseudonymise_batch(frame: pd.DataFrame, issues: pd.DataFrame,
                       salt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validation gate's batch and row-level issues as a report may show them.

    ``frame`` is positional (issue ``row_number`` n is row n-1). An issue on an identifier
    column shows the pseudonym instead of the value; a repeated key keeps its ``(first at row
    n)`` note, with the identifier parts of the key pseudonymised and the others (dates) as they
    were."""
    shown = pseudonymise_frame(frame, salt)
    if shown is frame or issues.empty:
        return shown, issues
    hit = issues["column"].map(is_id_column).to_numpy(dtype=bool)
    if not hit.any():
        return shown, issues

    out = issues.copy()
    values = out["value"].astype(object).to_numpy().copy()
    for i in hit.nonzero()[0]:
        value, column = values[i], str(out["column"].iloc[i])
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        if out["rule"].iloc[i] == "unique_key" and (m := _FIRST_AT.search(str(value))):
            row = shown.iloc[[int(out["row_number"].iloc[i]) - 1]]
            values[i] = f"{record_keys(row, column.split(','))[0]}{m.group(0)}"
        else:
            values[i] = pseudonymise([value], salt)[0]
    out["value"] = values
    return shown, out


def require_own_salt(salt: str | None) -> None:
    """Refuse an empty salt or the shipped one: with either, anyone can reverse a pseudonym by
    hashing every candidate id. Every flow checks this before it starts (flows.common)."""
    if not salt:
        raise SaltError("security.id_salt is empty: identifiers would be a plain, reversible "
                        "hash; set CREDITFLOW_SECURITY__ID_SALT to a secret")
    if salt == DEFAULT_SALT:
        raise SaltError("security.id_salt is the shipped default 'change-me', which anyone "
                        "can use to reverse the pseudonymised applicant ids: set "
                        "CREDITFLOW_SECURITY__ID_SALT to a secret of your own (for example "
                        "`python -c 'import secrets; print(secrets.token_hex(32))'`)")


@lru_cache(maxsize=8)
def _keyed(salt: str) -> hashlib.blake2b:
    require_own_salt(salt)
    key = hashlib.blake2b(salt.encode("utf-8"), digest_size=32, person=b"creditflow-ids").digest()
    return hashlib.blake2b(key=key, digest_size=DIGEST_BYTES)
