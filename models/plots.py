"""Figures for a training run. Each returns a ``matplotlib.figure.Figure`` built without pyplot
(no global figure state, no GUI backend), ready for ``TrackedRun.log_figure``.

Convention as in models.metrics: ``y`` 1 = bad, ``p`` a PD (higher = riskier), ``score`` points
(higher = safer).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xgboost as xgb
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.metrics import roc_curve

from models import metrics as M
from models.importance import importance_ranking

_SIZE = (6.0, 4.5)
# Fixed margins where the labels are ours and short; constrained layout measures every text
# first and made saving such a figure half again as slow. Bar charts of feature names keep it.
_MARGINS = {"left": 0.13, "right": 0.97, "bottom": 0.12, "top": 0.92}


def _figure(title: str, fit_labels: bool = False) -> tuple[Figure, object]:
    """``fit_labels``: lay out around labels of any length (feature names)."""
    fig = Figure(figsize=_SIZE, layout="constrained" if fit_labels else None)
    if not fit_labels:
        fig.subplots_adjust(**_MARGINS)
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def roc_figure(y: ArrayLike, curves: Mapping[str, ArrayLike], title: str = "ROC") -> Figure:
    """One ROC line per model (e.g. {"xgboost": p, "logistic baseline": p_lr}) on the same rows."""
    fig, ax = _figure(title)
    yy = np.asarray(y)
    for label, p in curves.items():
        fpr, tpr, _ = roc_curve(yy, np.asarray(p))
        ax.plot(fpr, tpr, label=f"{label} (AUC {M.auc(yy, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (goods flagged)")
    ax.set_ylabel("true positive rate (bads caught)")
    ax.legend(loc="lower right")
    return fig


def ks_figure(y: ArrayLike, p: ArrayLike, title: str = "KS") -> Figure:
    """Cumulative share of bads and goods by PD, riskiest first, with the KS gap marked."""
    yy, pp = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(-pp, kind="mergesort")
    ys = yy[order]
    x = np.arange(1, ys.size + 1) / ys.size
    cum_bad = np.cumsum(ys) / max(ys.sum(), 1)
    cum_good = np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    gap = np.abs(cum_bad - cum_good)
    i = int(np.argmax(gap))
    fig, ax = _figure(f"{title}: {M.ks(yy, pp):.3f}")
    ax.plot(x, cum_bad, label="bads")
    ax.plot(x, cum_good, label="goods")
    ax.vlines(x[i], cum_good[i], cum_bad[i], colors="black", linestyles="--", label="KS")
    ax.set_xlabel("share of applications, riskiest first")
    ax.set_ylabel("cumulative share")
    ax.legend(loc="lower right")
    return fig


def calibration_figure(y: ArrayLike, curves: Mapping[str, ArrayLike], bins: int = 10,
                       title: str = "Calibration") -> Figure:
    """Mean PD against observed bad rate per equal-frequency bin (the bins of metrics.ece)."""
    fig, ax = _figure(title)
    yy = np.asarray(y, dtype=float)
    top = 0.0
    for label, p in curves.items():
        pp = np.asarray(p, dtype=float)
        idx = M.quantile_bins(pp, bins)
        count = np.bincount(idx)
        keep = count > 0
        mean_pd = np.bincount(idx, weights=pp)[keep] / count[keep]
        bad_rate = np.bincount(idx, weights=yy)[keep] / count[keep]
        ax.plot(mean_pd, bad_rate, marker="o", label=f"{label} (ECE {M.ece(yy, pp, bins):.4f})")
        top = max(top, mean_pd.max(), bad_rate.max())
    ax.plot([0, top], [0, top], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("mean predicted PD")
    ax.set_ylabel("observed bad rate")
    ax.legend(loc="upper left")
    return fig


def score_distribution_figure(y: ArrayLike, score: ArrayLike, approve_at: float | None = None,
                              decline_below: float | None = None,
                              title: str = "Score distribution") -> Figure:
    """Densities of goods' and bads' scores, with the cut-offs."""
    yy, s = np.asarray(y), np.asarray(score, dtype=float)
    fig, ax = _figure(title)
    edges = np.histogram_bin_edges(s, bins=40)
    ax.hist(s[yy == 0], bins=edges, density=True, alpha=0.55, label="goods")
    ax.hist(s[yy == 1], bins=edges, density=True, alpha=0.55, label="bads")
    for value, label, style in ((approve_at, "approve at", "-"),
                                (decline_below, "decline below", "--")):
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel("score (higher = safer)")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def decile_figure(table: pd.DataFrame, title: str = "Bad rate by PD decile") -> Figure:
    """Bars: observed bad rate per decile of ``metrics.decile_table``; line: mean PD."""
    fig, ax = _figure(title)
    ax.bar(table["decile"], table["bad_rate"], label="observed bad rate")
    ax.plot(table["decile"], table["mean_pd"], color="black", marker="o", label="mean PD")
    ax.set_xlabel("decile (1 = riskiest)")
    ax.set_ylabel("rate")
    ax.set_xticks(list(table["decile"]))
    ax.legend()
    return fig


def _barh(ax: object, names: list[str], values: np.ndarray) -> None:
    ax.barh(range(len(names)), values)
    ax.set_yticks(range(len(names)), labels=names)
    ax.invert_yaxis()


def importance_figure(booster: xgb.Booster, importance_type: str = "total_gain",
                      top: int = 20) -> Figure:
    """Feature importance from the booster (total gain by default: comparable across features
    that split often and rarely)."""
    ranked = importance_ranking(booster, importance_type, top)
    fig, ax = _figure(f"Feature importance ({importance_type})", fit_labels=True)
    _barh(ax, [k for k, _ in ranked], np.array([v for _, v in ranked]))
    return fig


def contribution_summary_figure(contribs: np.ndarray, feature_names: list[str],
                                top: int = 20) -> Figure:
    """SHAP-style summary: mean |contribution| (log-odds) per feature over the rows given; the
    bias column, if present, is left out."""
    values = np.abs(contribs[:, : len(feature_names)]).mean(axis=0)
    order = np.argsort(-values)[:top]
    fig, ax = _figure("Mean |contribution| to the margin", fit_labels=True)
    _barh(ax, [feature_names[i] for i in order], values[order])
    ax.set_xlabel("mean |log-odds contribution|")
    return fig
