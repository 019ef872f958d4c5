"""The adverse-action reason-code table: what a declined or referred applicant is told.

A compliance officer edits it as data (``reason_codes.yaml`` at the project root, or the file
``scoring.reason_codes_file`` names): each entry is a code, the notice text, and the model features
it covers. Several features may share one code (loan-to-value and down payment say the same thing
to an applicant). A feature covered by no code is never named: that is how the offered rate (a
policy output) and prohibited bases stay out of notices; covering a prohibited basis or a close
proxy is refused outright.

``parse_reason_table`` refuses, naming the entry: an unknown feature, a feature covered twice, a
code used twice, a missing or blank text, a protected feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CODE_CHARS = 64  # the warehouse's reason columns
MAX_TEXT_CHARS = 256


class ReasonTableError(ValueError):
    """The reason-code table is inconsistent; the message names the code or feature."""


@dataclass(frozen=True)
class ReasonCode:
    code: str
    text: str
    features: tuple[str, ...]


@dataclass(frozen=True)
class ReasonTable:
    codes: tuple[ReasonCode, ...]

    def code_of(self) -> dict[str, str]:
        """feature -> code."""
        return {f: c.code for c in self.codes for f in c.features}

    def texts(self) -> dict[str, str]:
        """code -> notice text."""
        return {c.code: c.text for c in self.codes}

    def as_rows(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """Plain tuples, for a frozen policy and its JSON."""
        return tuple((c.code, c.text, c.features) for c in self.codes)

    @classmethod
    def from_rows(cls, rows: Any) -> ReasonTable:
        return cls(tuple(ReasonCode(str(code), str(text), tuple(str(f) for f in features))
                         for code, text, features in rows))


def parse_reason_table(data: Any, known: Mapping[str, bool]) -> ReasonTable:
    """The table from its YAML data (``{"codes": [{"code", "text", "features"}, ...]}``);
    ``known`` maps every feature a model may use to whether it is protected (a prohibited basis
    or a close proxy)."""
    entries = data.get("codes") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ReasonTableError("the reason-code table needs a non-empty list 'codes'")
    codes, owner = [], {}
    for i, entry in enumerate(entries, start=1):
        code = _entry(entry, i)
        if any(c.code == code.code for c in codes):
            raise ReasonTableError(f"reason code {code.code} is declared twice")
        for feature in code.features:
            if feature not in known:
                raise ReasonTableError(f"reason code {code.code}: unknown feature '{feature}'")
            if known[feature]:
                raise ReasonTableError(f"reason code {code.code}: '{feature}' is a prohibited "
                                       "basis or a close proxy and may never be an adverse "
                                       "reason")
            if feature in owner:
                raise ReasonTableError(f"feature '{feature}' is covered twice: by "
                                       f"{owner[feature]} and {code.code}")
            owner[feature] = code.code
        codes.append(code)
    return ReasonTable(tuple(codes))


def _entry(entry: Any, i: int) -> ReasonCode:
    if not isinstance(entry, Mapping):
        raise ReasonTableError(f"reason code entry {i} is not a mapping")
    unknown = sorted(set(entry) - {"code", "text", "features"})
    if unknown:
        raise ReasonTableError(f"reason code entry {i}: unknown key(s) {unknown} (allowed: "
                               "code, text, features)")
    code = str(entry.get("code") or "").strip()
    if not code or len(code) > MAX_CODE_CHARS:
        raise ReasonTableError(f"reason code entry {i}: a code of 1 to {MAX_CODE_CHARS} "
                               "characters is required")
    text = entry.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ReasonTableError(f"reason code {code}: the notice text is missing")
    if len(text) > MAX_TEXT_CHARS or "\n" in text.strip():
        raise ReasonTableError(f"reason code {code}: the notice text must be one line of at "
                               f"most {MAX_TEXT_CHARS} characters")
    features = entry.get("features")
    if not isinstance(features, list) or not features:
        raise ReasonTableError(f"reason code {code}: list the features it covers")
    return ReasonCode(code, text.strip(), tuple(str(f) for f in features))
