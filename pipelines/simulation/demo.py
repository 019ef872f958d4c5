"""The end-to-end demo's stage functions: a simulated book with history, fed day by day.

One book is simulated from ``history_start`` to the last demo day (the drift scenario starting
``onset_day`` days into the demo). The history before the demo is thinned to
``history_per_day`` applications a day (enough to train on, quick to load) and loaded at once;
every demo day then ingests its own applications and booked loans through the validation gate, and
on month ends the repayment tape of that month. The flow in ``flows/demo.py`` scores and monitors
each day with the same stages the production deployments run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from models.holdout import holdout_flags
from pipelines.core.errors import CreditflowError
from pipelines.core.privacy import DEFAULT_SALT
from pipelines.core.settings import Settings, reveal
from pipelines.ingest.load import ingest_frame
from pipelines.simulation.book import load_book
from pipelines.simulation.simulate import Book, simulate_book
from pipelines.warehouse.book import (
    alerts_by_day,
    champion_day_scores,
    holds_applications,
    metric_by_day,
    queue_sizes,
    responses_by_day,
    score_psi_by_day,
)
from pipelines.warehouse.engine import Warehouse

HISTORY_BATCH = "demo-history"
DEMO_MARK = "demo.json"  # in the home: what the demo made, so a rerun may remove it


class DemoHomeError(CreditflowError):
    """The home holds data the demo did not make: it is never written into."""


@dataclass(frozen=True)
class DemoPlan:
    days: int = 120
    per_day: int = 400
    history_per_day: int = 60
    scenario: str = "used_car_mix"
    demo_start: date = date(2025, 7, 1)
    history_start: date = date(2020, 1, 1)  # two years before training: dealer history is full
    onset_day: int | None = None  # default: the middle of the demo
    # What the demo draws for people: a Data Docs page per quarantined or rejected batch, the
    # monitoring figures weekly and on the last day (a production day does both every day;
    # here they would be half of a day's cost). Metrics, alerts and decisions are unchanged.
    data_docs: str = "on_issue"
    plots_every_days: int = 7
    # A proposed reference reset (population shift) is accepted by the demo's "risk analyst"
    # this many days after it was raised: the reset window is then wholly after the shift.
    review_days: int = 14
    # The policy holdout is on in the demo (off by default in production): this share of the
    # applications below the approve cut-off is approved anyway and flagged.
    holdout_share: float = 0.03

    @property
    def demo_end(self) -> date:
        return self.demo_start + timedelta(days=self.days - 1)

    @property
    def onset(self) -> date:
        return self.demo_start + timedelta(days=self.days // 2 if self.onset_day is None
                                           else self.onset_day)

    def demo_days(self) -> list[date]:
        return [self.demo_start + timedelta(days=i) for i in range(self.days)]

    def plots_on(self, day: date) -> bool:
        i = (day - self.demo_start).days
        return (i + 1) % self.plots_every_days == 0 or i == self.days - 1

    def settings_for(self, settings: Settings) -> Settings:
        validation = settings.validation.model_copy(update={"data_docs": self.data_docs})
        scoring = settings.scoring.model_copy(update={"holdout_share": self.holdout_share})
        return settings.model_copy(update={"validation": validation, "scoring": scoring})


SALT_ENV = "CREDITFLOW_SECURITY__ID_SALT"


def use_demo_salt() -> None:
    """The demo's simulated ids need no secret, but every flow refuses the shipped salt: a
    demo without a salt of the user's own makes a random one for this process (the flows it
    runs read it from the environment, as a deployment would)."""
    if reveal(Settings().security.id_salt) in (None, "", DEFAULT_SALT):
        os.environ[SALT_ENV] = secrets.token_hex(16)


def reset_home(settings: Settings) -> bool:
    """Remove what an earlier demo made in the default locations of this home (marked by
    ``demo.json``): the warehouse, the MLflow store and artifacts, the reports. Prefect's home
    is kept (its database is slow to create). Call it in a fresh process, before anything has
    opened the stores: an engine still holding the old files would write into removed ones.
    Returns whether anything was removed."""
    home = settings.home
    own = settings.warehouse_url is None and settings.mlflow_tracking_uri is None
    if not (own and (home / DEMO_MARK).is_file()):
        return False
    for name in ("warehouse.db", "mlflow.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (home / f"{name}{suffix}").unlink(missing_ok=True)
    for folder in (settings.artifact_root, settings.reports_dir):
        shutil.rmtree(folder, ignore_errors=True)
    return True


def claim_home(settings: Settings, plan: DemoPlan) -> None:
    """Mark the home as the demo's, refusing one that holds data the demo did not make (data of
    your own, a configured URL that is not empty): a simulated book is never written into it.
    ``creditflow demo`` runs ``reset_home`` first, so a rerun tells the same story instead of
    a second one on top of the first."""
    mark = settings.home / DEMO_MARK
    if not mark.is_file() and _holds_data(settings):
        raise DemoHomeError(
            f"the demo writes a simulated book, and {settings.home} holds data it did not make "
            "(warehouse or MLflow store): set CREDITFLOW_HOME to an empty folder, or remove "
            "this one")
    settings.ensure_dirs()
    mark.write_text(json.dumps({"days": plan.days, "per_day": plan.per_day,
                                "scenario": plan.scenario}) + "\n", encoding="utf-8")


def _holds_data(settings: Settings) -> bool:
    if settings.mlflow_tracking_uri is None and (settings.home / "mlflow.db").exists():
        return True
    if settings.warehouse_url is None and not (settings.home / "warehouse.db").exists():
        return False
    wh = Warehouse(settings.warehouse)
    try:
        return holds_applications(wh)
    finally:
        wh.dispose()


def simulate_demo_book(plan: DemoPlan, seed: int, default_rate: float,
                       n_dealers: int) -> Book:
    """One consistent book over history and demo, the history thinned to
    ``history_per_day`` applications a day by the simulator itself."""
    total_days = (plan.demo_end - plan.history_start).days + 1
    return simulate_book(plan.per_day * total_days, plan.history_start, plan.demo_end,
                         seed=seed, default_rate=default_rate, n_dealers=n_dealers,
                         scenario=plan.scenario, scenario_start=plan.onset,
                         thin_before=plan.demo_start,
                         thin_share=min(1.0, plan.history_per_day / plan.per_day))


def history_part(book: Book, plan: DemoPlan) -> Book:
    """What the lender knew the day before the demo starts."""
    start = pd.Timestamp(plan.demo_start)
    apps = book.applications[book.applications["business_date"] < start]
    return Book(applications=apps,
                loans=book.loans[book.loans["origination_date"] < start],
                repayments=book.repayments[book.repayments["as_of_month"] < start],
                truth=book.truth[book.applications["business_date"] < start])


def load_history(wh: Warehouse, book: Book, plan: DemoPlan) -> dict[str, int]:
    return load_book(wh, history_part(book, plan), HISTORY_BATCH)


def require_first_champion(first: dict[str, Any]) -> None:
    """The demo lives through its days with the first PD model as champion: when the promotion
    rules refuse it, stop here with the rules it failed rather than with "no champion" when the
    first day is scored."""
    promotion = first.get("promotion") or {}
    if promotion.get("promoted"):
        return
    reasons = "; ".join(promotion.get("reasons") or []) or "no promotion verdict"
    bads = (promotion.get("counts") or {}).get("bads")
    window = f"the history's out-of-time window ({bads} bads)" if bads is not None else \
        "the history's out-of-time window"
    raise CreditflowError(
        f"the demo's first model was not promoted ({reasons}); the rules judge it on {window}: "
        "a larger --history-per-day gives them more to judge on")


@dataclass
class DayFeed:
    day: date
    applications: pd.DataFrame
    loans: pd.DataFrame
    repayments: pd.DataFrame  # empty except on month ends


def day_feed(book: Book, day: date) -> DayFeed:
    ts = pd.Timestamp(day)
    month_end = (ts + pd.offsets.MonthEnd(0)) == ts
    tape = book.repayments[book.repayments["as_of_month"] == ts] if month_end else \
        book.repayments.iloc[0:0]
    return DayFeed(day, book.applications[book.applications["business_date"] == ts],
                   book.loans[book.loans["origination_date"] == ts], tape)


def ingest_day(settings: Settings, wh: Warehouse, feed: DayFeed) -> dict[str, Any]:
    """The day's batches through the same gate and writer as any loan tape."""
    out: dict[str, Any] = {}
    for kind, frame in (("applications", feed.applications), ("loans", feed.loans),
                        ("repayments", feed.repayments)):
        if frame.empty:
            continue
        result = ingest_frame(settings, wh, frame, kind, f"demo-{kind}-{feed.day.isoformat()}",
                              feed.day)
        out[kind] = {"read": result.rows_read, "written": result.rows_written,
                     "quarantined": result.rows_quarantined}
    return out


def weekly_table(wh: Warehouse, plan: DemoPlan,
                 epd_reasons: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per simulated week: volume, approval rate, share decided automatically (approved
    or declined, no manual review), review queue per business day, mean PD, score PSI, alerts and
    the champion version that scored it — the story of the demo in numbers. (The bad rate of
    auto-approved loans needs 12 months on book: monitoring reports it per matured vintage.)
    ``epd_review``: decisions the early-payment-default rules moved (first reason one of
    ``epd_reasons``, the rules' codes); the auxiliary models' figures: ``queue`` (loans in the
    collections queues built that week), ``roll_auc`` (the roll-forward model's AUC against the
    next month's tape, latest of the week) and ``epd_psi`` (the EPD score's PSI, largest)."""
    scores = champion_day_scores(wh, plan.demo_start, plan.demo_end)
    psi = score_psi_by_day(wh, plan.demo_start, plan.demo_end)
    aux = {k: metric_by_day(wh, m, plan.demo_start, plan.demo_end)
           for k, m in (("roll_auc", "roll_forward_auc"), ("epd_psi", "epd_score_psi"))}
    queues = queue_sizes(wh, plan.demo_start, plan.demo_end)
    alerts = alerts_by_day(wh, plan.demo_start, plan.demo_end)
    responses = responses_by_day(wh, plan.demo_start, plan.demo_end)
    week = _week_of(plan)
    rows = []
    alerts["week"], psi["week"] = week(alerts["business_date"]), week(psi["business_date"])
    responses["week"] = week(responses["business_date"])
    queues["week"] = week(pd.to_datetime(queues["month_end"]))
    for frame in aux.values():
        frame["week"] = week(pd.to_datetime(frame["business_date"]))
    for start, group in scores.groupby(week(scores["business_date"])):
        week_alerts = alerts[alerts["week"] == start]
        week_psi = psi.loc[psi["week"] == start, "value"]
        rows.append({
            "week_of": start.date(), "volume": len(group),
            "approval_rate": round(float((group["decision"] == "approve").mean()), 3),
            # the lender's goal: decided without a person, and the queue a person works
            "auto_decided": round(float((group["decision"] != "review").mean()), 3),
            "review_per_day": round(float((group["decision"] == "review").sum())
                                    / max(group["business_date"].nunique(), 1), 1),
            "mean_pd": round(float(group["pd"].mean()), 4),
            "score_psi": round(float(week_psi.max()), 3) if len(week_psi) else None,
            "alerts": int((week_alerts["suppressed"] == 0).sum()),
            "holdout": int(holdout_flags(group["holdout"]).sum()),  # approved below the cut-off
            "epd_review": int(group["reason_1"].isin(epd_reasons).sum()),
            "queue": int(queues.loc[queues["week"] == start, "loans"].sum()),
            "roll_auc": _last(aux["roll_auc"], start),
            "epd_psi": _last(aux["epd_psi"], start, largest=True),
            "champion": ",".join(sorted(group["model_version"].astype(str).unique())),
            "response": _responses(responses[responses["week"] == start]),
        })
    return pd.DataFrame(rows)


def _last(metric: pd.DataFrame, week: pd.Timestamp, largest: bool = False) -> float | None:
    """A week's value of a metric (its latest, or its largest), None when none was recorded."""
    values = metric.sort_values("business_date").loc[metric["week"] == week, "value"].dropna()
    if values.empty:
        return None
    return round(float(values.max() if largest else values.iloc[-1]), 3)


def _responses(rows: pd.DataFrame) -> str:
    """The week's drift responses in words: what the policy chose (a suppressed trigger is
    not a response) and the reference resets accepted."""
    out = []
    for r in rows.itertuples():
        details = json.loads(r.details or "{}")
        if r.kind == "reference_reset":
            out.append("reference reset accepted")
        elif r.status == "triggered":
            out.append(str(details.get("response") or "retrain"))
    return ", ".join(dict.fromkeys(out))


def _week_of(plan: DemoPlan) -> Any:
    """Maps dates to the first day of their demo week."""
    origin = pd.Timestamp(plan.demo_start)
    return lambda days: origin + pd.to_timedelta((days - origin).dt.days // 7 * 7, unit="D")


def markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def weeks_table(weeks: list[dict[str, Any]]) -> Any:
    """The weekly story as a rich table for the terminal."""
    from rich.table import Table

    table = Table(title="creditflow demo, week by week")
    if not weeks:
        return table
    for col in weeks[0]:
        table.add_column(col.replace("_", " "), justify="right")
    for row in weeks:
        table.add_row(*["-" if v is None else str(v) for v in row.values()])
    return table
