"""What a monitoring day raises: the alert conditions that hold (key, message, severity), each
message saying what moved, over which window, against what, since when and where the report is;
and the retrain policy's inputs, read from the same findings.

Messages carry features, aggregates and dealer ids only, never an applicant identifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pipelines.monitoring import portfolio as R
from pipelines.monitoring.context import ALERT, DayContext, DayFindings
from pipelines.monitoring.early import POOLED
from pipelines.monitoring.pages import day_page
from pipelines.monitoring.retrain_rules import PolicyInputs, RetrainDecision
from pipelines.warehouse.engine import Warehouse
from pipelines.warehouse.monitoring import metric_history

Condition = tuple[str, str, str]  # condition key, message, severity


def episode_start(wh: Warehouse, metric: str, segment: str, until: date,
                  bands: Sequence[str]) -> date:
    """First date of the current run of monitored dates whose band is in ``bands``."""
    h = metric_history(wh, [metric], segment, until)
    h = h[h["metric"] == metric].sort_values("business_date")
    since = until
    for row in h.iloc[::-1].itertuples():
        if row.band not in bands:
            break
        since = row.business_date.date()
    return since


def raised_conditions(ctx: DayContext, found: DayFindings, wh: Warehouse,
                      paths: dict[str, Path]) -> list[Condition]:
    """Every alert condition that holds today, in a fixed order (drift, performance,
    portfolio)."""
    text = _Texts(ctx, found, wh, paths)
    return (_drift_conditions(text) + _performance_conditions(text)
            + _early_target_conditions(text) + _early_conditions(text)
            + _portfolio_conditions(text)
            + _fair_lending_conditions(text))


class _Texts:
    """The pieces every message shares: the window, since when, where the report is."""

    def __init__(self, ctx: DayContext, found: DayFindings, wh: Warehouse,
                 paths: dict[str, Path]) -> None:
        self.ctx, self.found, self.wh, self.paths = ctx, found, wh, paths

    def since(self, metric: str, segment: str = "all", bands: Sequence[str] = (ALERT,)) -> str:
        return episode_start(self.wh, metric, segment, self.ctx.business_date,
                             bands).isoformat()

    def where(self, key: str) -> str:
        ctx = self.ctx
        run = f"MLflow experiment '{ctx.cfg.experiment_name}', run " \
              f"'monitor-{ctx.business_date.isoformat()}'"
        path = self.paths.get(key)
        page = f" The week's page: {day_page(ctx.settings, ctx.business_date)}."
        return (f"Report: {path} ({run})." if path else f"Report: {run}.") + page

    def window(self) -> str:
        ctx = self.ctx
        return (f"applications {ctx.window_start.isoformat()}..{ctx.business_date.isoformat()} "
                f"({self.found.n_applications} rows) vs the training reference of "
                f"{ctx.champion.name} v{ctx.champion.version}")


def _drift_conditions(t: _Texts) -> list[Condition]:
    cfg, drift, out = t.ctx.cfg, t.found.drift, []
    if not drift.ok:
        return out
    if drift.score_psi is not None and drift.score_psi[1] == "shift" and drift.score_means \
            and t.found.n_scored >= cfg.min_window_rows:
        value, _ = drift.score_psi
        cur, ref = drift.score_means
        out.append(("score_psi", (
            f"Score PSI {value:.3f} is in the shift band (> {cfg.psi_bands[1]}) over "
            f"{t.window()}; mean score {cur:.1f} vs {ref:.1f} in the reference "
            f"({cur - ref:+.1f} points). In the shift band since "
            f"{t.since('score_psi', bands=('shift',))}. {t.where('psi_over_time')}"),
            "warning"))
    if drift.csi is not None:
        shifted = drift.csi[(drift.csi["band"] == "shift") & ~drift.csi["trend"]]
        if len(shifted):
            listed = ", ".join(f"{r.feature} {r.value:.2f}" for r in shifted.itertuples())
            first = shifted["feature"].iloc[0]
            out.append(("feature_csi_shift", (
                f"{len(shifted)} feature(s) with CSI in the shift band (> {cfg.psi_bands[1]}): "
                f"{listed}; over {t.window()}. {first} in the shift band since "
                f"{t.since(f'csi.{first}', bands=('shift',))}. {t.where('drift_report')}"),
                "warning"))
    ev = drift.evidently
    if ev is not None and ev.drifted_share > cfg.drift_share_threshold:
        drifted = ev.table[ev.table["drifted"]].sort_values("score", ascending=False)
        listed = ", ".join(f"{r.feature} ({r.method} {r.score:.3g})"
                           for r in drifted.head(8).itertuples())
        out.append(("feature_drift", (
            f"Dataset drift: {ev.drifted_count} of {len(ev.table)} features drifted "
            f"({ev.drifted_share:.0%} > {cfg.drift_share_threshold:.0%}) over "
            f"{t.window()}: {listed}. Drifted share above the threshold since "
            f"{t.since('drifted_share')}. {t.where('drift_report')}"), "warning"))
    return out


def _performance_conditions(t: _Texts) -> list[Condition]:
    ctx, perf, out = t.ctx, t.found.performance, []
    cfg, champ = ctx.cfg, ctx.champion
    est = perf.estimate
    ref = est.get("reference_expected_auc") if est else None
    if est and ref is not None and t.found.n_scored >= cfg.min_window_rows \
            and est["expected_auc"] < ref - cfg.auc_margin:
        out.append(("estimated_auc", (
            f"Estimated AUC {est['expected_auc']:.3f} (from the PDs of {t.found.n_scored} "
            f"scored applications {ctx.window_start}..{ctx.business_date}, no labels yet) is "
            f"{ref - est['expected_auc']:.3f} below the same estimate on the training "
            f"reference of {champ.name} v{champ.version}, {ref:.3f} (margin "
            f"{cfg.auc_margin}). Since {t.since('estimated_auc')}. "
            f"{t.where('psi_over_time')}"), "critical"))
    if perf.realised is None:
        return out
    for r in perf.realised.itertuples():
        if r.auc_alert:
            out.append((f"realised_auc:{r.vintage}", (
                f"Realised AUC {r.auc:.3f} of vintage {r.vintage} ({r.n} matured loans, "
                f"{r.bads} bads) is {champ.oot_auc - r.auc:.3f} below the OOT AUC "
                f"{champ.oot_auc:.3f} of {champ.name} v{r.model_version}. "
                f"{t.where('vintage_curves')}"), "critical"))
        if r.bad_rate_alert:
            out.append((f"bad_rate:{r.vintage}", (
                f"Vintage {r.vintage}: realised bad rate {r.bad_rate:.2%} vs mean PD "
                f"{r.mean_pd:.2%} (x{r.ratio:.2f}, p={r.p_value:.1g}, {r.n} matured loans, "
                f"model v{r.model_version}). {t.where('vintage_curves')}"), "critical"))
    return out


def _early_conditions(t: _Texts) -> list[Condition]:
    perf = t.found.performance
    if perf.early is None or perf.early.empty or perf.early_months is None:
        return []
    cfg, (recent, baseline) = t.ctx.cfg, perf.early_months
    what = (f"loans reaching {cfg.early_delinquency_bucket} or worse within "
            f"{cfg.early_delinquency_mob} months on book")
    span = f"month ends {recent[0].date()}..{recent[-1].date()}"
    base = f"{baseline[0].date()}..{baseline[-1].date()}"
    out = []
    for r in perf.early[perf.early["alert"]].itertuples():
        who = "the portfolio" if r.segment == "all" else r.segment
        out.append((f"early_delinquency:{r.segment}", (
            f"Early delinquency of {who}: {r.observed} {what} in {span} vs {r.expected:.1f} "
            f"expected from the portfolio's rates by month on book in {base} "
            f"(x{r.ratio:.2f}, p={r.p_value:.1g}). Since "
            f"{t.since('early_delinquency', r.segment)}. {t.where('vintage_curves')}"),
            "critical" if r.segment == "all" else "warning"))
    return out


def _early_target_conditions(t: _Texts) -> list[Condition]:
    target = t.found.performance.early_target
    if target is None or target.empty:
        return []
    e = t.ctx.settings.features.early
    return [(f"early_bad_rate:{r.vintage}", (
        f"Vintage {r.vintage}: {r.bad_rate:.2%} of {r.n} loans reached {e.bad_bucket} or worse "
        f"within {e.months} months on book vs {r.expected:.2%} expected from the "
        f"{r.expected_from} (x{r.ratio:.2f}, p={r.p_value:.1g}): a 12-month bad rate of about "
        f"{r.implied_main_bad_rate:.2%} by the bridge. {t.where('vintage_curves')}"), "critical")
        for r in target[target["alert"]].itertuples()]


def _portfolio_conditions(t: _Texts) -> list[Condition]:
    rolls = t.found.portfolio.rolls
    if rolls is None:
        return []
    out = []
    for r in rolls[rolls["alert"]].itertuples():
        nxt = R.BUCKETS[R.BUCKETS.index(r.bucket) + 1]
        out.append((f"roll_rate:{r.bucket}", (
            f"Forward roll rate from {r.bucket} (to {nxt} or worse) rose to {r.rate:.1%} "
            f"({r.rolled} of {r.loans} loans, {r.as_of_month.date()} -> {r.next_month.date()}) "
            f"vs {r.baseline:.1%} on average over the previous {r.baseline_months} months "
            f"(x{r.ratio:.2f}, p={r.p_value:.1g}). Since "
            f"{t.since(f'forward_roll.{r.bucket}')}. {t.where('roll_rates')}"), "warning"))
    return out


def _fair_lending_conditions(t: _Texts) -> list[Condition]:
    """One alert per group whose approval rate falls below the floor times the most favoured
    group's (the four-fifths rule); a fair-lending finding, not a retraining reason."""
    table, cfg = t.found.fairness, t.ctx.cfg
    if table is None or table.empty:
        return []
    out = []
    for r in table[table["flagged"].astype(bool)].itertuples():
        dim = table[table["dimension"] == r.dimension]
        best = dim.loc[dim["adverse_impact_ratio"].idxmax()]
        out.append((f"fair_lending:{r.dimension}={r.group}", (
            f"Adverse impact: {r.dimension} {r.group} approved {r.approval_rate:.1%} of "
            f"{r.n} applications vs {best['approval_rate']:.1%} for {best['group']}, the most "
            f"favoured group (ratio {r.adverse_impact_ratio:.2f} < {cfg.adverse_impact_floor}); "
            f"mean PD {r.mean_pd:.2%}; over {t.window()}. "
            f"Since {t.since('adverse_impact_ratio', f'{r.dimension}={r.group}')}. "
            f"{t.where('psi_over_time')}"), "warning"))
    return out


def policy_inputs(ctx: DayContext, found: DayFindings) -> PolicyInputs:
    """The day's findings as the retrain rules read them (None where not measured, or measured
    on too few rows for a verdict)."""
    floor, drift, perf = ctx.cfg.min_window_rows, found.drift, found.performance
    inputs = PolicyInputs(oot_auc=ctx.champion.oot_auc)
    if drift.ok and drift.score_psi is not None and found.n_scored >= floor:
        inputs.score_psi = drift.score_psi[0]
    if drift.ok and drift.evidently is not None:
        inputs.drifted_share = drift.evidently.drifted_share
    if perf.estimate and found.n_scored >= floor:
        inputs.estimated_auc = perf.estimate["expected_auc"]
        inputs.reference_estimated_auc = perf.estimate.get("reference_expected_auc")
    if perf.realised is not None:
        # only vintages this champion scored say anything about this champion
        mine = perf.realised[perf.realised["model_version"] == ctx.champion.version]
        ranked = mine[mine["auc"].notna() & (mine["bads"] >= ctx.cfg.realised_min_bads)]
        if len(ranked):
            inputs.realised_auc = float(ranked["auc"].iloc[-1])
            inputs.realised_vintage = str(ranked["vintage"].iloc[-1])
        inputs.bad_rate_alerts = mine.loc[mine["bad_rate_alert"], "vintage"].tolist()
    rolls = found.portfolio.rolls
    if rolls is not None:
        inputs.roll_rate_alerts = rolls.loc[rolls["alert"], "bucket"].astype(str).tolist()
    if perf.early is not None and not perf.early.empty:
        portfolio = perf.early[perf.early["segment"] == "all"]
        if len(portfolio):
            inputs.early_delinquency_ratio = float(portfolio["ratio"].iloc[0])
            inputs.early_delinquency_alert = bool(portfolio["alert"].iloc[0])
    target = perf.early_target
    if target is not None and not target.empty:
        inputs.early_bad_rate_alerts = target.loc[target["alert"], "vintage"].tolist()
        ranked = target[target["auc"].notna() & (target["bads"] >= ctx.cfg.realised_min_bads)]
        pooled = ranked[ranked["vintage"] == POOLED]  # the scored vintages together
        if len(ranked):
            row = (pooled if len(pooled) else ranked).iloc[-1]
            inputs.early_auc, inputs.early_vintage = float(row["auc"]), str(row["vintage"])
    return inputs


def retrain_message(ctx: DayContext, decision: RetrainDecision) -> str:
    what = {"recalibration": "A recalibration challenger (the champion's booster, its "
                             "calibrator refitted on the newest early-matured vintages)",
            "early_retrain": "A challenger trained with the early-performance target",
            "reference_reset": "No retraining: a reset of the drift reference to the recent "
                               "window, once reviewed (and a cut-off check),"}
    head = what.get(decision.response or "", "Retraining")
    return (f"{head} for {ctx.champion.name} (champion v{ctx.champion.version}) "
            f"{'proposed' if decision.response == 'reference_reset' else 'triggered'} on "
            f"{ctx.business_date} ({decision.kind or 'drift'}): " + "; ".join(decision.reasons)
            + f". Trigger id {decision.run_id}; next response possible after "
            f"{ctx.cfg.retrain_cooldown_days} days.")
