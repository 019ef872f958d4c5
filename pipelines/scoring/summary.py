"""What a scoring run reports: ``ScoreResult`` (the flow's return value and the manifest's
content) and its summary as a person reads it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

from models.scaling import APPROVE, DECLINE, REVIEW

DECISIONS = (APPROVE, REVIEW, DECLINE)


def _started() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the warehouse stores it


@dataclass
class ScoreResult:
    run_id: str
    business_date: date
    status: str  # running | completed | skipped | failed
    model_name: str = ""
    model_version: str | None = None
    shadow_version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    mean_pd: float | None = None
    score_histogram: list[tuple[str, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    started_at: datetime = field(default_factory=_started)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> ScoreResult:
        """Rebuild from ``summary()`` (e.g. a flow's return value), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in summary.items() if k in names})


def day_summary_markdown(result: ScoreResult) -> str:
    """The run as a person reads it: volume, decision rates, mean PD, score histogram."""
    n = result.counts.get("scored", 0)
    lines = [f"### Scoring {result.business_date} ({result.status})", ""]
    if result.model_version is not None:
        lines += [f"model **{result.model_name}** v{result.model_version}"
                  + (f", shadow v{result.shadow_version}" if result.shadow_version else ""), ""]
    if result.status == "skipped" and not result.counts:
        lines.append("already completed; rerun with --force to score it again")
        return "\n".join(lines)
    lines += ["| measure | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in result.counts.items()]
    for d in DECISIONS:
        count = result.decisions.get(d, 0)
        lines.append(f"| {d} | {count} ({count / n:.1%}) |" if n else f"| {d} | 0 |")
    lines.append(f"| mean PD | {result.mean_pd if result.mean_pd is not None else '-'} |")
    lines.append(f"| seconds | {result.seconds.get('total', '-')} |")
    if result.score_histogram and n:
        peak = max(c for _, c in result.score_histogram) or 1
        lines += ["", "score distribution (champion):", "```"]
        lines += [f"{label:>9} {'#' * round(40 * c / peak):<40} {c}"
                  for label, c in result.score_histogram] + ["```"]
    return "\n".join(lines)
