"""Stage: put a training run on record in MLflow and register the model as ``challenger``.

``log_and_register`` ends the run FINISHED before it points ``challenger`` at the new version, so
an alias never names a version whose training run did not complete (a crash in between leaves a
version with no alias, which promotion refuses by its run status anyway).

A run holds what a reviewer needs to reproduce and judge it: params (effective booster params,
windows, seed, cut-offs), tags (data window, row/bad/immature counts, config hash, git commit,
trigger), the OOT and baseline metrics, plots, decile tables, the model card and the training-window
reference sample that monitoring compares against. Secrets never reach params or tags: only
thresholds and windows are logged, never URLs.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from models.model_card import APPROVAL_ROWS, model_card
from models.pd_model import PDModel
from models.registry import (
    CHALLENGER,
    TrackedRun,
    build_reference,
    log_reference,
    log_training,
    register_pd_model,
    set_alias,
    start_run,
)
from models.scaling import pd_to_score
from pipelines.core.calendar import Windows
from pipelines.core.settings import PROJECT_ROOT, Settings
from pipelines.scoring.models import scoring_policy
from pipelines.training.evaluate import Evaluation
from pipelines.training.trainset import WINDOW_NAMES, TrainingSet
from pipelines.warehouse.history import target_config


@dataclass
class TrainResult:
    run_id: str
    model_name: str
    version: str
    metrics: dict[str, float]
    windows: dict[str, str]
    counts: dict[str, dict[str, int]]

    def headline(self) -> dict[str, Any]:
        keys = ("oot_auc", "oot_ks", "oot_gini", "oot_brier", "oot_ece", "baseline_oot_auc",
                "oot_approval_rate", "oot_score_psi_train_vs_oot")
        return {"run_id": self.run_id, "model": self.model_name, "version": self.version,
                **{k: round(self.metrics[k], 4) for k in keys if k in self.metrics},
                "windows": self.windows}


def git_commit() -> str:
    """The code version of this run; '-dirty' when the work tree has uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, text=True,
                             capture_output=True, check=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=PROJECT_ROOT, text=True, capture_output=True,
                               timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(windows: Windows, triggered_by: str, target: str = "main") -> str:
    """What the run is, readable in the runs table: ``pd-train <train end> <trigger>`` (the
    trigger's first word: monitoring, cli, schedule, demo, training ...); ``epd-train`` for
    the early-payment-default model, ``roll-train`` for the roll-forward one."""
    trigger = re.split(r"[\s:]", triggered_by.strip(), maxsplit=1)[0] or "manual"
    kind = target if target in ("epd", "roll") else "pd"
    return f"{kind}-train {windows.train[1].isoformat()} {trigger}"


def open_run(settings: Settings, triggered_by: str, windows: Windows,
             target: str = "main") -> TrackedRun:
    w = {k: f"{a}..{b}" for k, (a, b) in windows.as_dict().items()}
    kind, rows = {"epd": ("EPD", "applications"),
                  "roll": ("Roll-forward", "open delinquent loans of the month ends")}.get(
        target, ("PD", "applications"))
    note = (f"{kind} model trained on {rows} {w['train']} (early stopping "
            f"{w['early_stopping']}, calibration {w['calibration']}), judged out of time on "
            f"{w['oot']}; data as of {windows.as_of}. Triggered by: {triggered_by}. Its OOT "
            "metrics are on its own window: compare models in the promotion experiment, where "
            "both are scored on the same one.")
    return start_run(settings.tracking_uri, settings.training.experiment_name,
                     settings.artifact_root, run_name=run_name(windows, triggered_by, target),
                     tags={"triggered_by": triggered_by, "mlflow.note.content": note})


def log_datasets(settings: Settings, run: TrackedRun, ts: TrainingSet) -> None:
    """The training and out-of-time windows as the run's inputs: name, schema, row count and a
    digest of every row with its label, not the rows."""
    for window, context in (("train", "training"), ("oot", "evaluation")):
        start, end = getattr(ts.windows, window)
        run.log_dataset(ts.X[window].assign(bad=ts.y[window]),
                        name=f"applications {window} {start}..{end}", context=context,
                        source={"table": "applications", "window": f"{start}..{end}",
                                "as_of": ts.windows.as_of.isoformat(),
                                "rows": "booked loans with labels matured "
                                        f"{_label_months(settings, ts.target)} months",
                                "label": "bad"})


def _label_months(settings: Settings, target: str) -> int:
    # the roll-forward label is the next month end's tape row (pipelines.training.rollset)
    return 1 if target == "roll" else target_config(settings, target).performance_window_months


def _params(settings: Settings, ts: TrainingSet, ev: Evaluation,
            fit_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": settings.seed, "booster": fit_info["params"],
        "trained_on": fit_info.get("trained_on", "local"),  # or "dask": models.fit_dask
        "hpo": fit_info.get("hpo", {}),
        "n_estimators_max": settings.training.n_estimators,
        "early_stopping_rounds": settings.training.early_stopping_rounds,
        "calibration": settings.training.calibration,
        "performance_window_months": settings.features.performance_window_months,
        "dealer_prior_strength": settings.features.dealer_prior_strength,
        "windows": {k: f"{a}..{b}" for k, (a, b) in ts.windows.as_dict().items()},
        "as_of": ts.windows.as_of.isoformat(), "cutoffs": ev.cutoffs,
        "score_scaling": {"base_score": settings.scoring.base_score,
                          "base_odds": settings.scoring.base_odds, "pdo": settings.scoring.pdo},
        "features": ",".join(s.name for s in ts.specs),
        "features_dropped": ",".join(ts.dropped),
    }


def _tags(settings: Settings, ts: TrainingSet, triggered_by: str) -> dict[str, Any]:
    tags: dict[str, Any] = {"config_hash": settings.config_hash(), "git_commit": git_commit(),
                            "triggered_by": triggered_by, **ts.windows.tags(),
                            "target": ts.target}
    for name in WINDOW_NAMES:
        for key, value in ts.counts[name].items():
            tags[f"count.{name}.{key}"] = value
    tags["count.immature_total"] = sum(ts.counts[w]["immature"] for w in WINDOW_NAMES)
    return tags


def reference_frame(settings: Settings, model: PDModel, ts: TrainingSet):
    """Training-window sample of ALL applications (not only the booked, matured ones the model
    learnt from) with PD and score: monitoring compares each day's applications against it."""
    population = ts.population if ts.population is not None else ts.X["train"]
    ref = build_reference(model, population, seed=settings.seed)
    sc = settings.scoring
    ref["score"] = pd_to_score(ref["pd"].to_numpy(), sc.base_score, sc.base_odds, sc.pdo)
    return ref


def log_and_register(settings: Settings, run: TrackedRun, ts: TrainingSet, model: PDModel,
                     ev: Evaluation, fit_info: dict[str, Any], triggered_by: str) -> TrainResult:
    metrics = ev.flat()
    metrics["best_iteration"] = float(model.booster.attr("best_iteration") or 0)
    metrics |= {f"bridge_{k}": float(v) for k, v in ts.bridge.items()
                if isinstance(v, (int, float))}
    log_training(run, params=_params(settings, ts, ev, fit_info), metrics=metrics,
                 tags=_tags(settings, ts, triggered_by), figures=ev.figures, frames=ev.tables)
    run.log_curves(fit_info.get("curves", {}))  # learning curves: curve sample and valid
    run.log_dict({"maturity": ts.maturity, "counts": ts.counts}, "data/maturity.json")
    run.log_dict({s.name: {"dtype": s.dtype, "monotone": s.monotone,
                           "description": s.description, "reason": s.reason,
                           "sources": list(s.sources)} for s in ts.specs},
                 "data/features.json")
    run.log_dict(ts.dropped, "data/features_dropped.json")
    run.log_dict(ts.bridge, "data/target_bridge.json")
    log_reference(run, reference_frame(settings, model, ts))
    log_datasets(settings, run, ts)
    name = settings.training.registered_model_name
    # No alias yet: a process killed before the run is FINISHED must not leave ``challenger``
    # on a version whose training never completed (daily scoring shadows the challenger).
    version = register_pd_model(run, model, ts.X["train"], name, alias=None,
                                version_tags={"config_hash": settings.config_hash(),
                                              "oot_auc": round(metrics["oot_auc"], 5),
                                              "triggered_by": triggered_by,
                                              "target": ts.target,
                                              "cutoffs": json.dumps(ev.cutoffs)},
                                policy=scoring_policy(settings, ev.cutoffs["approve_at"],
                                                      ev.cutoffs["decline_below"]))
    run.log_text(card(settings, ts, model, ev, run.run_id, version, fit_info), "model_card.md")
    run.finish("FINISHED")
    set_alias(run.client, name, CHALLENGER, version)
    return TrainResult(run_id=run.run_id, model_name=name, version=version, metrics=metrics,
                       windows={k: f"{a}..{b}" for k, (a, b) in ts.windows.as_dict().items()},
                       counts=ts.counts)


def bridge_section(bridge: dict[str, Any]) -> str:
    """The model card's lines on the early-performance target and its relation to the main
    label, measured on matured vintages."""
    targets = bridge.get("targets", {})
    head = (f"\n## Early-performance target\n\nEarly target: {targets.get('early')}; main "
            f"label: {targets.get('main')}. ")
    if "error" in bridge:
        return head + f"Bridge not measured: {bridge['error']}\n\n"
    return head + (
        f"On {bridge['n']} loans of {bridge['window']} with both labels matured: early bad "
        f"rate {bridge['early_rate']:.2%}, main bad rate {bridge['final_rate']:.2%}; "
        f"{bridge['final_if_early_bad']:.1%} of early bads and "
        f"{bridge['final_if_early_good']:.2%} of early goods went bad within the main window "
        f"(a probability or rate maps onto the main scale x{bridge['ratio']:.2f}, the ratio of "
        "the two bad rates).\n\n")


def card(settings: Settings, ts: TrainingSet, model: PDModel, ev: Evaluation, run_id: str,
         version: str, fit_info: dict[str, Any]) -> str:
    specs = {s.name: s for s in ts.specs}
    return model_card(
        name=settings.training.registered_model_name, version=version, run_id=run_id,
        windows={k: (a.isoformat(), b.isoformat()) for k, (a, b) in ts.windows.as_dict().items()},
        counts=ts.counts, feature_names=model.feature_names, monotone=model.monotone,
        descriptions={n: s.description for n, s in specs.items()},
        feature_dtypes=model.feature_dtypes, metrics=ev.metrics, calibration=ev.calibration,
        dropped_features=ts.dropped,
        cutoffs={"base_score": settings.scoring.base_score,
                 "base_odds": settings.scoring.base_odds, "pdo": settings.scoring.pdo,
                 **ev.cutoffs, "target_approval_rate": settings.scoring.target_approval_rate},
        approval={k: ev.metrics["oot"][k] for k, _ in APPROVAL_ROWS if k in ev.metrics["oot"]},
        reason_codes=ev.reason_codes, params=fit_info["params"],
        fairness=None if ev.fairness is None else ev.fairness.to_dict("records"),
        config_hash=settings.config_hash(), git_commit=git_commit()) + bridge_section(ts.bridge)
