"""models.fairness: age bands, outcomes per group and the adverse-impact ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.fairness import age_bands, fair_lending_table, flagged_groups


def test_age_bands_start_at_the_configured_ages() -> None:
    ages = pd.Series([18, 24.9, 25, 44, 61.5, 62, 90, np.nan])
    assert age_bands(ages, [25, 35, 45, 62]).tolist() == [
        "<25", "<25", "25-34", "35-44", "45-61", "62+", "62+", None]
    with pytest.raises(ValueError, match="at least one"):
        age_bands(ages, [])


def biased_book(seed: int = 0) -> pd.DataFrame:
    """Applicants 62 and over are approved half as often as the rest at the same risk, and
    region is irrelevant: the report must flag the age band and nothing else."""
    rng = np.random.default_rng(seed)
    n = 4_000
    age = rng.choice(["<25", "25-34", "35-44", "45-61", "62+"], n)
    region = rng.choice(["north", "south"], n)
    p_approve = np.where(age == "62+", 0.35, 0.70)
    decision = np.where(rng.random(n) < p_approve, "approve", "decline")
    pd_ = rng.uniform(0.02, 0.2, n)
    bad = np.where(decision == "approve", (rng.random(n) < pd_).astype(float), np.nan)
    return pd.DataFrame({"age_band": age, "dealer_region": region, "decision": decision,
                         "pd": pd_, "bad": bad})


def test_the_adverse_impact_ratio_of_a_biased_book_is_flagged() -> None:
    table = fair_lending_table(biased_book(), ["age_band", "dealer_region", "housing"],
                               min_rows=100, floor=0.8)
    assert set(table["dimension"]) == {"age_band", "dealer_region"}  # housing absent: skipped
    old = table[(table["dimension"] == "age_band") & (table["group"] == "62+")].iloc[0]
    assert old["adverse_impact_ratio"] == pytest.approx(0.5, abs=0.06)
    assert old["flagged"] and old["judged"]
    assert flagged_groups(table) == ["age_band=62+"]
    ages = table[table["dimension"] == "age_band"]
    assert ages["adverse_impact_ratio"].max() == 1.0  # the most favoured group
    assert (ages["n"].sum(), ages["n_labelled"].sum()) == (4_000, (biased_book()["bad"]
                                                                   .notna().sum()))
    assert ages["bad_rate"].between(0.02, 0.2).all() and ages["mean_pd"].notna().all()


def test_small_groups_are_reported_without_a_verdict() -> None:
    frame = pd.DataFrame({"housing": ["own"] * 200 + ["other"] * 5,
                          "decision": ["approve"] * 150 + ["decline"] * 50 + ["decline"] * 5,
                          "pd": 0.05})
    table = fair_lending_table(frame, ["housing"], min_rows=100, floor=0.8).set_index("group")
    assert not table.loc["other", "judged"] and not table.loc["other", "flagged"]
    assert table.loc["other", "adverse_impact_ratio"] == 0.0
    assert np.isnan(table.loc["own", "bad_rate"])  # no outcomes given: no bad rate
    assert fair_lending_table(frame, ["region"], 100, 0.8).empty
