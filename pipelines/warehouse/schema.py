"""The warehouse tables. Natural keys are primary keys or unique constraints, so a rerun replaces
rows instead of adding them. Migrations in ``pipelines/warehouse/migrations`` are generated from
this."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Application columns and their warehouse types; the simulator, ingest, the validation suite and the
# feature registry all speak these names.
APPLICATION_COLUMNS: dict[str, str] = {
    "application_id": "str",
    "application_ts": "datetime",
    "business_date": "date",
    "applicant_age": "float",
    "annual_income": "float",
    "employment_years": "float",
    "housing": "str",
    "vehicle_condition": "str",
    "vehicle_price": "float",
    "vehicle_age_years": "float",
    "vehicle_segment": "str",
    "dealer_id": "str",
    "dealer_region": "str",
    "dealer_channel": "str",
    "loan_amount": "float",
    "down_payment": "float",
    "term_months": "int",
    "interest_rate": "float",
    "monthly_payment": "float",
    "monthly_debt": "float",
    "bureau_score": "float",
    "inquiries_6m": "float",
    "delinquencies_2y": "float",
    "open_trades": "float",
    "revolving_utilization": "float",
}
CATEGORIES: dict[str, list[str]] = {
    "housing": ["own", "mortgage", "rent", "other"],
    "vehicle_condition": ["new", "used"],
    "vehicle_segment": ["small", "compact", "midsize", "suv", "truck", "luxury"],
    "dealer_channel": ["franchise", "independent", "online"],
    "dealer_region": ["north", "south", "east", "west", "central"],
}
# A repayment tape row: one loan at one month end.
REPAYMENT_COLUMNS: dict[str, str] = {
    "loan_id": "str",
    "as_of_month": "date",
    "months_on_book": "int",
    "dpd_bucket": "str",
    "balance": "float",
    "status": "str",
}
DPD_BUCKETS = ["current", "1-30", "31-60", "61-90", "90+", "charge-off"]
LOAN_STATUSES = ["open", "paid_off", "charged_off", "repossessed"]
# Buckets that make a loan bad when reached inside the performance window (the configured
# ``features.bad_bucket`` and worse), and statuses that make it bad at whatever bucket it is in:
# an auto loan is often repossessed or charged off at 61-90 days.
BAD_BUCKETS = ("90+", "charge-off")
BAD_STATUSES = ("charged_off", "repossessed")
# Statuses that close a loan's tape: a tape that stops without one is unobserved, not good.
CLOSING_STATUSES = ("paid_off", "charged_off", "repossessed")

_SQL_TYPES = {"str": String(64), "datetime": DateTime, "date": Date, "float": Float,
              "int": Integer}


def _columns(spec: dict[str, str], key: str) -> list[Column]:
    return [Column(name, _SQL_TYPES[kind], primary_key=(name == key),
                   nullable=(name != key)) for name, kind in spec.items()]


applications = Table(
    "applications", metadata,
    *_columns(APPLICATION_COLUMNS, "application_id"),
    Column("known_bad", Integer, nullable=True),  # BYO tapes with a final label already known
    Column("extra", Text, nullable=True),  # JSON of mapped extra feature columns
    Column("batch_id", String(64), nullable=False),
    # a scoring chunk: one date's id range, in id order (migration 0006)
    Index("ix_applications_business_date_id", "business_date", "application_id"),
)

loans = Table(
    "loans", metadata,
    Column("loan_id", String(64), primary_key=True),
    Column("application_id", String(64), nullable=False, unique=True),
    Column("origination_date", Date, nullable=False),
    Column("dealer_id", String(64), nullable=True),
    Column("loan_amount", Float, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("interest_rate", Float, nullable=False),
    Column("monthly_payment", Float, nullable=False),
    Column("batch_id", String(64), nullable=False),
    Index("ix_loans_origination_date", "origination_date"),
)

repayments = Table(
    "repayments", metadata,
    Column("loan_id", String(64), primary_key=True),
    Column("as_of_month", Date, primary_key=True),
    Column("months_on_book", Integer, nullable=False),
    Column("dpd_bucket", String(16), nullable=False),
    Column("balance", Float, nullable=False),
    Column("status", String(16), nullable=False),
    # When the row became known (its load date for a daily feed); NULL: its month end plus
    # ``features.tape_lag_days``. Point-in-time features and labels use only rows known by then.
    Column("known_at", Date, nullable=True),
    Column("batch_id", String(64), nullable=False),
    # month first: the per-month reads and the arrival of each tape month read the index alone;
    # known_at first: "the latest tape arrival by a date", asked every business day
    Index("ix_repayments_month_known", "as_of_month", "known_at"),
    Index("ix_repayments_known_at", "known_at", "as_of_month"),
)

# The book's data contract: the warehouse columns this lender provides, per kind, declared by
# the first batch that brought each (pipelines.validation.contract).
book_contract = Table(
    "book_contract", metadata,
    Column("kind", String(32), primary_key=True),
    Column("column_name", String(64), primary_key=True),
    Column("declared_by", String(64), nullable=False),
    Column("declared_at", DateTime, nullable=False),
)

scores = Table(
    "scores", metadata,
    Column("application_id", String(64), primary_key=True),
    Column("model_version", String(32), primary_key=True),
    Column("role", String(16), primary_key=True),  # champion | shadow
    Column("model_name", String(128), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("pd", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reason_1", String(64), nullable=True),
    Column("reason_2", String(64), nullable=True),
    Column("reason_3", String(64), nullable=True),
    # the notice texts of the codes, as the reason-code table read them when scored
    Column("reason_text_1", String(256), nullable=True),
    Column("reason_text_2", String(256), nullable=True),
    Column("reason_text_3", String(256), nullable=True),
    Column("run_id", String(64), nullable=False),
    Column("scored_at", DateTime, nullable=False),
    # 1: approved by the policy holdout although below the approve cut-off (models.holdout)
    Column("holdout", Integer, nullable=True),
    Index("ix_scores_business_date", "business_date", "role"),
)

quarantine = Table(
    "quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("record_key", String(64), nullable=True),
    Column("rule", String(128), nullable=False),
    Column("column_name", String(128), nullable=False),
    Column("value", Text, nullable=True),
    Column("payload", Text, nullable=True),  # the whole row as JSON, so nothing is lost
    Column("quarantined_at", DateTime, nullable=False),
    UniqueConstraint("batch_id", "row_number", "rule", "column_name", name="uq_quarantine_row"),
)

validation_results = Table(
    "validation_results", metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("suite", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # passed | quarantined | rejected
    Column("rows_in", Integer, nullable=False),
    Column("rows_passed", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("expectations_evaluated", Integer, nullable=False),
    Column("expectations_failed", Integer, nullable=False),
    Column("details", Text, nullable=True),
    Column("report_path", Text, nullable=True),
    Column("validated_at", DateTime, nullable=False),
)

run_manifest = Table(
    "run_manifest", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),  # ingest | score | train | monitor | ...
    Column("business_date", Date, nullable=True),
    Column("status", String(16), nullable=False),  # running | completed | failed
    Column("model_version", String(32), nullable=True),
    Column("counts", Text, nullable=True),  # JSON
    Column("details", Text, nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Index("ix_run_manifest_kind_date", "kind", "business_date"),
)

# One row per (kind, business date) that is being or has been processed: the lock that keeps two
# runs of the same day from both writing.
run_locks = Table(
    "run_locks", metadata,
    Column("kind", String(32), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

promotion_audit = Table(
    "promotion_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_name", String(128), nullable=False),
    Column("challenger_version", String(32), nullable=True),
    Column("champion_version", String(32), nullable=True),
    Column("decision", String(32), nullable=False),  # promoted | refused | rollback
    Column("triggered_by", String(128), nullable=False),
    Column("record", Text, nullable=False),  # the full JSON audit record
    Column("decided_at", DateTime, nullable=False),
)

# The monthly collections queue (pipelines.collections.queue): each open delinquent loan of a
# month end with its roll-forward probability, expected loss and suggested stage; rewritten
# whole per month end (a rerun leaves the same rows).
collections_queue = Table(
    "collections_queue", metadata,
    Column("month_end", Date, primary_key=True),
    Column("loan_id", String(64), primary_key=True),
    Column("queue_rank", Integer, nullable=False),  # 1 = the largest expected loss
    Column("dpd_bucket", String(16), nullable=False),
    Column("months_on_book", Integer, nullable=False),
    Column("balance", Float, nullable=False),
    Column("roll_probability", Float, nullable=False),
    Column("expected_loss", Float, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(32), nullable=False),
)

monitoring_metrics = Table(
    "monitoring_metrics", metadata,
    Column("business_date", Date, primary_key=True),
    Column("metric", String(64), primary_key=True),
    Column("segment", String(128), primary_key=True),  # "all" or e.g. "dealer_id=D0042"
    Column("value", Float, nullable=True),
    Column("band", String(16), nullable=True),  # stable | watch | shift | alert | ok
    Column("window_start", Date, nullable=True),
    Column("window_end", Date, nullable=True),
    Column("details", Text, nullable=True),
)

alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("condition_key", String(128), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("delivered", Integer, nullable=False),
    Column("suppressed", Integer, nullable=False),  # inside the cool-down: stored, not sent
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("condition_key", "business_date", name="uq_alert_condition_day"),
)
