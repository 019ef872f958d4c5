"""Stage: judge a trained PD model on its out-of-time window, beside a logistic baseline.

Every validation number comes from the OOT window; training-window numbers are computed too but
carry the ``train_`` prefix and the label "in-sample", never presented as validation. The fitted
booster is also swept along each constrained feature (``models.fit.check_monotone``): the run
records how many declared risk directions it breaks (``monotone_violations``, 0 when the
constraints held).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models import plots
from models.baseline import baseline_pd, fit_baseline
from models.fairness import AGE_DIMENSION, age_bands, fair_lending_table
from models.fit import check_monotone, row_sample
from models.holdout import holdout_report
from models.metrics import approval_stats, credit_metrics, decile_table, ece, psi
from models.pd_model import PDModel
from models.ranges import out_of_range
from models.reasons import reason_agreement, timed_contributions
from models.scaling import cutoff_for_approval_rate, decide_by_score, pd_to_score
from pipelines.core.settings import Settings
from pipelines.training.trainset import TrainingSet

REASON_SAMPLE_ROWS = 2_000
# The in-sample column (overfitting's yardstick beside OOT), the train-vs-OOT score PSI and the
# in-sample deciles read a seeded sample of the training window: at 1M rows predicting every
# row was 4 of evaluate's 9 s, and 200,000 rows pin an AUC to about +-0.002. Its "n" says so.
IN_SAMPLE_ROWS = 200_000


@dataclass
class Evaluation:
    metrics: dict[str, dict[str, float]]  # column of the model card -> metrics
    cutoffs: dict[str, float]
    calibration: dict[str, Any]
    reason_codes: dict[str, Any]
    monotone: dict[str, bool] = field(default_factory=dict)  # constrained feature -> holds
    ranges: pd.DataFrame | None = None  # OOT values outside the training range, per feature
    fairness: pd.DataFrame | None = None  # fair-lending report on every OOT application
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Figure] = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        """MLflow metric names: oot_auc, baseline_oot_auc, train_auc (in-sample), ..."""
        prefix = {"oot": "oot_", "oot baseline": "baseline_oot_",
                  "train (in-sample)": "train_", "calibration": "calibration_"}
        out = {f"{prefix[col]}{k}": v for col, m in self.metrics.items() for k, v in m.items()}
        out.update({f"calibration_{k}": v for k, v in self.calibration.items()
                    if isinstance(v, int | float)})
        out.update({f"reasons_{k}": v for k, v in self.reason_codes.items()
                    if isinstance(v, int | float)})
        out.update({f"cutoff_{k}": v for k, v in self.cutoffs.items()})
        if self.monotone:
            out["monotone_violations"] = float(sum(not ok for ok in self.monotone.values()))
        if self.ranges is not None:
            out.update({f"out_of_range_oot.{r.feature}": r.share_out
                        for r in self.ranges.itertuples()})
        if self.fairness is not None and len(self.fairness):
            judged = self.fairness[self.fairness["judged"].astype(bool)]
            out["fairness_min_adverse_impact_ratio"] = float(judged["adverse_impact_ratio"].min())
            out["fairness_flagged_groups"] = float(judged["flagged"].astype(bool).sum())
        return out


def through_the_door(ts: TrainingSet, window: str, model: PDModel) -> pd.DataFrame:
    """The model's features of every application of a window (booked or not); the labelled
    rows where a training set does not carry them."""
    return ts.applications.get(window, ts.X[window])[model.feature_names]


def derive_cutoffs(settings: Settings, model: PDModel, ts: TrainingSet) -> dict[str, float]:
    """Configured cut-offs, or approve_at derived from a target approval rate on every
    application of the calibration slice (the population the cut-off acts on; never OOT,
    which must stay a clean judge)."""
    sc = settings.scoring
    out = {"approve_at": sc.approve_at, "decline_below": sc.decline_below}
    if sc.target_approval_rate is not None:
        scores = _scores(settings, model.predict_pd(through_the_door(ts, "calibration", model)))
        out["approve_at"] = round(cutoff_for_approval_rate(scores, sc.target_approval_rate), 2)
        out["decline_below"] = min(out["decline_below"], out["approve_at"])
    return out


def _booked(metrics: dict[str, float]) -> dict[str, float]:
    """Approval figures of the labelled (booked, matured) rows renamed ``*_booked``: the
    unsuffixed ones are every application's."""
    return {f"{k}_booked" if k in ("approval_rate", "review_rate", "decline_rate") else k: v
            for k, v in metrics.items()}


def _scores(settings: Settings, pd_: np.ndarray) -> np.ndarray:
    sc = settings.scoring
    return pd_to_score(pd_, sc.base_score, sc.base_odds, sc.pdo)


@dataclass
class OotPredictions:
    """The model's PDs on the OOT window: every application (booked or not) and its labelled
    rows, each row predicted once."""
    everyone: pd.DataFrame  # the model's features of every OOT application
    pd_everyone: np.ndarray
    raw: np.ndarray  # labelled rows, before calibration
    pd: np.ndarray  # labelled rows, calibrated


def predict_oot(model: PDModel, ts: TrainingSet) -> OotPredictions:
    """The labelled OOT rows are a subset of every OOT application: their PDs are read from
    every application's by index (at 1M training rows predicting them again cost a second)."""
    everyone = through_the_door(ts, "oot", model)
    raw_everyone = model.raw_proba(everyone)
    at = _positions(everyone.index, ts.X["oot"].index)
    raw = raw_everyone[at] if at is not None else model.raw_proba(ts.X["oot"])
    return OotPredictions(everyone, model.calibrator.transform(raw_everyone), raw,
                          model.calibrator.transform(raw))


def _positions(outer: pd.Index, inner: pd.Index) -> np.ndarray | None:
    """Where each of ``inner``'s labels sits in ``outer``; None when that cannot be told
    (a repeated label) or a label is missing."""
    if not outer.is_unique:
        return None
    at = outer.get_indexer(inner)
    return None if (at < 0).any() else at


def evaluate(settings: Settings, model: PDModel, ts: TrainingSet) -> Evaluation:
    X_oot, y_oot = ts.X["oot"], ts.y["oot"]
    cut = derive_cutoffs(settings, model, ts)
    oot = predict_oot(model, ts)
    raw_oot, pd_oot = oot.raw, oot.pd
    X_in, y_in = row_sample(ts.X["train"], ts.y["train"], IN_SAMPLE_ROWS, settings.seed)
    pd_train = model.predict_pd(X_in)
    score_oot, score_train = _scores(settings, pd_oot), _scores(settings, pd_train)
    baseline = fit_baseline(ts.X["train"], ts.y["train"], settings.seed)
    pd_base = baseline_pd(baseline, X_oot)
    metrics = {
        "oot": {**_booked(credit_metrics(y_oot, pd_oot, score_oot, cut["approve_at"],
                                         cut["decline_below"])),
                **approval_stats(None, _scores(settings, oot.pd_everyone),
                                 cut["approve_at"], cut["decline_below"])},
        "oot baseline": credit_metrics(y_oot, pd_base),
        "train (in-sample)": credit_metrics(y_in, pd_train),
    }
    # the policy holdout's loans (approved below the cut-off when scored): how they repay
    held = (ts.holdout.reindex(X_oot.index, fill_value=False).to_numpy(dtype=bool)
            if ts.holdout is not None else np.zeros(len(X_oot), dtype=bool))
    metrics["oot"].update(holdout_report(y_oot, pd_oot, held))
    metrics["oot"]["score_psi_train_vs_oot"] = psi(score_train, score_oot,
                                                   bins=settings.monitoring.psi_bins,
                                                   eps=settings.monitoring.psi_epsilon)
    calibration = {"method": model.calibrator.method, "n_fit": len(ts.X["calibration"]),
                   "ece_before": ece(y_oot, raw_oot), "ece_after": ece(y_oot, pd_oot)}
    sample = X_oot.sample(min(len(X_oot), REASON_SAMPLE_ROWS), random_state=settings.seed)
    exact = timed_contributions(model.booster, sample, approx=False)  # the plot's too
    reasons = reason_agreement(model.booster, sample, settings.scoring.reason_codes, exact)
    reasons["exact_used_for_adverse_action"] = float(settings.scoring.exact_contributions)
    ev = Evaluation(metrics=metrics, cutoffs=cut, calibration=calibration, reason_codes=reasons,
                    monotone=check_monotone(model.booster, X_oot, model.monotone,
                                            seed=settings.seed))
    ev.ranges = out_of_range(ts.X["train"], oot.everyone, model.feature_names)
    ev.fairness = oot_fairness(settings, ts, cut, oot.pd_everyone)
    ev.tables = {"tables/deciles_oot.csv": decile_table(y_oot, pd_oot),
                 "tables/deciles_train_in_sample.csv": decile_table(y_in, pd_train),
                 "tables/out_of_range_oot.csv": ev.ranges,
                 "tables/fair_lending_oot.csv": ev.fairness}
    ev.figures = _figures(model, y_oot, raw_oot, pd_oot, pd_base, score_oot, cut, exact[0],
                          ev.tables["tables/deciles_oot.csv"])
    return ev


def oot_fairness(settings: Settings, ts: TrainingSet, cut: dict[str, float],
                 pd_everyone: np.ndarray) -> pd.DataFrame:
    """The fair-lending report (``models.fairness``) on every OOT application (``pd_everyone``:
    their PDs, in order): decisions at the model's cut-offs, realised bad rates of its matured
    loans; by age band and by each proxy segment the frame carries (region is no feature, so
    only monitoring sees it)."""
    everyone = ts.applications.get("oot", ts.X["oot"])
    cfg = settings.monitoring
    frame = everyone.astype({c: object for c in everyone.columns
                             if isinstance(everyone[c].dtype, pd.CategoricalDtype)})
    frame = frame.assign(pd=pd_everyone,
                         bad=pd.Series(ts.y["oot"].astype(float), index=ts.X["oot"].index))
    frame["decision"] = decide_by_score(_scores(settings, frame["pd"].to_numpy()),
                                        cut["approve_at"], cut["decline_below"])
    if "applicant_age" in frame.columns:
        frame[AGE_DIMENSION] = age_bands(frame["applicant_age"], cfg.age_bands)
    return fair_lending_table(frame, [AGE_DIMENSION, *cfg.fairness_segments],
                              cfg.fairness_min_group_rows, cfg.adverse_impact_floor)


def _figures(model: PDModel, y: np.ndarray, raw: np.ndarray, pd_: np.ndarray,
             pd_base: np.ndarray, score: np.ndarray, cut: dict[str, float],
             contribs: np.ndarray, deciles: pd.DataFrame) -> dict[str, Figure]:
    return {
        "plots/roc_oot.png": plots.roc_figure(y, {"xgboost": pd_, "logistic baseline": pd_base},
                                              title="ROC (out-of-time)"),
        "plots/ks_oot.png": plots.ks_figure(y, pd_, title="KS (out-of-time)"),
        "plots/calibration_oot.png": plots.calibration_figure(
            y, {"raw": raw, "calibrated": pd_}, title="Calibration (out-of-time)"),
        "plots/score_distribution_oot.png": plots.score_distribution_figure(
            y, score, cut["approve_at"], cut["decline_below"]),
        "plots/deciles_oot.png": plots.decile_figure(deciles),
        "plots/feature_importance.png": plots.importance_figure(model.booster),
        "plots/contribution_summary.png": plots.contribution_summary_figure(
            contribs, model.feature_names),
    }
