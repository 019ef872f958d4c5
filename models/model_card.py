"""The model card: one Markdown page a model-risk reviewer reads before anything else.

``model_card`` only formats what it is given; every number comes from the training run, so the
card and the MLflow metrics cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

DEFAULT_PURPOSE = (
    "Probability of default (90+ days past due or charge-off within the performance window) of "
    "an auto-loan application at origination, mapped to a score and an approve / review / decline "
    "decision, with reason codes for every declined or referred application.")

DEFAULT_LIMITATIONS = (
    "No reject inference: the model learns only from booked loans, so risk among applicants the "
    "previous policy declined is extrapolated, not observed.",
    "Immature loans (younger than the performance window) are excluded from training; the most "
    "recent months of applications are therefore not represented.",
    "Out-of-time validation covers a short window right after training; performance further out "
    "is monitored, not guaranteed.",
    "Monotone directions are enforced only for the features that declare one.",
    "Serving through MLflow's generic pyfunc returns the booster's uncalibrated probability; "
    "score with the project's loader, which applies the calibrator.",
)

# holdout_*: the policy holdout's loans of the window (approved below the cut-off when scored,
# models.holdout): their count, realised bad rate and the model's mean PD for them
HEADLINE = ("auc", "ks", "gini", "brier", "log_loss", "ece", "bad_rate", "n", "holdout_loans",
            "holdout_bad_rate", "holdout_mean_pd")
DIRECTION = {1: "risk rises with value", -1: "risk falls with value", 0: "unconstrained"}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value.is_integer() and abs(value) >= 100:
            return f"{int(value):,}"
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return lines


def _features(names: Sequence[str], monotone: Mapping[str, int],
              descriptions: Mapping[str, str], dtypes: Mapping[str, str]) -> list[str]:
    rows = [(n, dtypes.get(n, ""), DIRECTION.get(int(monotone.get(n, 0)), "?"),
             descriptions.get(n, "")) for n in names]
    return _table(("feature", "type", "monotone", "description"), rows)


def _metrics(metrics: Mapping[str, Mapping[str, float]]) -> list[str]:
    cols = list(metrics)
    rows = [(m, *[metrics[c].get(m) for c in cols]) for m in HEADLINE
            if any(m in metrics[c] for c in cols)]
    return _table(("metric", *cols), rows)


def model_card(
    *,
    name: str,
    version: str | None,
    run_id: str | None,
    windows: Mapping[str, tuple[str, str]],
    counts: Mapping[str, Mapping[str, int]],
    feature_names: Sequence[str],
    monotone: Mapping[str, int],
    descriptions: Mapping[str, str],
    feature_dtypes: Mapping[str, str],
    metrics: Mapping[str, Mapping[str, float]],
    dropped_features: Mapping[str, str] | None = None,
    calibration: Mapping[str, Any],
    cutoffs: Mapping[str, Any],
    approval: Mapping[str, float] | None = None,
    reason_codes: Mapping[str, Any] | None = None,
    fairness: Sequence[Mapping[str, Any]] | None = None,
    params: Mapping[str, Any] | None = None,
    config_hash: str | None = None,
    git_commit: str | None = None,
    purpose: str = DEFAULT_PURPOSE,
    limitations: Sequence[str] = DEFAULT_LIMITATIONS,
) -> str:
    """Markdown model card.

    windows: window name -> (first date, last date), e.g. train / early_stopping / calibration /
    oot. counts: window name -> {"rows", "bads", "immature"}. metrics: column name -> metric dict,
    e.g. {"oot": ..., "oot baseline": ..., "train (in-sample)": ...}. calibration: method, n_fit,
    ece_before, ece_after (on OOT). cutoffs: base_score, base_odds, pdo, approve_at, decline_below
    (and target_approval_rate if the cut-off was derived). approval: metrics.approval_stats on
    OOT. reason_codes: k, exact or approximate, and the agreement figures. fairness: the rows of
    ``models.fairness.fair_lending_table`` on every OOT application. dropped_features:
    feature -> why it was left out of the model.
    """
    out = [f"# Model card: {name} version {version or '(unregistered)'}", ""]
    out += ["## Purpose", "", purpose, ""]
    out += [f"MLflow run `{run_id or '-'}`; config hash `{config_hash or '-'}`; "
            f"git commit `{git_commit or '-'}`.", ""]
    out += ["## Data", ""]
    out += _table(("window", "from", "to", "rows", "bads", "bad rate", "immature excluded"),
                  [(w, start, end, counts.get(w, {}).get("rows"), counts.get(w, {}).get("bads"),
                    _rate(counts.get(w, {})), counts.get(w, {}).get("immature"))
                   for w, (start, end) in windows.items()])
    out += ["", _window_note(windows), ""]
    out += ["## Features", "", *_features(feature_names, monotone, descriptions, feature_dtypes)]
    if dropped_features:
        out += ["", "Left out, for lack of data in the training window:", "",
                *_table(("feature", "why"), list(dropped_features.items()))]
    out += ["", "## Performance", "", *_metrics(metrics)]
    out += ["", "Metrics labelled in-sample are computed on the training window and are not "
            "evidence of performance.", ""]
    out += ["## Calibration", ""]
    out += [f"Method: {calibration.get('method', '-')}, fitted on {_fmt(calibration.get('n_fit'))}"
            f" rows of the calibration window. ECE before: {_fmt(calibration.get('ece_before'))},"
            f" after: {_fmt(calibration.get('ece_after'))} (out-of-time, equal-frequency bins).",
            ""]
    out += _cutoffs(cutoffs, approval)
    if reason_codes:
        out += ["## Reason codes", "", *_table(("item", "value"), list(reason_codes.items()))]
        out += [""]
    if fairness:
        out += _fairness(fairness)
    if params:
        out += ["## Hyper-parameters", "", *_table(("parameter", "value"), list(params.items()))]
        out += [""]
    out += ["## Known limitations", ""] + [f"- {item}" for item in limitations] + [""]
    return "\n".join(out)


def _window_note(windows: Mapping[str, tuple[str, str]]) -> str:
    """Checks, not asserts, that the windows follow each other (ISO dates compare as text)."""
    spans = [(str(a), str(b)) for a, b in windows.values()]
    ordered = all(a <= b for a, b in spans) and all(
        prev[1] < nxt[0] for prev, nxt in pairwise(spans))
    if ordered:
        return "Windows follow each other in time without overlap; there is no random split."
    return "WARNING: the windows above overlap or are out of order."


def _fairness(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["## Fair lending (out-of-time, every application)", "",
           "Approval rate and mean PD of every application, realised bad rate of its matured "
           "loans, by age band and by each proxy segment the data carries; adverse-impact "
           "ratio = the group's approval rate / the most favoured group's. FLAGGED: below the "
           "configured floor (monitoring.adverse_impact_floor); groups too small to judge show "
           "no verdict.", ""]
    table = [(r["dimension"], r["group"], r["n"], r["approval_rate"], r["mean_pd"],
              r["bad_rate"], r["adverse_impact_ratio"],
              ("FLAGGED" if r["flagged"] else "ok") if r["judged"] else "-") for r in rows]
    return out + _table(("dimension", "group", "applications", "approval rate", "mean PD",
                         "bad rate", "adverse-impact ratio", "verdict"), table) + [""]


def _rate(count: Mapping[str, int]) -> float | None:
    rows, bads = count.get("rows"), count.get("bads")
    return bads / rows if rows and bads is not None else None


# Approval, review and decline rates are through the door (every OOT application, booked or
# not: the population the cut-offs act on); a bad rate needs outcomes, so only booked loans.
APPROVAL_ROWS = (("approval_rate", "approval rate (out-of-time, every application)"),
                 ("review_rate", "review rate (out-of-time, every application)"),
                 ("decline_rate", "decline rate (out-of-time, every application)"),
                 ("approval_rate_booked", "approval rate (out-of-time, booked and matured)"),
                 ("bad_rate_approved", "bad rate of approved (out-of-time, booked and matured)"))


def _cutoffs(cutoffs: Mapping[str, Any], approval: Mapping[str, float] | None) -> list[str]:
    out = ["## Score scaling and cut-offs", ""]
    out += [f"score = offset - factor * ln(bad odds), factor = PDO / ln 2: "
            f"{_fmt(cutoffs.get('base_score'))} points at good:bad odds "
            f"{_fmt(cutoffs.get('base_odds'))}:1, {_fmt(cutoffs.get('pdo'))} points to double "
            f"the odds; higher is safer.", ""]
    rows = [("approve at or above", cutoffs.get("approve_at")),
            ("decline below", cutoffs.get("decline_below"))]
    if cutoffs.get("target_approval_rate") is not None:
        rows.append(("approve_at derived from target approval rate",
                     cutoffs["target_approval_rate"]))
    for key, label in APPROVAL_ROWS:
        if approval and key in approval:
            rows.append((label, approval[key]))
    return out + _table(("item", "value"), rows) + [""]
