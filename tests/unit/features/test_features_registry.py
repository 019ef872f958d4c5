"""The feature registry: complete, consistent with the warehouse, and the builder builds exactly it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    FEATURES,
    FeatureRegistryError,
    FeatureSpec,
    build_features,
    feature_specs,
    monotone_constraints,
)
from features.build import DEALER_FEATURES, DERIVED, HISTORY_COLUMNS
from pipelines.warehouse.schema import APPLICATION_COLUMNS, CATEGORIES

AS_OF = pd.Timestamp("2024-06-30 23:59:59")


def full_application(**overrides: object) -> pd.DataFrame:
    row = {"application_id": "A1", "application_ts": pd.Timestamp("2024-06-03 10:00"),
           "business_date": pd.Timestamp("2024-06-03"), "applicant_age": 35.0,
           "annual_income": 60_000.0, "employment_years": 4.0, "housing": "rent",
           "vehicle_condition": "used", "vehicle_price": 20_000.0, "vehicle_age_years": 3.0,
           "vehicle_segment": "suv", "dealer_id": "D1", "dealer_region": "north",
           "dealer_channel": "online", "loan_amount": 18_000.0, "down_payment": 2_000.0,
           "term_months": 60, "interest_rate": 0.079, "monthly_payment": 365.0,
           "monthly_debt": 800.0, "bureau_score": 690.0, "inquiries_6m": 2.0,
           "delinquencies_2y": 1.0, "open_trades": 5.0, "revolving_utilization": 0.45}
    row.update(overrides)
    return pd.DataFrame([row])


def empty_history() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c.endswith(("_date", "_month"))
                                      else object) for c in HISTORY_COLUMNS})


def test_every_declared_feature_is_built_and_every_built_column_declared() -> None:
    specs = feature_specs()
    out = build_features(full_application(), empty_history(), AS_OF)
    assert list(out.columns) == [s.name for s in specs]
    # Each declared feature is computed from a complete row (no silent all-NaN feature).
    assert not out.isna().any().any(), out.columns[out.isna().any()].tolist()
    names = {s.name for s in FEATURES}
    assert set(DERIVED) <= names and set(DEALER_FEATURES) <= names
    # A built-in float feature is derived, dealer history, or reads exactly its one column.
    for spec in FEATURES:
        if spec.dtype == "float" and spec.name not in DERIVED | dict.fromkeys(DEALER_FEATURES):
            assert spec.sources == (spec.name,), spec


def test_built_in_sources_are_warehouse_columns() -> None:
    for spec in FEATURES:
        for src in spec.sources:
            if "." not in src:  # qualified names are loan/tape history columns
                assert src in APPLICATION_COLUMNS, f"{spec.name} reads unknown column {src}"


def test_categories_match_the_warehouse_schema() -> None:
    for spec in FEATURES:
        if spec.dtype == "category":
            assert list(spec.categories) == CATEGORIES[spec.sources[0]], spec.name


def test_monotone_directions_are_what_a_risk_analyst_expects() -> None:
    expected = {"ltv": 1, "pti": 1, "dti": 1, "inquiries_6m": 1, "delinquencies_2y": 1,
                "revolving_utilization": 1, "vehicle_age_years": 1, "is_used": 1,
                "dealer_bad_rate": 1, "bureau_score": -1, "down_payment_share": -1,
                "employment_years": -1, "term_months": 0, "applicant_age": -1,
                "log_vehicle_price": 0, "housing": 0}
    constraints = monotone_constraints(feature_specs())
    assert list(constraints) == [s.name for s in feature_specs()]
    for name, direction in expected.items():
        assert constraints[name] == direction, name


def test_every_feature_has_a_description_and_a_reason_text() -> None:
    for spec in FEATURES:
        assert spec.description.strip() and spec.reason.strip(), spec.name
        assert "\n" not in spec.description


def test_extras_are_added_built_and_unknown_categories_become_missing() -> None:
    specs = feature_specs(["months_at_address"], {"state": ["CA", "NV"]})
    extra = specs[-2:]
    assert [(s.name, s.dtype, s.monotone, s.reason) for s in extra] == [
        ("months_at_address", "float", 0, "months_at_address value"),
        ("state", "category", 0, "state value")]
    apps = pd.concat([full_application(months_at_address=14, state="CA"),
                      full_application(application_id="A2", months_at_address=np.nan,
                                       state="TX")], ignore_index=True)
    out = build_features(apps, empty_history(), AS_OF, specs=specs)
    assert list(out.columns) == [s.name for s in specs]
    assert out["months_at_address"].tolist()[0] == 14.0 and np.isnan(out["months_at_address"][1])
    assert list(out["state"].cat.categories) == ["CA", "NV"]
    assert out["state"].iloc[0] == "CA" and pd.isna(out["state"].iloc[1])


def test_extra_may_not_reuse_a_built_in_name() -> None:
    with pytest.raises(FeatureRegistryError, match="ltv"):
        feature_specs(["ltv"])
    with pytest.raises(FeatureRegistryError, match="state"):
        feature_specs(["state"], {"state": ["CA"]})


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "int"}, "dtype"),
    ({"monotone": 2}, "monotone"),
    ({"sources": ()}, "no source"),
    ({"dtype": "category"}, "no categories"),
    ({"dtype": "category", "categories": ("a",), "monotone": 1}, "monotone 0"),
    ({"dtype": "category", "categories": ("a", "a")}, "repeats"),
    ({"categories": ("a",)}, "cannot have categories"),
    ({"fair_lending": "prohibited_basis"}, "may only lower risk"),
    ({"fair_lending": "close_proxy", "monotone": 1}, "may only lower risk"),
    ({"fair_lending": "race"}, "fair_lending must be one of"),
])
def test_inconsistent_specs_are_refused(kwargs: dict, message: str) -> None:
    base = {"name": "x", "dtype": "float", "monotone": 0, "description": "d", "reason": "r",
            "sources": ("x",)}
    with pytest.raises(FeatureRegistryError, match=message):
        FeatureSpec(**(base | kwargs))


def test_policy_outputs_and_prohibited_bases_are_declared_as_data() -> None:
    by_name = {s.name: s for s in FEATURES}
    assert by_name["rate_spread"].policy_output and not by_name["ltv"].policy_output
    age = by_name["applicant_age"]
    assert age.fair_lending == "prohibited_basis" and age.protected and age.monotone == -1
    # a policy output is no model input by default, and is one only when explicitly allowed
    assert "rate_spread" not in {s.name for s in feature_specs()}
    assert "rate_spread" in {s.name for s in feature_specs(allowed_policy_outputs=["rate_spread"])}
