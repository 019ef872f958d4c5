"""Monitoring figures, built without pyplot (no global state, no GUI backend): PSI over time,
the roll-rate heatmap and vintage curves. Each returns a ``matplotlib.figure.Figure``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

_SIZE = (7.0, 4.5)
_MARGINS = {"left": 0.11, "right": 0.97, "bottom": 0.16, "top": 0.91}  # fixed: constrained
# layout doubles the cost of a daily figure


def _figure(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=_SIZE)
    fig.subplots_adjust(**_MARGINS)
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def psi_over_time(history: pd.DataFrame, bands: tuple[float, float],
                  top_features: int = 5) -> Figure:
    """Score PSI (bold) and the CSI of the features that moved most on the latest date, from
    monitoring_metrics rows (business_date, metric, value)."""
    fig, ax = _figure("Score PSI and feature CSI over time (pooled window)")
    if not history.empty:
        h = history.assign(business_date=pd.to_datetime(history["business_date"]))
        latest = h[h["business_date"] == h["business_date"].max()]
        csi = latest[latest["metric"].str.startswith("csi.")].nlargest(top_features, "value")
        for metric in csi["metric"]:
            s = h[h["metric"] == metric].sort_values("business_date")
            ax.plot(s["business_date"], s["value"], linewidth=1, marker=".", label=metric[4:])
        s = h[h["metric"] == "score_psi"].sort_values("business_date")
        ax.plot(s["business_date"], s["value"], color="black", linewidth=2.5, marker="o",
                markersize=3, label="score PSI")
        ax.legend(loc="upper left", fontsize=8)
        first, last = h["business_date"].min(), h["business_date"].max()
        pad = max((last - first) * 0.05, pd.Timedelta(days=3))
        ax.set_xlim(first - pad, last + pad)
    for level, name in zip(bands, ("watch", "shift"), strict=True):
        ax.axhline(level, color="grey", linestyle="--", linewidth=1)
        ax.annotate(name, (0.99, level), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=8, color="grey")
    ax.set_ylabel("PSI / CSI")
    fig.autofmt_xdate()
    return fig


def roll_rate_heatmap(matrix: pd.DataFrame, title: str) -> Figure:
    """Shares from bucket (rows) to bucket (columns), annotated in percent."""
    fig, ax = _figure(title)
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(np.nan_to_num(values, nan=0.0), cmap="Reds", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(matrix.shape[1]), labels=list(matrix.columns))
    ax.set_yticks(range(matrix.shape[0]), labels=list(matrix.index))
    ax.set_xlabel("bucket next month")
    ax.set_ylabel("bucket this month")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not np.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.1%}", ha="center", va="center", fontsize=8,
                        color="white" if values[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="share of loans")
    return fig


def vintage_figure(curves: pd.DataFrame) -> Figure:
    """Cumulative bad rate by month on book, one line per origination month."""
    fig, ax = _figure("Vintage curves: cumulative bad rate (90+ or charge-off)")
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, max(len(curves), 1)))  # old -> new
    for (vintage, row), color in zip(curves.iterrows(), colors, strict=False):
        seen = row.dropna()
        if len(seen):
            ax.plot(seen.index.astype(int), seen.to_numpy(), marker=".", linewidth=1,
                    color=color, label=str(vintage))
    ax.set_xlabel("months on book")
    ax.set_ylabel("cumulative bad rate")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.1%}")
    if len(curves):
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    return fig


def daily_decisions(volume: pd.DataFrame) -> Figure:
    """Stacked bars of approve / review / decline per business date (volume frame of
    ``pipelines.warehouse.reporting.daily_volume``)."""
    fig, ax = _figure("Decisions per business date (champion)")
    bottom = np.zeros(len(volume))
    dates = pd.to_datetime(volume["business_date"])
    for decision, color in (("approve", "#3c8d5a"), ("review", "#e0a526"),
                            ("decline", "#c23b3b")):
        values = volume[decision].to_numpy(dtype=float)
        ax.bar(dates, values, bottom=bottom, color=color, label=decision, width=0.8)
        bottom += values
    ax.set_ylabel("applications scored")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    return fig


def score_distribution(points: np.ndarray, counts: np.ndarray, reference: np.ndarray,
                       bins: int = 30) -> Figure:
    """The period's score distribution (counted per whole point) against the champion's
    training reference, both as shares per bin."""
    fig, ax = _figure("Score distribution: this period against the reference")
    lo = float(np.nanmin(np.concatenate([points, reference]))) if len(points) else 300.0
    hi = float(np.nanmax(np.concatenate([points, reference]))) if len(points) else 850.0
    edges = np.linspace(lo, hi + 1e-9, bins + 1)
    ref_share = np.histogram(reference, bins=edges)[0] / max(len(reference), 1)
    cur = np.histogram(points, bins=edges, weights=counts)[0]
    cur_share = cur / max(cur.sum(), 1)
    width = edges[1] - edges[0]
    ax.bar(edges[:-1], ref_share, width=width, align="edge", alpha=0.45, color="grey",
           label="reference (training window)")
    ax.step(edges[:-1], cur_share, where="post", color="#123a5c", linewidth=2,
            label="this period")
    ax.set_xlabel("score (higher = safer)")
    ax.set_ylabel("share of applications")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def metric_lines(series: pd.DataFrame, title: str, ylabel: str) -> Figure:
    """One line per metric over business dates (rows: business_date, metric, value)."""
    fig, ax = _figure(title)
    for metric, rows in series.groupby("metric"):
        rows = rows.sort_values("business_date")
        ax.plot(pd.to_datetime(rows["business_date"]), rows["value"], marker=".",
                label=str(metric))
    if len(series):
        ax.legend(loc="best", fontsize=8)
    ax.set_ylabel(ylabel)
    fig.autofmt_xdate()
    return fig
