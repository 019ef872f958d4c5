"""Stage: the monthly collections queue. Every open delinquent loan of a month end is scored by
the roll-forward champion (family "roll", ``pipelines.core.families``) on its features from the
tape known at that month end (``features.roll``), then ordered by expected loss with a suggested
stage (``models.collections``: rules from ``collections.stages``), and written to
``collections_queue``: the month end's rows replaced in one transaction, so a rerun with the same
champion leaves the same rows.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pandas as pd

from features.roll import BUCKET_RANK, DELINQUENT_BUCKETS
from models.collections import build_queue, check_stage_rules
from pipelines.champion import Champion, current_champion
from pipelines.core.errors import CreditflowError
from pipelines.core.families import family_settings
from pipelines.core.settings import Settings
from pipelines.training.rollset import roll_rows
from pipelines.warehouse.book import latest_business_date
from pipelines.warehouse.collections import latest_tape_month, write_queue
from pipelines.warehouse.engine import Warehouse

log = logging.getLogger(__name__)
_BUCKET_OF_RANK = {rank: bucket for bucket, rank in BUCKET_RANK.items()}


class CollectionsError(CreditflowError):
    """The queue cannot be built as asked (no tape, no data date); the message says why."""


def queue_month(settings: Settings, wh: Warehouse, month_end: date | None = None,
                as_of: date | None = None) -> tuple[date, date]:
    """(the month end to queue, the data date): the given month end, or the newest tape month
    known at the data date (``as_of``, default the warehouse's newest business date)."""
    as_of = as_of or latest_business_date(wh)
    if as_of is None:
        raise CollectionsError("the warehouse holds no applications: load a book first")
    month = month_end or latest_tape_month(wh, as_of, settings.features.tape_lag_days)
    if month is None:
        raise CollectionsError(f"no repayment tape is known by {as_of}: nothing to queue")
    if not pd.Timestamp(month).is_month_end:
        raise CollectionsError(f"{month} is not a month end: the queue is built per tape month")
    return month, as_of


def build_collections_queue(settings: Settings, wh: Warehouse, month_end: date | None = None,
                            as_of: date | None = None,
                            champion: Champion | None = None) -> dict[str, Any]:
    """Score the month end's open delinquent loans with the roll champion (or the ``champion``
    given) and write its queue; returns what was written (month, champion version, loans,
    expected loss, loans per stage)."""
    c = settings.collections
    check_stage_rules(c.stages, DELINQUENT_BUCKETS)
    month, as_of = queue_month(settings, wh, month_end, as_of)
    champion = champion or current_champion(family_settings(settings, "roll"), reference=False)
    rows, _ = roll_rows(settings, wh, month, month, as_of)
    loans = pd.DataFrame({
        "loan_id": rows["loan_id"].to_numpy(),
        "dpd_bucket": rows["bucket_rank"].map(_BUCKET_OF_RANK).to_numpy(),
        "months_on_book": rows["months_on_book"].astype("int64").to_numpy(),
        "balance": rows["balance"].to_numpy()})
    probability = (champion.model.predict_pd(rows[champion.model.feature_names])
                   if len(rows) else [])
    queue = build_queue(loans, probability, c.lgd, c.stages, c.default_stage).assign(
        model_name=champion.name, model_version=champion.version)
    written = write_queue(wh, month, queue)
    out = {"month_end": month.isoformat(), "as_of": pd.Timestamp(as_of).date().isoformat(),
           "model": champion.name, "version": champion.version, "loans": written,
           "expected_loss": round(float(queue["expected_loss"].sum()), 2),
           "stages": {str(k): int(v) for k, v in queue["stage"].value_counts().items()}}
    log.info("collections queue %s: %s", month, out)
    return out
