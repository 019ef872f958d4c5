"""Stage: champion/challenger promotion on evidence, its audit, and rollback.

The challenger replaces the champion only after BOTH are re-scored on the same recent out-of-time
window with matured labels (``promotion.oot_months`` whole months ending at the latest matured
month end as of the warehouse's data date), never each judged by its own logged metric.

``promote_challenger`` = ``decide`` (reads only) + ``apply_decision`` (alias move and audit); the
Prefect flow ``promotion`` runs the two as tasks.

1. Registry state, read once. An unreachable store is a ``RegistryUnavailableError`` and nothing
   changes. A local SQLite store that does not exist counts as unreachable: MLflow would silently
   create an empty one, and every model would look like the first.
2. Challenger validity, else *refused* (still audited, champion untouched): the version exists,
   is READY and is not the champion; its run FINISHED and logged ``oot_auc`` (training completed
   its out-of-time evaluation); its train / early-stopping / calibration windows end before the
   promotion window (otherwise it would be judged on its own training data); its model loads.
3. Evidence. Discrimination and calibration (AUC, KS, Brier, ECE) on the window's booked loans
   with matured labels; approval rates at the current cut-offs (``scoring.approve_at`` /
   ``decline_below``) and the score PSI between the two models on every application of the
   window: the through-the-door population the cut-offs act on. Features are built once per
   distinct feature-spec set with the shared builder (``as_of`` = the data date, as in training).
   Intervals come from paired bootstraps seeded by ``settings.seed``: both models see the same
   resampled rows. The AUC rule uses ``models.metrics.bootstrap_auc_diff``.
4. Rules (pure: ``evaluate_rules``) -> verdict. No champion yet: a valid challenger is promoted.
   Equal models never are: an AUC uplift of 0 fails both the uplift and the interval rule.
5. Apply: ``move_aliases_atomically`` compare-and-set against the champion the decision was made
   on (a concurrent promotion turns the loser into a recorded *conflict*), then the audit: JSON
   ``promotion/decision-<timestamp>.json`` on the challenger's run, tag ``promotion.<timestamp>``
   = verdict on both versions, a ``promotion_audit`` row. Only aggregates reach the record, never
   an applicant id. A dry run writes nothing at all.
   Crash safety: a winning decision first writes its audit row as ``promoting``, moves the
   aliases, then completes the row. A process killed in between leaves that row; the next apply
   or rollback settles it from the registry (``promoted`` if the champion is its challenger,
   else ``interrupted``) before any alias moves again, so no champion goes unrecorded.

Verdicts: promoted | rejected (rules failed) | refused (invalid challenger) | conflict (champion
moved meanwhile) | rollback; a dry run says would_promote instead of promoted.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from sqlalchemy import text

from features import build_features, label_applications
from models import metrics as M
from models.pd_model import PDModel
from models.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    AliasConflictError,
    RegistryError,
    aliases,
    client_for,
    load_pd_model,
    log_training,
    move_aliases_atomically,
    resume_run,
    set_version_tags,
    tracked_run,
    version_info,
)
from models.registry import rollback as registry_rollback
from models.scaling import pd_to_score
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.errors import CreditflowError
from pipelines.core.settings import PromotionSettings, Settings, mask_secret, redact
from pipelines.scoring.score import SHADOW, model_specs
from pipelines.training.track import git_commit
from pipelines.training.trainset import data_as_of
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import feature_config, load_applications, shared_outcomes
from pipelines.warehouse.schema import promotion_audit

PROMOTED, WOULD_PROMOTE, REJECTED, REFUSED, CONFLICT, ROLLBACK = (
    "promoted", "would_promote", "rejected", "refused", "conflict", "rollback")
# audit rows only: a promotion under way, and one whose process died before the aliases moved
PROMOTING, INTERRUPTED = "promoting", "interrupted"
REQUIRED_METRIC = "oot_auc"
TRAINING_WINDOW_TAGS = ("window.train", "window.early_stopping", "window.calibration")
CI_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": M.auc, "ks": M.ks, "brier": M.brier, "ece": M.ece}
REPORTED_METRICS = ("auc", "ks", "gini", "brier", "ece", "log_loss", "mean_pd", "bad_rate",
                    "approval_rate", "review_rate", "decline_rate", "bad_rate_approved")
ROLES = ("champion", "challenger")
# The champion's part in a decision, as tagged on its version: never a verdict, which only the
# challenger gets (a champion tagged "rejected" read as if it had been refused).
CHAMPION_ROLE = {PROMOTED: "replaced_champion", CONFLICT: "champion_judged_against"}
DEFENDED = "defended_champion"
_PROBE_TIMEOUT_S = 5.0


class PromotionError(CreditflowError):
    """Promotion or rollback cannot go on; nothing was changed unless the message says so."""


class RegistryUnavailableError(PromotionError):
    """The model registry cannot be reached or read."""


class NoChallengerError(PromotionError):
    """There is nothing to judge: no ``challenger`` alias and no version given."""


class RollbackError(PromotionError):
    """There is no ``previous`` version to put back."""


# ---------------------------------------------------------------------------------------------
# pure: rules, verdict, intervals, shadow summary


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
    ok = {">=": v >= threshold, ">": v > threshold, "<=": v <= threshold}[comparison]
    return RuleResult(name, metric, float(value), comparison, float(threshold),
                      bool(ok) and not math.isnan(value), detail)


def evaluate_rules(challenger: Mapping[str, float], champion: Mapping[str, float],
                   auc_ci: Mapping[str, float], policy: PromotionSettings) -> list[RuleResult]:
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
               f"{champion['approval_rate']:.2%} at the current cut-offs (moves "
               f"{shift:.2%}); may move by at most {policy.max_approval_rate_shift:.2%}"),
    ]


def verdict_of(rules: list[RuleResult], has_champion: bool,
               problems: list[str]) -> tuple[str, list[str]]:
    """(verdict, reasons) of a decision before it is applied."""
    if problems:
        return REFUSED, problems
    if not has_champion:
        return PROMOTED, ["no champion yet: the first valid model is promoted"]
    failed = [f"{r.name} failed: {r.detail}" for r in rules if not r.passed]
    if failed:
        return REJECTED, failed
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


def approval_statistic(scores: Mapping[str, np.ndarray], approve_at: float,
                       decline_below: float) -> Callable[[np.ndarray], dict[str, float]]:
    def stat(rows: np.ndarray) -> dict[str, float]:
        out = {f"{role}.approval_rate": M.approval_stats(None, s[rows], approve_at,
                                                         decline_below)["approval_rate"]
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


# ---------------------------------------------------------------------------------------------
# the decision


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


# ---------------------------------------------------------------------------------------------
# registry access


def registry_aliases(settings: Settings) -> dict[str, str]:
    """alias -> version, or RegistryUnavailableError (never a silently created empty store)."""
    uri = settings.tracking_uri
    _probe(uri)
    try:
        return aliases(uri, settings.training.registered_model_name)
    except Exception as exc:
        raise RegistryUnavailableError(
            f"model registry unreachable at {mask_secret(uri)}: "
            f"{type(exc).__name__}: {redact(str(exc)).splitlines()[0][:300]}") from None


def _probe(uri: str) -> None:
    """Fail fast where MLflow would create an empty store or retry for minutes."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        db = uri.split(":///", 1)[-1].split("?", 1)[0]
        if db and db != ":memory:" and not Path(db).is_file():
            raise RegistryUnavailableError(
                f"model registry not found: no SQLite store at {db} (train a model first, or "
                "point mlflow_tracking_uri at the existing store)")
    elif parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname or "localhost", port),
                                     timeout=_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise RegistryUnavailableError(
                f"model registry unreachable at {mask_secret(uri)}: {exc}") from None


def _run_of(settings: Settings, run_id: str) -> Any | None:
    try:
        return client_for(settings.tracking_uri).get_run(run_id)
    except Exception:
        return None


def _parse_window(value: str) -> tuple[date, date]:
    start, end = value.split("..", 1)
    return date.fromisoformat(start), date.fromisoformat(end)


def training_overlap(tags: Mapping[str, str], window: Mapping[str, Any],
                     require: bool = True) -> list[str]:
    """The run's training windows (tags ``window.*``) that do not end before the promotion
    window starts; with ``require``, a missing or unreadable tag is reported too (overlap cannot
    be ruled out)."""
    start = date.fromisoformat(window["start"])
    found = []
    for key in TRAINING_WINDOW_TAGS:
        try:
            first, last = _parse_window(tags[key])
        except (KeyError, ValueError):
            if require:
                found.append(f"tag {key} missing or unreadable")
            continue
        if last >= start:
            found.append(f"{key} {first}..{last} does not end before the promotion window "
                         f"starts ({start})")
    return found


# ---------------------------------------------------------------------------------------------
# decide (reads only)


def promotion_window(settings: Settings, wh: Warehouse) -> dict[str, Any]:
    """``promotion.oot_months`` whole months ending at the latest matured month end."""
    as_of = data_as_of(wh)
    perf = settings.features.performance_window_months
    end = latest_matured_month_end(as_of, perf)
    months = settings.promotion.oot_months
    start = (pd.Period(end, freq="M") - (months - 1)).start_time.date()
    return {"start": start.isoformat(), "end": end.isoformat(), "as_of": as_of.isoformat(),
            "months": months, "performance_window_months": perf}


def check_challenger(settings: Settings, version: str, champion: str | None,
                     window: Mapping[str, Any]) -> tuple[dict[str, Any], PDModel | None,
                                                         list[str]]:
    """(what is known of the version, its model if valid, reasons to refuse it)."""
    name, uri = settings.training.registered_model_name, settings.tracking_uri
    try:
        info = version_info(uri, name, version)
    except RegistryError as exc:
        return {"version": str(version), "run_id": None}, None, [
            f"challenger version {version} is not in the registry ({exc})"]
    about = {"version": info["version"], "run_id": info["run_id"], "status": info["status"]}
    problems = []
    if str(version) == champion:
        problems.append(f"version {version} is already the champion")
    if info["status"] != "READY":
        problems.append(f"version {version} has registry status {info['status']}, not READY")
    run = _run_of(settings, info["run_id"])
    if run is None:
        problems.append(f"the run {info['run_id']} of version {version} is missing")
    else:
        about |= _run_facts(run)
        problems += _run_problems(run, version, window)
    model = None
    try:
        model = load_pd_model(uri, name, version=str(version))
    except RegistryError as exc:
        problems.append(f"model files of version {version} missing or corrupted: {exc}")
    return about, (None if problems else model), problems


def _run_facts(run: Any) -> dict[str, Any]:
    tags = run.data.tags
    return {"logged_oot_auc": run.data.metrics.get(REQUIRED_METRIC),
            "training_windows": {k: tags.get(k) for k in (*TRAINING_WINDOW_TAGS, "window.oot",
                                                          "window.as_of")},
            "trained_by": tags.get("triggered_by"), "config_hash": tags.get("config_hash")}


def _run_problems(run: Any, version: str, window: Mapping[str, Any]) -> list[str]:
    problems = []
    if run.info.status != "FINISHED":
        problems.append(f"the training run {run.info.run_id} of version {version} is "
                        f"{run.info.status}, not FINISHED")
    if REQUIRED_METRIC not in run.data.metrics:
        problems.append(f"the training run {run.info.run_id} of version {version} has no "
                        f"metric {REQUIRED_METRIC}: its out-of-time evaluation never finished")
    problems += [f"version {version} cannot be judged out of time: {o}"
                 for o in training_overlap(run.data.tags, window)]
    return problems


def _load_champion(settings: Settings, version: str, window: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], PDModel, list[str]]:
    """(what is known of the champion, its model, warnings). A champion that cannot be loaded
    stops the promotion: there is nothing to compare with."""
    name, uri = settings.training.registered_model_name, settings.tracking_uri
    try:
        model = load_pd_model(uri, name, version=version)
    except RegistryError as exc:
        raise PromotionError(f"the champion (version {version}) cannot be loaded, so nothing can "
                             f"be compared with it; roll back or repair it first: {exc}") from None
    about: dict[str, Any] = {"version": version, "run_id": model.run_id}
    run = _run_of(settings, model.run_id or "")
    if run is None:
        return about, model, [f"the champion's run {model.run_id} is missing"]
    about |= _run_facts(run)
    # A champion judged on its own training data looks better than it is: that only makes the
    # challenger's case harder, so it is a warning, not a refusal.
    return about, model, [f"champion version {version}: {o} (its metrics there are in-sample)"
                          for o in training_overlap(run.data.tags, window, require=False)]


@dataclass
class WindowData:
    """The window's applications with their matured labels (booked and mature rows only)."""

    apps: pd.DataFrame
    outcomes: pd.DataFrame
    labelled: np.ndarray  # bool per application
    y: np.ndarray  # 0/1 of the labelled rows
    counts: dict[str, int]
    as_of: pd.Timestamp  # the data date: labels and dealer history as known then


def load_window(settings: Settings, wh: Warehouse, window: Mapping[str, Any]) -> WindowData:
    start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    as_of = date.fromisoformat(window["as_of"])
    apps = load_applications(wh, start, end)
    outcomes = shared_outcomes(wh, as_of)
    labels = label_applications(apps, outcomes, pd.Timestamp(as_of),
                                settings.features.performance_window_months)
    bad = labels["bad"].to_numpy()
    labelled = ~np.isnan(bad)
    y = bad[labelled].astype(np.int8)
    counts = {"applications": len(apps), "labelled": int(labelled.sum()),
              "bads": int(y.sum()),
              "immature": int((labels["booked"] & ~labels["mature"]).sum()),
              "not_booked": int((~labels["booked"]).sum())}
    if not 0 < counts["bads"] < counts["labelled"]:
        raise PromotionError(f"promotion window {start}..{end} holds {counts['labelled']} "
                             f"labelled loans with {counts['bads']} bads: it needs goods and "
                             "bads (check promotion.oot_months and the data date)")
    return WindowData(apps, outcomes, labelled, y, counts, pd.Timestamp(as_of))


def predict_window(settings: Settings, data: WindowData,
                   models: Mapping[str, PDModel]) -> dict[str, np.ndarray]:
    """PD of every application per model; features built once per distinct spec set."""
    frames: dict[tuple, pd.DataFrame] = {}
    out = {}
    for role, model in models.items():
        specs = tuple(model_specs(model))
        if specs not in frames:
            frames[specs] = build_features(data.apps, data.outcomes, data.as_of,
                                           feature_config(settings), list(specs))
        out[role] = model.predict_pd(frames[specs][model.feature_names])
    return out


def gather_evidence(settings: Settings, data: WindowData,
                    models: Mapping[str, PDModel]) -> dict[str, Any]:
    """Metrics of every model on the window with paired-bootstrap intervals, the AUC uplift's
    interval (``bootstrap_auc_diff``) and the score PSI between the models."""
    p, sc = settings.promotion, settings.scoring
    pds = predict_window(settings, data, models)
    scores = {r: pd_to_score(v, sc.base_score, sc.base_odds, sc.pdo) for r, v in pds.items()}
    lab = {r: v[data.labelled] for r, v in pds.items()}
    point = {}
    for role in pds:
        m = M.credit_metrics(data.y, lab[role], scores[role][data.labelled], sc.approve_at,
                             sc.decline_below)
        # through the door: every application of the window, booked or not
        m.update(M.approval_stats(None, scores[role], sc.approve_at, sc.decline_below))
        point[role] = m
    intervals = paired_intervals(int(data.labelled.sum()), labelled_statistic(data.y, lab),
                                 p.bootstrap_samples, p.ci_level, settings.seed)
    intervals |= paired_intervals(len(data.apps), approval_statistic(
        scores, sc.approve_at, sc.decline_below), p.bootstrap_samples, p.ci_level,
        settings.seed + 1)
    auc_diff = None
    psi_value = None
    if len(pds) == 2:
        auc_diff = M.bootstrap_auc_diff(data.y, lab["challenger"], lab["champion"],
                                        n=p.bootstrap_samples, level=p.ci_level,
                                        seed=settings.seed)
        psi_value = M.psi(scores["champion"], scores["challenger"],
                          bins=settings.monitoring.psi_bins, eps=settings.monitoring.psi_epsilon)
    return {"point": point, "auc_diff": auc_diff, "score_psi": psi_value,
            "table": metric_table(point, intervals, auc_diff)}


_SHADOW_SQL = """
SELECT s.score AS shadow_score, s.decision AS shadow_decision, s.business_date,
       c.score AS champion_score, c.decision AS champion_decision,
       c.model_version AS champion_version
FROM scores AS s
JOIN scores AS c
  ON c.application_id = s.application_id AND c.role = 'champion'
 AND c.model_name = s.model_name AND c.model_version <> s.model_version
WHERE s.role = :shadow AND s.model_name = :name AND s.model_version = :version
"""


def shadow_period(settings: Settings, wh: Warehouse, version: str) -> dict[str, Any] | None:
    """The challenger's shadow scores against the champion's on the same applications, if daily
    scoring has produced any (ids are joined in SQL and never leave it)."""
    params = {"shadow": SHADOW, "name": settings.training.registered_model_name,
              "version": str(version)}
    with wh.engine.connect() as conn:
        frame = pd.read_sql_query(text(_SHADOW_SQL), conn, params=params)
    return shadow_summary(frame, settings.monitoring.psi_bins, settings.monitoring.psi_epsilon)


def decide(settings: Settings, wh: Warehouse, triggered_by: str = "manual",
           challenger_version: str | None = None) -> PromotionDecision:
    """Judge the challenger (the ``challenger`` alias, or the version given) against the
    champion. Reads only: nothing in the registry or the warehouse changes."""
    state = registry_aliases(settings)
    version = challenger_version or state.get(CHALLENGER)
    name = settings.training.registered_model_name
    if version is None:
        raise NoChallengerError(f"model {name} has no '{CHALLENGER}' alias: train a model first "
                                "(or name a version)")
    window = promotion_window(settings, wh)
    try:
        return _judge(settings, wh, state, str(version), window, triggered_by)
    except RegistryError as exc:  # the registry failed half-way: still nothing changed
        raise RegistryUnavailableError(f"model registry failed during the comparison: "
                                       f"{redact(str(exc))[:300]}") from None


def _judge(settings: Settings, wh: Warehouse, state: dict[str, str], version: str,
           window: dict[str, Any], triggered_by: str) -> PromotionDecision:
    champion_version = state.get(CHAMPION)
    about, challenger, problems = check_challenger(settings, version, champion_version, window)
    sc, p = settings.scoring, settings.promotion
    decision = PromotionDecision(
        model_name=settings.training.registered_model_name, verdict=REFUSED, reasons=[],
        challenger=about, champion=None, window=window, triggered_by=triggered_by[:128],
        decided_at=datetime.now(UTC), config_hash=settings.config_hash(),
        git_commit=git_commit(),
        cutoffs={"approve_at": sc.approve_at, "decline_below": sc.decline_below},
        bootstrap={"samples": p.bootstrap_samples, "ci_level": p.ci_level, "seed": settings.seed},
        aliases_before=dict(state))
    if champion_version is not None:
        decision.champion = {"version": champion_version}
    if challenger is not None:  # a refused challenger is not worth loading the champion for
        _add_evidence(settings, wh, decision, challenger)
    decision.verdict, decision.reasons = verdict_of(
        decision.rules, decision.champion is not None, problems)
    return decision


def _add_evidence(settings: Settings, wh: Warehouse, decision: PromotionDecision,
                  challenger: PDModel) -> None:
    models = {"challenger": challenger}
    if decision.champion is not None:
        decision.champion, models["champion"], decision.warnings = _load_champion(
            settings, decision.champion["version"], decision.window)
    data = load_window(settings, wh, decision.window)
    evidence = gather_evidence(settings, data, models)
    decision.counts, decision.metrics = data.counts, evidence["table"]
    decision.score_psi = evidence["score_psi"]
    if "champion" in models:
        decision.rules = evaluate_rules(evidence["point"]["challenger"],
                                        evidence["point"]["champion"], evidence["auc_diff"],
                                        settings.promotion)
    decision.shadow = shadow_period(settings, wh, decision.challenger["version"])


# ---------------------------------------------------------------------------------------------
# apply (alias move and audit)


def apply_decision(settings: Settings, wh: Warehouse, decision: PromotionDecision,
                   dry_run: bool = False) -> PromotionDecision:
    """Move the aliases if the verdict is *promoted* (compare-and-set against the champion the
    decision was made on), then put the decision on record. A dry run writes nothing."""
    if dry_run:
        decision.dry_run = True
        if decision.verdict == PROMOTED:
            decision.verdict = WOULD_PROMOTE
        return decision
    uri, name = settings.tracking_uri, decision.model_name
    settle_interrupted(settings, wh)
    intent = None
    if decision.verdict == PROMOTED:
        expected = (decision.champion or {}).get("version")
        intent = record_intent(wh, decision)
        try:
            moved = move_aliases_atomically(uri, name, decision.challenger["version"], expected)
            decision.aliases_after = moved["after"]
        except AliasConflictError as exc:
            decision.verdict = CONFLICT
            decision.reasons = [f"not applied: {exc}"]
        except RegistryError as exc:
            raise RegistryUnavailableError(
                f"alias move failed: {exc}; the audit row of this decision stays "
                f"'{PROMOTING}' until the next promotion settles it from the registry") from None
    if decision.aliases_after is None:
        decision.aliases_after = _aliases_now(settings)
    run_id = decision.challenger.get("run_id")  # None: the version is not in the registry
    versions = [decision.challenger["version"]] if run_id else []
    if decision.champion is not None:
        versions.append(decision.champion["version"])
    decision.audit = write_audit(settings, wh, decision.as_dict(), decision.stamp, run_id,
                                 versions, row_id=intent)
    return decision


def record_intent(wh: Warehouse, decision: PromotionDecision) -> int:
    """The ``promoting`` audit row, written before the aliases move: a process killed between
    the move and its audit leaves this row, not a champion nobody recorded."""
    champion, challenger = _audit_versions(decision.as_dict())
    row = {"model_name": decision.model_name, "challenger_version": challenger,
           "champion_version": champion, "decision": PROMOTING,
           "triggered_by": decision.triggered_by[:128],
           "record": json.dumps(decision.as_dict(), default=str, sort_keys=True),
           "decided_at": decision.decided_at.replace(tzinfo=None)}
    with wh.begin() as conn:
        return int(conn.execute(promotion_audit.insert().values(**row)).inserted_primary_key[0])


def settle_interrupted(settings: Settings, wh: Warehouse) -> list[str]:
    """Settle ``promoting`` rows left by a killed promotion from the registry: promoted if the
    champion is their challenger, else interrupted. Runs before any alias moves again, so the
    champion is still what the dead process left. A live promotion may have its row settled
    early; it overwrites the row with its own outcome by id when it finishes."""
    name = settings.training.registered_model_name
    pending = wh.read("promotion_audit", where="model_name = :m AND decision = :p",
                      params={"m": name, "p": PROMOTING}, order_by="id")
    if pending.empty:
        return []
    try:
        champion = aliases(settings.tracking_uri, name).get(CHAMPION)
    except RegistryError:  # cannot tell what happened: leave the rows in doubt
        return []
    settled = []
    for row in pending.itertuples():
        verdict = PROMOTED if row.challenger_version == champion else INTERRUPTED
        record = {**json.loads(row.record), "verdict": verdict,
                  "settled": {"at": datetime.now(UTC).isoformat(), "champion_now": champion,
                              "reason": "the promoting process stopped before recording "
                                        "its outcome; settled from the registry's champion"}}
        wh.execute("UPDATE promotion_audit SET decision = :v, record = :r "
                   "WHERE id = :id AND decision = :p",
                   {"v": verdict, "r": json.dumps(record, default=str, sort_keys=True),
                    "id": int(row.id), "p": PROMOTING})
        settled.append(verdict)
    return settled


def _aliases_now(settings: Settings) -> dict[str, str]:
    try:
        return aliases(settings.tracking_uri, settings.training.registered_model_name)
    except RegistryError:
        return {}


def _artifact_path(stamp: str) -> str:
    return f"promotion/decision-{stamp}.json"


def write_audit(settings: Settings, wh: Warehouse, record: dict[str, Any], stamp: str,
                run_id: str | None, versions: list[str],
                row_id: int | None = None) -> dict[str, Any]:
    """The JSON record as an artifact on ``run_id``, a tag on each version, a warehouse row
    (``row_id``: the decision's ``promoting`` row, completed in place); returns where it went.
    The warehouse row goes first: it is the trail a reviewer queries."""
    name, uri = record["model_name"], settings.tracking_uri
    audit = {"artifact": _artifact_path(stamp) if run_id else None, "run_id": run_id,
             "promotion_experiment": promotion_experiment(settings),
             "version_tags": version_tags(record, stamp, versions)}
    record = {**record, "audit": audit}
    champion, challenger = _audit_versions(record)
    row = {"model_name": name, "challenger_version": challenger,
           "champion_version": champion, "decision": record["verdict"],
           "triggered_by": record["triggered_by"][:128],
           "record": json.dumps(record, default=str, sort_keys=True),
           "decided_at": datetime.fromisoformat(record["decided_at"]).replace(tzinfo=None)}
    try:
        if row_id is None:
            wh.insert("promotion_audit", [row])
        else:
            with wh.begin() as conn:
                conn.execute(promotion_audit.update().where(
                    promotion_audit.c.id == row_id).values(**row))
        if run_id:
            resume_run(uri, run_id).log_dict(record, _artifact_path(stamp))
        log_promotion_run(settings, record, stamp)
        for version, tags in audit["version_tags"].items():
            set_version_tags(uri, name, version, tags)
    except Exception as exc:
        raise PromotionError(
            f"decision '{record['verdict']}' for {name} (aliases now {record.get('aliases_after')}"
            f") could not be fully recorded: {type(exc).__name__}: {redact(str(exc))[:300]}"
        ) from None
    return audit


def promotion_experiment(settings: Settings) -> str:
    return f"{settings.training.experiment_name}-promotion"


def version_tags(record: Mapping[str, Any], stamp: str,
                 versions: list[str]) -> dict[str, dict[str, str]]:
    """version -> tags of one decision (only for ``versions``, those in the registry): the
    challenger gets ``promotion.<stamp>.verdict``; the champion only a ``role``."""
    key = f"promotion.{stamp}"
    champion, challenger = _audit_versions(record)
    if record["verdict"] == ROLLBACK:
        tags = {challenger: {f"{key}.role": "restored_champion"},
                champion: {f"{key}.role": "rolled_back_champion"}}
    else:
        tags = {challenger: {f"{key}.role": "challenger", f"{key}.verdict": record["verdict"],
                             f"{key}.champion": f"v{champion}" if champion else "none"},
                champion: {f"{key}.role": CHAMPION_ROLE.get(record["verdict"], DEFENDED),
                           f"{key}.challenger": f"v{challenger}"}}
    return {str(v): tags[v] for v in dict.fromkeys(versions) if v in tags}


def log_promotion_run(settings: Settings, record: Mapping[str, Any], stamp: str) -> None:
    """One run per decision in ``<training experiment>-promotion``: both versions' figures on
    the same window as metrics, so the runs table compares decisions like with like."""
    champion, challenger = _audit_versions(record)
    if record["verdict"] == ROLLBACK:
        run_name = f"rollback to v{challenger} (v{champion} demoted)"
    else:
        run_name = (f"promotion v{challenger} vs {f'v{champion}' if champion else 'no champion'}"
                    f": {record['verdict']}")
    params, metrics, tags = promotion_figures(record)
    tags |= {"stamp": stamp, "mlflow.note.content": "\n".join(
        f"- {r}" for r in record.get("reasons", []))}
    texts = {} if record["verdict"] == ROLLBACK else {"decision.md": decision_markdown(record)}
    with tracked_run(settings.tracking_uri, promotion_experiment(settings),
                     settings.artifact_root, run_name=run_name) as run:
        log_training(run, params=params, metrics=metrics, tags=tags, texts=texts)


def promotion_figures(record: Mapping[str, Any]
                      ) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """(params, metrics, tags) of a decision's run. Metrics are ``<role>_oot_<metric>`` with
    ``_ci_low``/``_ci_high`` where an interval was computed; role ``difference`` is challenger
    minus champion (``difference_oot_auc`` is the AUC uplift)."""
    champion, challenger = _audit_versions(record)
    metrics: dict[str, float] = {}
    for metric, row in (record.get("metrics") or {}).items():
        for role, cell in row.items():
            for part, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
                if cell.get(part) is not None:
                    metrics[f"{role}_oot_{metric}{suffix}"] = cell[part]
    metrics |= {f"window_{k}": v for k, v in (record.get("counts") or {}).items()}
    if record.get("score_psi") is not None:
        metrics["score_psi_challenger_vs_champion"] = record["score_psi"]
    if record.get("rules"):
        metrics["rules_failed"] = sum(not r["passed"] for r in record["rules"])
    params = {"champion_version": champion or "none", "challenger_version": challenger or "none",
              "window": record.get("window") or {}, "cutoffs": record.get("cutoffs") or {},
              "bootstrap": record.get("bootstrap") or {},
              "rule": {r["name"]: f"{r['comparison']} {r['threshold']}"
                       for r in record.get("rules") or []}}
    tags = {"verdict": record["verdict"], "model_name": record["model_name"],
            "decision_id": record["decision_id"], "triggered_by": record["triggered_by"],
            "challenger_run_id": (record.get("challenger") or {}).get("run_id") or "none",
            "champion_run_id": (record.get("champion") or {}).get("run_id") or "none"}
    return params, metrics, tags


def _audit_versions(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(champion_version, challenger_version) columns: the champion at decision time and the
    version that would take its place (for a rollback: the demoted one and the restored one)."""
    if record["verdict"] == ROLLBACK:
        return record.get("demoted"), record.get("champion_restored")
    return (record.get("champion") or {}).get("version"), record["challenger"].get("version")


def promote_challenger(settings: Settings, wh: Warehouse, dry_run: bool = False,
                       triggered_by: str = "manual",
                       challenger_version: str | None = None) -> PromotionDecision:
    """Judge, decide, record and (if won) promote; see the module docstring."""
    decision = decide(settings, wh, triggered_by, challenger_version)
    return apply_decision(settings, wh, decision, dry_run)


# ---------------------------------------------------------------------------------------------
# rollback


def rollback_champion(settings: Settings, wh: Warehouse, triggered_by: str) -> dict[str, Any]:
    """Put ``previous`` back as champion (under the alias lock) and record it in the audit."""
    name = settings.training.registered_model_name
    state = registry_aliases(settings)
    if state.get(PREVIOUS) is None:
        raise RollbackError(f"model {name} has no '{PREVIOUS}' version to roll back to (champion "
                            f"is {state.get(CHAMPION) or 'not set'}); nothing changed")
    settle_interrupted(settings, wh)  # before the champion moves again
    try:
        moved = registry_rollback(settings.tracking_uri, name)
    except RegistryError as exc:
        raise RollbackError(f"rollback of {name} failed: {exc}") from None
    decided_at = datetime.now(UTC)
    restored, demoted = moved["champion"], moved["demoted"]
    run_id = _version_run(settings, demoted)
    record = {"decision_id": uuid.uuid4().hex, "model_name": name, "verdict": ROLLBACK,
              "reasons": [f"version {restored} restored as champion, version {demoted} "
                          "demoted"],
              "champion_restored": restored, "demoted": demoted,
              "aliases_before": moved["before"], "aliases_after": moved["after"],
              "triggered_by": triggered_by[:128], "decided_at": decided_at.isoformat(),
              "config_hash": settings.config_hash()}
    stamp = decided_at.strftime("%Y%m%dT%H%M%S%fZ")
    record["audit"] = write_audit(settings, wh, record, stamp, run_id,
                                  [v for v in (restored, demoted) if v is not None])
    return record


def _version_run(settings: Settings, version: str | None) -> str | None:
    if version is None:
        return None
    try:
        return version_info(settings.tracking_uri, settings.training.registered_model_name,
                            version)["run_id"]
    except RegistryError:
        return None
