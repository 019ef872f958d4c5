"""Promotion rules: the pure half of judging a challenger against the champion.

Functions on metric mappings, arrays and frames: the rules and the verdict, paired-bootstrap
intervals, the metric table of a decision, the shadow-period summary and the training-window
overlap check. No registry, no warehouse: ``pipelines.promotion`` gathers the inputs.

Verdicts: promoted | rejected (rules failed) | refused (invalid challenger) | conflict (champion
moved meanwhile) | rollback; a dry run says would_promote instead of promoted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models import metrics as M
from models.split import SECOND, IdSplit

PROMOTED, WOULD_PROMOTE, REJECTED, REFUSED, CONFLICT, ROLLBACK = (
    "promoted", "would_promote", "rejected", "refused", "conflict", "rollback")
TRAINING_WINDOW_TAGS = ("window.train", "window.early_stopping", "window.calibration")
CI_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": M.auc, "ks": M.ks, "brier": M.brier, "ece": M.ece}
REPORTED_METRICS = ("auc", "ks", "gini", "brier", "ece", "log_loss", "mean_pd", "bad_rate",
                    "approval_rate", "review_rate", "decline_rate", "bad_rate_approved")
ROLES = ("champion", "challenger")


class RulePolicy(Protocol):
    """The thresholds the rules read (the settings' ``promotion`` section has them)."""

    min_auc_uplift: float
    ci_level: float
    ks_tolerance: float
    brier_tolerance: float
    ece_tolerance: float
    max_approval_rate_shift: float
    min_baseline_auc_uplift: float
    max_ece: float
    max_mean_pd_gap: float


@dataclass(frozen=True)
class RuleResult:
    name: str
    metric: str
    value: float  # what was observed (a difference, a bound or a shift)
    comparison: str  # how value is held against threshold: ">=", ">", "<="
    threshold: float
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: a value that could not be computed (NaN) is null."""
        out = asdict(self)
        out["value"] = self.value if math.isfinite(self.value) else None
        return out


def _check(name: str, metric: str, value: float, comparison: str, threshold: float,
           detail: str) -> RuleResult:
    """A NaN value fails every comparison: a metric that cannot be computed cannot pass. The
    value is rounded to 1e-10 first, so float noise (0.39 - 0.40 = -0.010000000000000009) never
    decides at a boundary the policy states as inclusive."""
    v = round(value, 10) if math.isfinite(value) else value
    ok = {">=": v >= threshold, ">": v > threshold, "<=": v <= threshold,
          "<": v < threshold}[comparison]
    return RuleResult(name, metric, float(value), comparison, float(threshold),
                      bool(ok) and not math.isnan(value), detail)


def evaluate_rules(challenger: Mapping[str, float], champion: Mapping[str, float],
                   auc_ci: Mapping[str, float], policy: RulePolicy) -> list[RuleResult]:
    """Every promotion rule on point metrics of both models on the same rows; ``auc_ci`` is
    ``bootstrap_auc_diff`` of challenger minus champion."""
    def diff(key: str) -> float:
        return float(challenger[key]) - float(champion[key])

    up, ks_d, brier_d, ece_d = diff("auc"), diff("ks"), diff("brier"), diff("ece")
    shift = abs(diff("approval_rate"))
    return [
        _check("auc_uplift", "auc", up, ">=", policy.min_auc_uplift,
               f"AUC {challenger['auc']:.4f} vs {champion['auc']:.4f}: uplift {up:+.4f}, "
               f"needs >= {policy.min_auc_uplift:+.4f}"),
        _check("auc_uplift_ci_low", "auc", float(auc_ci["ci_low"]), ">", 0.0,
               f"{policy.ci_level:.0%} bootstrap interval of the uplift "
               f"[{auc_ci['ci_low']:+.4f}, {auc_ci['ci_high']:+.4f}]: lower bound must be > 0"),
        _check("ks_not_worse", "ks", ks_d, ">=", -policy.ks_tolerance,
               f"KS {challenger['ks']:.4f} vs {champion['ks']:.4f} ({ks_d:+.4f}); may drop by "
               f"at most {policy.ks_tolerance}"),
        _check("brier_not_worse", "brier", brier_d, "<=", policy.brier_tolerance,
               f"Brier {challenger['brier']:.5f} vs {champion['brier']:.5f} ({brier_d:+.5f}); "
               f"may rise by at most {policy.brier_tolerance}"),
        _check("ece_not_worse", "ece", ece_d, "<=", policy.ece_tolerance,
               f"ECE {challenger['ece']:.4f} vs {champion['ece']:.4f} ({ece_d:+.4f}); may rise "
               f"by at most {policy.ece_tolerance}"),
        _check("approval_rate_shift", "approval_rate", shift, "<=",
               policy.max_approval_rate_shift,
               f"approval rate {challenger['approval_rate']:.2%} vs "
               f"{champion['approval_rate']:.2%} on every application, each at its own "
               f"cut-offs (moves "
               f"{shift:.2%}); may move by at most {policy.max_approval_rate_shift:.2%}"),
    ]


def recalibration_rules(challenger: Mapping[str, float], champion: Mapping[str, float],
                        policy: RulePolicy) -> list[RuleResult]:
    """The comparison rules of a recalibration challenger: the champion's booster with a new
    calibrator ranks exactly as the champion does (no AUC uplift can exist), so it is judged on
    calibration: its ECE must be lower on the same rows, Brier and KS no worse. The approval
    rate at the same cut-offs is not a rule here: a recalibration moves the PDs on purpose
    (outcomes worse than the PDs mean fewer applicants below the same PD cut-off), and the
    decision reports the move for the cut-offs' review (``recalibration_warnings``)."""
    rules = evaluate_rules(challenger, champion, {"ci_low": 0.0, "ci_high": 0.0}, policy)
    ece_d = float(challenger["ece"]) - float(champion["ece"])
    improves = _check("ece_improves", "ece", ece_d, "<", 0.0,
                      f"ECE {challenger['ece']:.4f} vs {champion['ece']:.4f} ({ece_d:+.4f}): "
                      "a recalibration must lower it")
    return [improves, *[r for r in rules
                        if not r.name.startswith(("auc_uplift", "approval_rate_shift"))]]


def recalibration_warnings(challenger: Mapping[str, float], champion: Mapping[str, float],
                           policy: RulePolicy) -> list[str]:
    """The approval-rate move of a recalibration, when larger than any other challenger may
    make: said, not refused."""
    shift = float(challenger["approval_rate"]) - float(champion["approval_rate"])
    if abs(shift) <= policy.max_approval_rate_shift:
        return []
    return [f"the recalibration moves the approval rate at the same cut-offs from "
            f"{champion['approval_rate']:.1%} to {challenger['approval_rate']:.1%} "
            f"({shift:+.1%}, more than the {policy.max_approval_rate_shift:.0%} a retrained "
            "model may): review the cut-offs against the target approval rate"]


def absolute_rules(challenger: Mapping[str, float], baseline_uplift: float,
                   monotone: Mapping[str, bool], policy: RulePolicy) -> list[RuleResult]:
    """Gates every model must pass on its own, the first one included: its out-of-time AUC
    above the logistic baseline's on the same window (``baseline_uplift``, from its training
    run), calibration within bounds on the promotion window (ECE, and mean PD against the
    realised bad rate), and every declared monotone direction holding on the fitted booster
    (``models.fit.check_monotone``)."""
    mean_pd, bad_rate = float(challenger["mean_pd"]), float(challenger["bad_rate"])
    gap = abs(mean_pd / bad_rate - 1.0) if bad_rate > 0 else float("nan")
    broken = sorted(f for f, ok in monotone.items() if not ok)
    return [
        _check("beats_baseline", "auc", baseline_uplift, ">=", policy.min_baseline_auc_uplift,
               f"out-of-time AUC above the logistic baseline's on the same window by "
               f"{baseline_uplift:+.4f}, needs >= {policy.min_baseline_auc_uplift:+.4f}"),
        _check("ece_bound", "ece", float(challenger["ece"]), "<=", policy.max_ece,
               f"ECE {challenger['ece']:.4f} on the promotion window, at most {policy.max_ece}"),
        _check("mean_pd_vs_bad_rate", "mean_pd", gap, "<=", policy.max_mean_pd_gap,
               f"mean PD {mean_pd:.4f} vs realised bad rate {bad_rate:.4f} (off by "
               f"{gap:.1%}); may be off by at most {policy.max_mean_pd_gap:.0%}"),
        # check_monotone reports every constrained feature, so an empty sweep means the model
        # declares no direction (a book of the lender's own columns only): nothing can break
        _check("monotone_directions", "monotone", float(len(broken)), "<=", 0.0,
               f"{len(monotone)} declared directions swept on the fitted booster; broken: "
               f"{', '.join(broken) or 'none'}"),
    ]


def verdict_of(rules: list[RuleResult], has_champion: bool,
               problems: list[str]) -> tuple[str, list[str]]:
    """(verdict, reasons) of a decision before it is applied. Without a champion only the
    absolute gates are in ``rules``: the first model is promoted only if it passes them."""
    if problems:
        return REFUSED, problems
    failed = [f"{r.name} failed: {r.detail}" for r in rules if not r.passed]
    if failed:
        return REJECTED, failed
    if not has_champion:
        return PROMOTED, ["no champion yet: every absolute gate passed"]
    return PROMOTED, ["every rule passed"]


def paired_intervals(n_rows: int, statistic: Callable[[np.ndarray], dict[str, float] | None],
                     n: int, level: float, seed: int) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every value ``statistic(rows)`` returns over ``n`` resamples of
    row positions (the same rows for every model: paired). A resample where the statistic is
    undefined (it returns None, e.g. a single class) is skipped."""
    if n_rows < 1 or n < 1:
        return {}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(n):
        values = statistic(rng.integers(0, n_rows, size=n_rows))
        for key, value in (values or {}).items():
            samples.setdefault(key, []).append(value)
    alpha = (1.0 - level) / 2.0
    return {k: (float(np.quantile(v, alpha)), float(np.quantile(v, 1.0 - alpha)))
            for k, v in samples.items()}


def labelled_statistic(y: np.ndarray, pds: Mapping[str, np.ndarray]
                       ) -> Callable[[np.ndarray], dict[str, float] | None]:
    """AUC, KS, Brier and ECE of each model on resampled labelled rows, and the challenger's
    difference for KS, Brier and ECE (the AUC difference has its own bootstrap)."""
    def stat(rows: np.ndarray) -> dict[str, float] | None:
        yi = y[rows]
        if not 0 < yi.sum() < yi.size:
            return None
        out = {f"{role}.{name}": fn(yi, p[rows]) for role, p in pds.items()
               for name, fn in CI_METRICS.items()}
        if len(pds) == 2:
            for name in ("ks", "brier", "ece"):
                out[f"difference.{name}"] = out[f"challenger.{name}"] - out[f"champion.{name}"]
        return out
    return stat


def approval_statistic(scores: Mapping[str, np.ndarray],
                       cutoffs: Mapping[str, tuple[float, float]]
                       ) -> Callable[[np.ndarray], dict[str, float]]:
    """Approval rate of each model at its own cut-offs ``(approve_at, decline_below)``, as
    scoring applies them, and the challenger's difference."""
    def stat(rows: np.ndarray) -> dict[str, float]:
        out = {f"{role}.approval_rate": M.approval_stats(None, s[rows], *cutoffs[role]
                                                         )["approval_rate"]
               for role, s in scores.items()}
        if len(scores) == 2:
            out["difference.approval_rate"] = (out["challenger.approval_rate"]
                                               - out["champion.approval_rate"])
        return out
    return stat


def metric_table(point: Mapping[str, Mapping[str, float]],
                 intervals: Mapping[str, tuple[float, float]],
                 auc_diff: Mapping[str, float] | None) -> dict[str, dict[str, dict[str, Any]]]:
    """metric -> role (champion, challenger, difference) -> value with its interval (None where
    no interval is computed)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in REPORTED_METRICS:
        row: dict[str, dict[str, Any]] = {}
        for role in ROLES:
            if role in point:
                row[role] = _cell(point[role].get(metric), intervals.get(f"{role}.{metric}"))
        if len(point) == 2:
            value = _finite(point["challenger"].get(metric)) - _finite(
                point["champion"].get(metric))
            ci = intervals.get(f"difference.{metric}")
            if metric == "auc" and auc_diff is not None:
                ci = (auc_diff["ci_low"], auc_diff["ci_high"])
            row["difference"] = _cell(value, ci)
        table[metric] = row
    return table


def _finite(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _cell(value: float | None, ci: tuple[float, float] | None) -> dict[str, Any]:
    def clean(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else float(v)
    return {"value": clean(value), "ci_low": clean(ci[0]) if ci else None,
            "ci_high": clean(ci[1]) if ci else None}


def shadow_summary(frame: pd.DataFrame, bins: int, eps: float) -> dict[str, Any] | None:
    """The shadow period from paired score rows (columns ``shadow_score``, ``champion_score``,
    ``shadow_decision``, ``champion_decision``, ``business_date``, ``champion_version``): score
    PSI of the challenger's shadow scores against the champion's on the same applications (the
    champion's as reference) and the approval-rate difference. Aggregates only."""
    if frame.empty:
        return None
    approve_shadow = float((frame["shadow_decision"] == "approve").mean())
    approve_champion = float((frame["champion_decision"] == "approve").mean())
    days = pd.to_datetime(frame["business_date"])
    return {
        "applications": len(frame),
        "business_dates": [days.min().date().isoformat(), days.max().date().isoformat()],
        "days": int(days.dt.normalize().nunique()),
        "champion_versions": sorted({str(v) for v in frame["champion_version"]}),
        "score_psi": M.psi(frame["champion_score"], frame["shadow_score"], bins=bins, eps=eps),
        "approval_rate_shadow": approve_shadow,
        "approval_rate_champion": approve_champion,
        "approval_rate_difference": approve_shadow - approve_champion,
        "decision_agreement": float((frame["shadow_decision"]
                                     == frame["champion_decision"]).mean()),
    }


def _parse_window(value: str) -> tuple[date, date]:
    start, end = value.split("..", 1)
    return date.fromisoformat(start), date.fromisoformat(end)


def training_overlap(tags: Mapping[str, str], window: Mapping[str, Any],
                     require: bool = True) -> list[str]:
    """The run's training windows (tags ``window.*``) that do not end before the promotion
    window starts; with ``require``, a missing or unreadable tag is reported too (overlap cannot
    be ruled out)."""
    start = date.fromisoformat(window["start"])
    # a calibration fitted on one part of an id split is judged on the other: disjoint rows
    split = IdSplit.from_tags(tags)
    disjoint = split is not None and split == IdSplit.from_dict(window.get("split")) \
        and window.get("part") == SECOND
    found = []
    for key in TRAINING_WINDOW_TAGS:
        try:
            first, last = _parse_window(tags[key])
        except (KeyError, ValueError):
            if require:
                found.append(f"tag {key} missing or unreadable")
            continue
        if last >= start and not (disjoint and key == "window.calibration"):
            found.append(f"{key} {first}..{last} does not end before the promotion window "
                         f"starts ({start})")
    return found
