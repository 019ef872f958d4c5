"""The risk report's section on the auxiliary models, from the metric rows
``pipelines.monitoring.auxiliary`` records: the collections roll-forward model against the next
month's tape (realised roll rate per predicted decile, AUC) and the early-payment-default model's
score drift and realised EPD rate against its predictions."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.monitoring.html_page import Section, esc, table


def _details(row: pd.Series) -> dict:
    return json.loads(row["details"]) if isinstance(row["details"], str) else {}


def _value(latest: pd.DataFrame, metric: str) -> tuple[float | None, dict]:
    rows = latest[(latest["metric"] == metric) & (latest["segment"] == "all")]
    if rows.empty:
        return None, {}
    value = rows.iloc[0]["value"]
    return (None if pd.isna(value) else float(value)), _details(rows.iloc[0])


def _rate(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.1%}"


def _roll_forward(latest: pd.DataFrame) -> str:
    auc, d = _value(latest, "roll_forward_auc")
    if not d:
        return ('<p class="note">Collections roll-forward model: no queued month end whose '
                "next month's tape has arrived yet.</p>")
    realised, _ = _value(latest, "roll_forward_realised_rate")
    rows = latest[latest["metric"] == "roll_forward_decile"]
    deciles = pd.DataFrame({
        "predicted decile": rows["segment"].str.removeprefix("decile=").astype(int),
        "loans": [_details(r)["loans"] for _, r in rows.iterrows()],
        "mean predicted": [_details(r)["mean_predicted"] for _, r in rows.iterrows()],
        "realised roll rate": rows["value"].astype(float)}).sort_values("predicted decile")
    head = (f"<h3>Collections roll-forward model</h3><p>Queue of {esc(d['month_end'])} "
            f"(version {esc(', '.join(map(str, d['versions'])))}): {d['loans']:,} loans, "
            f"{d['rolled']:,} rolled to a worse bucket by the next month end: realised "
            f"{_rate(realised)} against {_rate(d['mean_predicted'])} predicted; AUC "
            f"{'n/a' if auc is None else f'{auc:.3f}'}.</p>")
    return head + table(deciles, {"mean predicted": ".1%", "realised roll rate": ".1%"})


def _epd(latest: pd.DataFrame) -> str:
    psi, p = _value(latest, "epd_score_psi")
    realised, r = _value(latest, "epd_realised_rate")
    if psi is None and not r:
        return '<p class="note">Early-payment-default model: no champion scores yet.</p>'
    drift = ("" if psi is None else f"EPD score PSI {psi:.3f} on {p['rows']:,} scores of "
             f"version {esc(p['version'])} against its training reference. ")
    outcome = ("No origination month's EPD window has closed with scores yet." if not r else
               f"Originations of {esc(r['start'])} to {esc(r['end'])}: {r['loans']:,} loans, "
               f"realised EPD rate {_rate(realised)} against {_rate(r['mean_predicted'])} "
               "predicted.")
    return f"<h3>Early-payment-default model</h3><p>{drift}{outcome}</p>"


def auxiliary_section(latest: pd.DataFrame) -> Section:
    return Section("auxiliary-models", "Auxiliary models", _roll_forward(latest) + _epd(latest))
