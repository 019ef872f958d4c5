"""Each stage's section of the settings, with its defaults: every threshold a risk analyst
reads (validation, features, training, scoring cut-offs, promotion rules, early payment default,
collections, monitoring) in one file. ``pipelines.core.settings`` gathers them into one object.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class SimulateSettings(BaseModel):
    n_applications: int = 120_000
    start: date = date(2021, 1, 1)
    end: date = date(2025, 6, 30)
    default_rate: float = 0.06
    n_dealers: int = 300
    scenario: Literal["none", "used_car_mix", "income_shock", "dealer_fraud",
                      "ranking_shift"] = "none"
    scenario_start: date | None = None


class IngestSettings(BaseModel):
    chunk_rows: int = 100_000


class ValidationSettings(BaseModel):
    row_count_band: tuple[float, float] = (0.2, 5.0)
    trailing_batches: int = 14
    min_trailing_batches: int = 3
    max_null_share: float = 0.05
    max_duplicate_key_share: float = 0.001
    min_applicant_age: int = 18
    max_applicant_age: int = 100
    max_ltv: float = 3.0
    max_pti: float = 1.0
    bureau_score_range: tuple[int, int] = (300, 850)
    max_future_minutes: int = 0
    max_quarantine_share: float = 0.5
    term_months_range: tuple[int, int] = (6, 120)
    interest_rate_range: tuple[float, float] = (0.0, 0.6)
    annual_income_range: tuple[float, float] = (0.0, 10_000_000.0)
    data_docs: Literal["always", "on_issue", "never"] = "always"
    suites_dir: Path | None = None


class EarlyTargetSettings(BaseModel):
    """The early-performance target: a label that matures in months, not a year (bad = this
    bucket or worse, or a charge-off/repo status, within ``months`` on book; same maturity
    rules as the main label). ``bridge_vintages``: the latest 12-month matured vintages on which
    its relation to the main label is measured."""

    bad_bucket: str = "61-90"  # 60+ days past due
    months: int = Field(default=6, ge=1)
    bridge_vintages: int = Field(default=6, ge=1)


class FeatureSettings(BaseModel):
    performance_window_months: int = 12
    bad_bucket: str = "90+"  # this delinquency bucket or worse, or a charge-off/repo status
    tape_lag_days: int = Field(default=0, ge=0)  # a tape row without a load date: known then
    dealer_prior_strength: float = 50.0
    base_rate: float = 0.06
    leakage_denylist: list[str] = Field(
        default_factory=lambda: [
            "payments_made", "total_paid", "balance", "current_balance", "outstanding_balance",
            "recoveries", "recovery_amount", "chargeoff_amount", "charge_off_amount",
            "last_payment_date", "last_payment_amount", "dpd", "dpd_bucket", "days_past_due",
            "months_on_book", "status", "loan_status", "default_date", "chargeoff_date",
            "bureau_score_current", "refreshed_bureau_score", "outcome_date", "bad", "target",
        ]
    )
    # Features set by the lender's own pricing (features.registry policy_output) that may still
    # be model inputs; empty: none is (the offered rate is priced from the last model's grade).
    allowed_policy_outputs: list[str] = Field(default_factory=list)
    # dealer experience counts the dealer's loans matured in this many months before the
    # application: a count over the whole book would grow with its age
    dealer_recent_months: int = Field(default=12, ge=1)
    dealer_recent_cap: float = Field(default=500.0, gt=0)  # more history says nothing new
    early: EarlyTargetSettings = EarlyTargetSettings()


class TrainingSettings(BaseModel):
    train_end: date | None = None
    train_months: int = 24
    early_stopping_months: int = 2
    calibration_months: int = 2
    oot_months: int = 3
    calibration: Literal["isotonic", "platt"] = "platt"
    # a recalibration challenger's calibrator is fitted on this share of the newest
    # early-matured applications (by a keyed hash of the id) and judged on the rest
    recalibration_share: float = Field(default=0.5, gt=0.0, lt=1.0)
    max_depth: int = 4
    learning_rate: float = 0.05
    n_estimators: int = 600
    early_stopping_rounds: int = 40
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    nthread: int = 2
    min_feature_coverage: float = Field(default=0.05, ge=0.0, le=1.0)  # else left out
    hpo_trials: int = 0
    hpo_timeout_s: int = 300
    # from this many training-window rows the booster trains on xgboost.dask (models.fit_dask)
    dask_min_rows: int | None = Field(default=None, ge=0)
    registered_model_name: str = "creditflow-pd"
    experiment_name: str = "creditflow-training"


class ScoringSettings(BaseModel):
    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    approve_at: float = 570.0
    decline_below: float = 535.0
    target_approval_rate: float | None = None
    reason_codes: int = 3
    # The adverse-action reason-code table a compliance officer edits (code, notice text, the
    # features it covers); default: the project's reason_codes.yaml
    reason_codes_file: Path | None = None
    exact_contributions: bool = True
    chunk_rows: int = 100_000
    dask_address: str | None = None
    dask_workers: int = 2
    # A scheduled run first scores the dates of this many days before its own that have
    # applications but no completed run (data that arrived after their own run failed).
    catch_up_days: int = 7
    # Policy holdout (models.holdout): this share of the applications below the approve cut-off
    # is approved anyway and flagged, for unbiased outcomes below the cut-off. 0: off.
    holdout_share: float = Field(default=0.0, ge=0.0, le=0.2)


class PromotionSettings(BaseModel):
    min_auc_uplift: float = 0.002
    bootstrap_samples: int = 300
    ci_level: float = 0.95
    ks_tolerance: float = 0.01
    brier_tolerance: float = 0.002
    ece_tolerance: float = 0.01
    max_approval_rate_shift: float = 0.05
    oot_months: int = 3
    # Absolute gates, the first model included (models.promotion_rules.absolute_rules):
    # OOT AUC above the logistic baseline's, same window; the demo's first model: +0.0084
    min_baseline_auc_uplift: float = 0.005
    max_ece: float = 0.03  # expected calibration error on the promotion window
    max_mean_pd_gap: float = 0.25  # |mean PD / realised bad rate - 1| on that window
    reason_sample_rows: int = 1_000  # rows whose reasons both models give (reason stability)


class EpdRule(BaseModel):
    """One rule of the decision policy that combines the PD decision with the early-payment-
    default model (``models.combine``): an application the PD decided ``decision`` whose EPD is
    at or above ``epd_at_least`` is decided ``then``; ``reason`` (a code) and ``text`` are
    stored with its score."""

    decision: Literal["approve", "review", "decline"] = "approve"
    epd_at_least: float = Field(gt=0.0, le=1.0)
    then: Literal["approve", "review", "decline"] = "review"
    reason: str = Field(default="EPD_HIGH", min_length=1, max_length=64)
    text: str = Field(default="Application referred: high risk of early payment default",
                      max_length=256)


class EpdSettings(BaseModel):
    """The early-payment-default model (the auto lender's fraud proxy), a model family of its
    own (``pipelines.core.families``): its label is bad = this bucket or worse (or a charge-off
    / repo status) within ``months`` on book, by the one outcome definition; its registered
    name and experiment; the rules combining it with the PD decision (first match wins)."""

    bad_bucket: str = "61-90"  # 60+ days past due
    months: int = Field(default=3, ge=1)
    registered_model_name: str = "creditflow-epd"
    experiment_name: str = "creditflow-epd"
    rules: list[EpdRule] = Field(default_factory=lambda: [EpdRule(epd_at_least=0.05)])


class CollectionsStageRule(BaseModel):
    """One rule of the collections queue's suggested stage (``models.collections``): a loan in
    one of ``buckets`` whose roll-forward probability is at or above ``roll_at_least`` goes to
    ``stage``; the first matching rule wins, a loan no rule matches gets ``collections.
    default_stage``."""

    stage: str = Field(min_length=1, max_length=32)
    buckets: list[str] = Field(min_length=1)
    roll_at_least: float = Field(default=0.0, ge=0.0, le=1.0)


def _default_stages() -> list[CollectionsStageRule]:
    return [CollectionsStageRule(stage="legal", buckets=["90+"]),
            CollectionsStageRule(stage="field", buckets=["61-90"]),
            CollectionsStageRule(stage="field", buckets=["31-60"], roll_at_least=0.5),
            CollectionsStageRule(stage="soft_contact", buckets=["1-30", "31-60"])]


class CollectionsSettings(BaseModel):
    """The collections roll-forward model, a model family of its own
    (``pipelines.core.families``): P(an open delinquent loan rolls to a worse bucket next
    month) from its tape up to the month end; and the monthly queue built from it."""

    registered_model_name: str = "creditflow-roll"
    experiment_name: str = "creditflow-roll"
    history_months: int = Field(default=6, ge=2, le=24)  # tape months behind each month end
    lgd: float = Field(default=0.45, gt=0.0, le=1.0)  # loss given default on the balance
    # the promotion gate's calibration bound for this family: a roll rate near one half measured
    # on ~1,000 loans of a three-month window has binomial noise of 0.02-0.04 in ECE
    max_ece: float = Field(default=0.05, gt=0.0, le=1.0)
    stages: list[CollectionsStageRule] = Field(default_factory=_default_stages)
    default_stage: str = Field(default="soft_contact", min_length=1, max_length=32)


class MonitoringSettings(BaseModel):
    window_days: int = 14
    min_window_rows: int = 500
    psi_bins: int = 10
    psi_epsilon: float = 1e-4
    psi_bands: tuple[float, float] = (0.10, 0.25)
    trend_features: list[str] = Field(default_factory=list)
    max_out_of_range_share: float = 0.05  # a feature's scoring values outside its training range
    drift_share_threshold: float = 0.3
    evidently_sample_rows: int = 5_000
    evidently_method: str | None = None
    evidently_when: Literal["always", "watch", "shift"] = "shift"
    evidently_every_days: int = 7
    auc_margin: float = 0.05
    realised_vintages: int = 3
    realised_min_bads: int = 50
    bad_rate_factor: float = 1.25
    bad_rate_alpha: float = 0.001
    roll_rate_factor: float = 1.25
    roll_rate_alpha: float = 0.001
    roll_rate_min_loans: int = 100
    roll_rate_baseline_months: int = 6
    loss_forecast_months: int = Field(default=6, ge=1)  # charge-offs projected this far ahead
    vintage_months: int = 12
    early_delinquency_mob: int = 3
    early_delinquency_bucket: Literal["1-30", "31-60", "61-90", "90+"] = "31-60"
    early_delinquency_recent_months: int = 3
    early_delinquency_baseline_months: int = 6
    early_delinquency_factor: float = 1.25
    early_delinquency_alpha: float = 0.001
    dealer_factor: float = 2.0
    dealer_alpha: float = 0.01
    dealer_min_events: int = 5
    retrain_cooldown_days: int = 30
    # Fair-lending report (models.fairness): age bands start at these ages (the first band from
    # the youngest applicant), proxy segments among the application columns present
    age_bands: list[int] = Field(default_factory=lambda: [25, 35, 45, 62])
    fairness_segments: list[str] = Field(
        default_factory=lambda: ["dealer_region", "dealer_channel", "housing"])
    adverse_impact_floor: float = 0.8  # a group's approval rate / the most favoured group's
    fairness_min_group_rows: int = 100  # smaller groups are reported without a verdict
    experiment_name: str = "monitoring"
