"""The promotion decision: its record, the errors a promotion raises, and its markdown.

``PromotionDecision`` is what ``decide`` returns and ``apply_decision`` completes; ``as_dict`` is
the audit record (aggregates only, never an applicant id); ``decision_markdown`` renders a record
as a person reads it (the command line, the Prefect artifact, the promotion run's note).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from models.promotion_rules import PROMOTED, ROLES, RuleResult
from pipelines.core.errors import CreditflowError


class PromotionError(CreditflowError):
    """Promotion or rollback cannot go on; nothing was changed unless the message says so."""


class RegistryUnavailableError(PromotionError):
    """The model registry cannot be reached or read."""


class NoChallengerError(PromotionError):
    """There is nothing to judge: no ``challenger`` alias and no version given."""


class RollbackError(PromotionError):
    """There is no ``previous`` version to put back."""


@dataclass
class PromotionDecision:
    model_name: str
    verdict: str
    reasons: list[str]
    challenger: dict[str, Any]
    champion: dict[str, Any] | None
    window: dict[str, Any]
    triggered_by: str
    decided_at: datetime
    config_hash: str
    git_commit: str
    cutoffs: dict[str, float]
    bootstrap: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    rules: list[RuleResult] = field(default_factory=list)
    score_psi: float | None = None
    shadow: dict[str, Any] | None = None
    monotone: dict[str, bool] = field(default_factory=dict)  # challenger's swept directions
    reason_stability: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    aliases_before: dict[str, str] = field(default_factory=dict)
    aliases_after: dict[str, str] | None = None
    dry_run: bool = False
    audit: dict[str, Any] | None = None
    decision_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def promoted(self) -> bool:
        return self.verdict == PROMOTED

    @property
    def stamp(self) -> str:
        """Timestamp key of the artifact and tag names (microseconds: two decisions in the same
        second on the same run do not overwrite each other)."""
        return self.decided_at.strftime("%Y%m%dT%H%M%S%fZ")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rules"] = [r.as_dict() for r in self.rules]
        out["decided_at"] = self.decided_at.isoformat()
        out["promoted"] = self.promoted
        return out

    def markdown(self) -> str:
        return decision_markdown(self.as_dict())


def decision_markdown(record: Mapping[str, Any]) -> str:
    """The comparison table and the verdict as a person reads them (CLI, Prefect artifact)."""
    lines = _md_header(record) + _md_metrics(record) + _md_rules(record) + _md_extras(record)
    return "\n".join(lines).rstrip() + "\n"


def _md_header(record: Mapping[str, Any]) -> list[str]:
    champ, chall = record.get("champion") or {}, record.get("challenger") or {}
    window = record.get("window") or {}
    dry = " (dry run: nothing changed)" if record.get("dry_run") else ""
    lines = [f"### Promotion of {record['model_name']}: **{record['verdict']}**{dry}", "",
             f"challenger v{chall.get('version')} vs champion "
             f"{'v' + str(champ['version']) if champ else '(none)'}; window "
             f"{window.get('start')}..{window.get('end')} (data as of {window.get('as_of')}); "
             f"triggered by {record['triggered_by']} at {record['decided_at']}", ""]
    lines += [f"- {r}" for r in record.get("reasons", [])]
    if record.get("counts"):
        lines += ["", "counts: " + ", ".join(f"{k} {v}" for k, v in record["counts"].items())]
    return lines


def _md_metrics(record: Mapping[str, Any]) -> list[str]:
    if not record.get("metrics"):
        return []
    lines = ["", "| metric | champion | challenger | difference |", "| --- | --- | --- | --- |"]
    for metric, row in record["metrics"].items():
        cells = " | ".join(_fmt_cell(row.get(role)) for role in (*ROLES, "difference"))
        lines.append(f"| {metric} | {cells} |")
    return lines


def _md_rules(record: Mapping[str, Any]) -> list[str]:
    if not record.get("rules"):
        return []
    return ["", "| rule | observed | threshold | result |", "| --- | --- | --- | --- |"] + [
        f"| {r['name']} | {_fmt(r['value'], '+.4f')} | {r['comparison']} "
        f"{r['threshold']:+.4f} | {'pass' if r['passed'] else 'FAIL'} |"
        for r in record["rules"]]


def _md_extras(record: Mapping[str, Any]) -> list[str]:
    lines = []
    if record.get("score_psi") is not None:
        lines += ["", f"score PSI challenger vs champion on the window: "
                      f"{record['score_psi']:.4f} (reported, not a rule)"]
    if record.get("reason_stability"):
        r = record["reason_stability"]
        lines += ["", f"reason stability on {r['rows']:.0f} applications both decline or refer: "
                      f"first reason agrees {_fmt(r['top1_agreement'], '.1%')}, top-{r['k']:.0f} "
                      f"set {_fmt(r['topk_agreement'], '.1%')} (reported, not a rule)"]
    if record.get("shadow"):
        s = record["shadow"]
        lines += ["", f"shadow period {s['business_dates'][0]}..{s['business_dates'][1]} "
                      f"({s['applications']} applications): score PSI {s['score_psi']:.4f}, "
                      f"approval {s['approval_rate_shadow']:.2%} vs "
                      f"{s['approval_rate_champion']:.2%} "
                      f"({s['approval_rate_difference']:+.2%})"]
    return [*lines, "", *[f"warning: {w}" for w in record.get("warnings", [])]]


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _fmt_cell(cell: Mapping[str, Any] | None) -> str:
    if not cell or cell.get("value") is None:
        return "-"
    if cell.get("ci_low") is None:
        return _fmt(cell["value"])
    return f"{_fmt(cell['value'])} [{_fmt(cell['ci_low'])}, {_fmt(cell['ci_high'])}]"
