"""Stage: daily batch scoring, idempotent and atomic per business date.

- ``run``: ``score_day``, the entry point: the date's lock and transaction, the chunks written,
  the day's gate verdict, the run manifest.
- ``chunks``: planning a day as id ranges, scoring one chunk (gate, features, PD, points,
  decision, reason codes); pure, so a caller may map chunks in parallel.
- ``models``: the champion, the shadow challenger and the EPD family's champion, the signature
  check, cut-offs, policy.
- ``combine``: the champion's decisions combined with the EPD model by the configured rules.
- ``summary``: ``ScoreResult`` and the run's summary as a person reads it.
- ``collections``: the monthly collections queue, a month end's open delinquent loans scored by
  the roll-forward champion, by expected loss, with a suggested stage.

Its SQL lives in ``pipelines.warehouse.scoring``.
"""
