"""Monitoring of the auxiliary model families (``pipelines.core.families``), as metric rows of
the monitored day, which the risk report reads like every other:

- the collections roll-forward model, judged against what happened: the latest month end whose
  queue was built and whose next month's tape is known by the day; its queued probabilities
  (as they were written, before the outcome) against the loans' next tape row
  (``features.roll.roll_labels``): ``roll_forward_auc``, ``roll_forward_realised_rate`` (with
  the mean predicted) and ``roll_forward_decile`` (segment ``decile=<n>``: realised roll rate
  per predicted decile);
- the early-payment-default model: its score drift (``epd_score_psi``: the window's EPD scores
  of the EPD champion against its training reference, banded like the PD score's PSI) and,
  once the EPD window of the latest matured origination month has closed, that month's
  realised EPD rate against the mean EPD its scores predicted (``epd_realised_rate``).

A family without a champion (or a queue) records nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.roll import BUCKET_RANK, roll_labels
from models.collections import judge_roll_forward
from models.metrics import psi, psi_band
from pipelines.champion import NoChampionError, champion_version, current_champion
from pipelines.core.calendar import latest_matured_month_end
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings
from pipelines.monitoring.context import MetricRows
from pipelines.scoring.models import EPD
from pipelines.training.early import target_labels
from pipelines.warehouse.collections import (
    latest_tape_month,
    queue_months,
    queue_token,
    read_queue,
    roll_tape,
)
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.history import load_applications
from pipelines.warehouse.monitoring import role_scores_between
from pipelines.warehouse.tape_cache import cached


def judged_month(settings: Settings, wh: Warehouse, as_of: date) -> date | None:
    """The latest month end with a queue whose next month's tape is known by ``as_of``."""
    last = latest_tape_month(wh, as_of, settings.features.tape_lag_days)
    if last is None:
        return None
    done = [m for m in queue_months(wh)
            if (pd.Timestamp(m) + pd.offsets.MonthEnd(1)).date() <= last]
    return done[-1] if done else None


def queue_outcomes(settings: Settings, wh: Warehouse, month: date, as_of: date) -> pd.DataFrame:
    """The month end's queue with ``rolled`` from the next month's tape known by ``as_of``."""
    queue = read_queue(wh, month)
    tape, _ = roll_tape(wh, month, month, 1, as_of, settings.features.tape_lag_days)
    rows = pd.DataFrame({"loan_id": queue["loan_id"].astype(str),
                         "as_of_month": pd.Timestamp(month),
                         "bucket_rank": queue["dpd_bucket"].map(BUCKET_RANK).astype(float)})
    return queue.assign(rolled=roll_labels(tape, rows).to_numpy())


def record_roll_forward(settings: Settings, wh: Warehouse, as_of: date,
                        rows: MetricRows) -> dict[str, Any] | None:
    """The roll-forward metrics of the judged month (None: no month to judge yet)."""
    month = judged_month(settings, wh, as_of)
    if month is None:
        return None
    window = (month, (pd.Timestamp(month) + pd.offsets.MonthEnd(1)).date())
    # the same every day until the next tape or a rebuilt queue (0.2 s a day on the demo)
    judged = cached(wh, "roll_forward", window[1], (month, queue_token(wh, month)),
                    lambda: _judge(settings, wh, month, as_of))
    about = {"month_end": month, "versions": judged["versions"],
             **{k: judged[k] for k in ("loans", "rolled", "unobserved", "mean_predicted")}}
    rows.add("roll_forward_auc", judged["auc"], details=about, window=window)
    rows.add("roll_forward_realised_rate", judged["realised_rate"], details=about,
             window=window)
    deciles = judged["deciles"]
    for d in ([] if deciles is None else deciles.itertuples()):
        rows.add("roll_forward_decile", d.bad_rate, f"decile={d.decile}",
                 details={"mean_predicted": d.mean_pd, "loans": d.count, "rolled": d.bads},
                 window=window)
    return judged


def _judge(settings: Settings, wh: Warehouse, month: date, as_of: date) -> dict[str, Any]:
    outcomes = queue_outcomes(settings, wh, month, as_of)
    return {**judge_roll_forward(outcomes["rolled"].to_numpy(),
                                 outcomes["roll_probability"].to_numpy()),
            "versions": sorted(set(outcomes["model_version"].astype(str)))}


def record_epd(settings: Settings, wh: Warehouse, window_start: date, as_of: date,
               rows: MetricRows) -> dict[str, float] | None:
    """The EPD champion's score PSI on the day's window and the realised EPD rate of the latest
    origination month whose EPD window has closed (None: no EPD champion)."""
    reference = epd_reference(settings)
    if reference is None:
        return None
    version, reference_pd = reference
    m = settings.monitoring
    out: dict[str, float] = {}
    scores = role_scores_between(wh, EPD, window_start, as_of)
    scores = scores[scores["model_version"].astype(str) == version]
    if len(scores):
        value = psi(reference_pd, scores["pd"], bins=m.psi_bins, eps=m.psi_epsilon)
        rows.add("epd_score_psi", value, band=psi_band(value, tuple(m.psi_bands)),
                 details={"rows": len(scores), "version": version,
                          **rows.ctx.note(len(scores))})
        out["epd_score_psi"] = value
    realised = epd_vintage(settings, wh, as_of)
    if realised is not None:
        rows.add("epd_realised_rate", realised["realised_rate"], details=realised,
                 window=(realised["start"], realised["end"]))
        out["epd_realised_rate"] = realised["realised_rate"]
    return out


# A registered version never changes: its reference PDs are read once per process (loading the
# model and its reference sample from the store cost about a second, every monitored day).
_REFERENCE_PD: dict[tuple[str, str, str], np.ndarray] = {}


def epd_reference(settings: Settings) -> tuple[str, np.ndarray] | None:
    """(the EPD champion's version, its training-window reference PDs); None: no champion."""
    epd = family_settings(settings, "epd")
    try:
        version = champion_version(epd)
    except NoChampionError:
        return None
    key = (epd.tracking_uri, epd.training.registered_model_name, version)
    if key not in _REFERENCE_PD:
        champion = current_champion(epd, version)
        if champion.reference is None:
            return None
        _REFERENCE_PD[key] = champion.reference["pd"].to_numpy(dtype=float)
    return version, _REFERENCE_PD[key]


def epd_vintage(settings: Settings, wh: Warehouse, as_of: date) -> dict[str, Any] | None:
    """The latest origination month whose EPD window has closed by ``as_of``: its scored and
    labelled applications' realised EPD rate and mean EPD (None: none scored and labelled)."""
    end = latest_matured_month_end(as_of, settings.epd.months)
    start = pd.Period(end, freq="M").start_time.date()
    scores = role_scores_between(wh, EPD, start, end)
    if scores.empty:
        return None
    apps = load_applications(wh, start, end)
    labels = target_labels(settings, wh, apps, pd.Timestamp(as_of), "epd")
    bad = pd.Series(labels["bad"].to_numpy(), index=apps["application_id"].astype(str))
    epd = scores.assign(bad=scores["application_id"].astype(str).map(bad).to_numpy())
    epd = epd[epd["bad"].notna()]
    if epd.empty:
        return None
    return {"start": start, "end": end, "loans": len(epd), "bads": int(epd["bad"].sum()),
            "realised_rate": float(epd["bad"].mean()),
            "mean_predicted": float(np.mean(epd["pd"])),
            "versions": sorted(set(epd["model_version"].astype(str)))}
