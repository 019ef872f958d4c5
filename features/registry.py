"""The feature registry: every model feature declared once.

A spec names the feature, its dtype, the direction in which it moves risk (fed to XGBoost's
``monotone_constraints``), a one-line description for the model card, a short adverse-action text
for reason codes, and the columns it is computed from (the leakage guard checks those).

Sources are application columns by bare name. Dealer history is computed from *earlier* loans'
outcomes, point-in-time filtered by the builder; those sources are written ``table.column`` so they
are told apart from the application's own fields (the denylist applies to the application's own).

Two flags keep a lender's decisions defensible. ``policy_output``: the feature is set by the
lender's own pricing or policy from an earlier risk grade (the offered rate and what is derived
from it); as a model input it is circular, so the leakage guard refuses it unless the
configuration explicitly allows it (``features.allowed_policy_outputs``). ``fair_lending``: the
feature is a prohibited basis (``prohibited_basis``, e.g. age) or a close proxy of one
(``close_proxy``); it may only lower risk (monotone -1) or must be left out, and it is never
named as an adverse-action reason.

Category lists are copied from ``pipelines.warehouse.schema.CATEGORIES`` because this layer may not
import
pipelines; a test checks that the two agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

DEALER_HISTORY_SOURCES = ("dealer_id", "loans.dealer_id", "loans.origination_date",
                          "repayments.as_of_month", "repayments.dpd_bucket")


FAIR_LENDING_FLAGS = ("", "prohibited_basis", "close_proxy")


class FeatureRegistryError(ValueError):
    """A feature declaration is inconsistent (bad dtype, direction, categories, duplicate name)."""


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: Literal["float", "category"]
    monotone: int  # +1 riskier as it grows, -1 safer, 0 none
    description: str
    reason: str
    sources: tuple[str, ...]
    categories: tuple[str, ...] = ()
    policy_output: bool = False
    fair_lending: str = ""  # "", "prohibited_basis" or "close_proxy"

    def __post_init__(self) -> None:
        if not self.name:
            raise FeatureRegistryError("a feature needs a name")
        if self.dtype not in ("float", "category"):
            raise FeatureRegistryError(f"feature '{self.name}': dtype must be 'float' or "
                                       f"'category', got {self.dtype!r}")
        if self.monotone not in (-1, 0, 1):
            raise FeatureRegistryError(f"feature '{self.name}': monotone must be -1, 0 or +1, "
                                       f"got {self.monotone!r}")
        if not self.sources:
            raise FeatureRegistryError(f"feature '{self.name}' declares no source column")
        if self.dtype == "category":
            if not self.categories:
                raise FeatureRegistryError(f"categorical feature '{self.name}' has no categories")
            if self.monotone != 0:  # XGBoost cannot order categories
                raise FeatureRegistryError(f"categorical feature '{self.name}' must have "
                                           "monotone 0")
            if len(set(self.categories)) != len(self.categories):
                raise FeatureRegistryError(f"categorical feature '{self.name}' repeats a category")
        elif self.categories:
            raise FeatureRegistryError(f"float feature '{self.name}' cannot have categories")
        self._check_fair_lending()

    def _check_fair_lending(self) -> None:
        if self.fair_lending not in FAIR_LENDING_FLAGS:
            raise FeatureRegistryError(f"feature '{self.name}': fair_lending must be one of "
                                       f"{FAIR_LENDING_FLAGS}, got {self.fair_lending!r}")
        # a categorical cannot be ordered, so it can only be left out
        if self.fair_lending and self.monotone != -1:
            raise FeatureRegistryError(
                f"feature '{self.name}' is a {self.fair_lending.replace('_', ' ')}: it may only "
                "lower risk (monotone -1) or must be left out of the registry")

    @property
    def protected(self) -> bool:
        """A prohibited basis or a close proxy: never an adverse-action reason."""
        return bool(self.fair_lending)


def _f(name: str, monotone: int, description: str, reason: str,
       sources: tuple[str, ...] | None = None, **flags: object) -> FeatureSpec:
    return FeatureSpec(name, "float", monotone, description, reason, sources or (name,),
                       **flags)  # type: ignore[arg-type]


def _c(name: str, categories: Sequence[str], description: str, reason: str) -> FeatureSpec:
    return FeatureSpec(name, "category", 0, description, reason, (name,), tuple(categories))


FEATURES: tuple[FeatureSpec, ...] = (
    # Loan structure: with PTI the most telling variables in auto lending.
    _f("ltv", +1, "Loan-to-value: loan amount / vehicle price",
       "Loan amount high relative to vehicle value", ("loan_amount", "vehicle_price")),
    _f("pti", +1, "Payment-to-income: monthly payment / (annual income / 12)",
       "Car payment high relative to income", ("monthly_payment", "annual_income")),
    _f("dti", +1, "Back-end debt-to-income: (other monthly debt + this payment) / monthly income",
       "Total debt payments high relative to income",
       ("monthly_debt", "monthly_payment", "annual_income")),
    _f("down_payment_share", -1, "Down payment / vehicle price",
       "Down payment small relative to vehicle price", ("down_payment", "vehicle_price")),
    _f("term_months", 0, "Loan term in months", "Loan term"),
    # The offered rate is priced from the previous model's grade: a policy output, not an input.
    _f("rate_spread", +1,
       "Interest rate minus a fixed benchmark rate for the term (features.build.RATE_BENCHMARK)",
       "Interest rate high for the loan term", ("interest_rate", "term_months"),
       policy_output=True),
    # Vehicle.
    _f("vehicle_age_years", +1, "Vehicle age in years (0 for new)", "Age of the vehicle"),
    _f("is_used", +1, "1 if the vehicle is used, 0 if new", "Used vehicle",
       ("vehicle_condition",)),
    _f("log_vehicle_price", 0, "Natural log of the vehicle price", "Vehicle price",
       ("vehicle_price",)),
    # Applicant and bureau.
    _f("log_annual_income", -1, "Natural log of the stated annual income", "Income too low",
       ("annual_income",)),
    _f("bureau_score", -1, "Credit bureau score at application", "Credit bureau score too low"),
    _f("inquiries_6m", +1, "Credit inquiries in the last 6 months",
       "Too many recent credit inquiries"),
    _f("delinquencies_2y", +1, "Delinquencies reported in the last 2 years",
       "Recent delinquencies on credit file"),
    _f("revolving_utilization", +1, "Revolving balance / revolving limit",
       "Revolving credit utilisation too high"),
    _f("open_trades", 0, "Number of open credit trades", "Number of open credit accounts"),
    _f("employment_years", -1, "Years with the current employer",
       "Length of employment too short"),
    # Regulation B: age may not count against an elderly applicant; here it may only lower risk.
    _f("applicant_age", -1, "Applicant age in years (may only lower risk)", "Applicant age",
       fair_lending="prohibited_basis"),
    # Dealer history: only loans matured before the application's timestamp (see build.py).
    _f("dealer_bad_rate", +1,
       "Dealer's bad rate over its loans matured before the application, smoothed toward the "
       "portfolio rate", "Loans through this dealer have performed poorly",
       DEALER_HISTORY_SOURCES),
    # A count over the last months, not since the start of the book: a cumulative count grows
    # with the book's age and leaves its training range by construction.
    _f("dealer_matured_loans_12m", 0,
       "Number of the dealer's loans that matured in the 12 months before the application "
       "(capped: features.dealer_recent_cap)",
       "Few loans through this dealer have a performance record", DEALER_HISTORY_SOURCES),
    # Categoricals, fixed category order.
    _c("housing", ("own", "mortgage", "rent", "other"), "Housing status", "Housing status"),
    _c("vehicle_segment", ("small", "compact", "midsize", "suv", "truck", "luxury"),
       "Vehicle segment", "Vehicle segment"),
    _c("dealer_channel", ("franchise", "independent", "online"), "Dealer channel",
       "Dealer channel"),
)


def feature_specs(extra_numeric: Sequence[str] = (),
                  extra_categorical: Mapping[str, Sequence[str]] | None = None,
                  allowed_policy_outputs: Collection[str] = ()) -> list[FeatureSpec]:
    """The built-in features plus a bring-your-own tape's declared extra columns. A policy
    output is left out unless named in ``allowed_policy_outputs``.

    Extras have no known direction (monotone 0) and read their own column. The categories of an
    extra categorical are fixed here (e.g. the sorted values seen in the training window) so the
    model sees the same encoding at scoring time."""
    specs = [s for s in FEATURES if not s.policy_output or s.name in allowed_policy_outputs]
    for name in extra_numeric:
        specs.append(FeatureSpec(name, "float", 0, f"Lender-supplied numeric feature '{name}'",
                                 f"{name} value", (name,)))
    for name, categories in (extra_categorical or {}).items():
        specs.append(FeatureSpec(name, "category", 0,
                                 f"Lender-supplied categorical feature '{name}'",
                                 f"{name} value", (name,), tuple(str(c) for c in categories)))
    duplicates = sorted(n for n, k in Counter(s.name for s in specs).items() if k > 1)
    if duplicates:
        raise FeatureRegistryError(f"feature name(s) declared twice: {', '.join(duplicates)} "
                                   "(an extra column may not reuse a built-in feature's name)")
    return specs


def monotone_constraints(specs: Sequence[FeatureSpec]) -> dict[str, int]:
    """``{feature: direction}`` in spec order, as XGBoost's ``monotone_constraints`` accepts."""
    return {s.name: s.monotone for s in specs}


def policy_outputs() -> list[str]:
    """Built-in features set by the lender's own pricing or policy."""
    return [s.name for s in FEATURES if s.policy_output]


def protected_features() -> list[str]:
    """Built-in prohibited bases and close proxies: never an adverse-action reason."""
    return [s.name for s in FEATURES if s.protected]
