"""YAML written by people (loan-tape mappings, validation suites), loaded safely.

``yaml.safe_load`` builds no objects, but it still expands aliases: a 351-byte mapping of nested
aliases ("billion laughs") turned into a structure whose text is 312 MB and took 29 s and 2.7 GB
to report. These files have no need for aliases, anchors' only use, so an alias is refused
before anything is built, as is nesting deeper than any of them needs and a file far larger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml

from pipelines.core.errors import short

MAX_CHARS = 1_000_000  # the shipped suites are ~3 KB, a mapping a few hundred bytes
MAX_DEPTH = 20  # a suite nests four levels (columns: name: between: [lo, hi])
# libyaml's loader when present: the pure-Python one cost ~30 ms a suite (a demo reads ~400)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL = "tag:yaml.org,2002:null"


class _TextLoader(_LOADER):  # type: ignore[misc,valid-type]
    """Every plain scalar read as the text written, but for null (``~``, ``null``, nothing):
    YAML 1.1 reads ``Yes``, ``No``, ``off`` as booleans, ``00`` as 0 and ``1.50`` as 1.5, so a
    lender's flag words, status codes and column names would not survive the safe loader."""

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if tag == _NULL]
        for first, resolvers in _LOADER.yaml_implicit_resolvers.items()
        if any(tag == _NULL for tag, _ in resolvers)}


class UnsafeYaml(yaml.YAMLError):
    """The text uses a YAML feature these files do not allow (aliases, deep nesting, size)."""


def load_yaml(text: str, text_scalars: bool = False) -> Any:
    """``text`` parsed with the safe loader once its events show no alias and a sane depth;
    every error (``yaml.YAMLError``) has a message of bounded length. ``text_scalars``: every
    scalar but null as the text written (``_TextLoader``)."""
    if len(text) > MAX_CHARS:
        raise UnsafeYaml(f"{len(text):,} characters: more than {MAX_CHARS:,} allowed")
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise UnsafeYaml(f"line {event.start_mark.line + 1}: alias "
                                 f"'*{short(event.anchor, 40)}' refused: aliases and anchors "
                                 "are not allowed in this file; write the value out")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise UnsafeYaml(f"line {event.start_mark.line + 1}: nested more than "
                                     f"{MAX_DEPTH} levels deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_TextLoader if text_scalars else _LOADER)
    except UnsafeYaml:
        raise
    except yaml.YAMLError as exc:  # one line, and a scanner error quotes the offending line,
        raise yaml.YAMLError(short(" ".join(str(exc).split()), 300)) from None  # however long


def load_yaml_file(path: Path, error: type[Exception], what: str,
                   text_scalars: bool = False) -> Any:
    """A user's YAML file, loaded as ``load_yaml`` does; a missing, undecodable or invalid file
    raises ``error`` with ``what`` (e.g. "mapping file") and the path."""
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return load_yaml(path.read_text(encoding="utf-8"), text_scalars) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
