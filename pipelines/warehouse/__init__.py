"""The data-access layer: the engine, the schema, its migrations and the readers.

- ``engine``: ``Warehouse`` (connections, idempotent upserts, typed reads), one per URL.
- ``schema``: every table and column; ``migrations/``: Alembic revisions of it.
- ``history``: applications (their JSON ``extra`` unpacked) and matured loan outcomes as the
  features need them.
- ``tape_cache``: tape-derived reads kept per process while the tape is unchanged.
- ``monitoring``: monitoring's reads and writes: window scores, metrics, its manifest rows,
  the retrain trigger, tape aggregations (roll rates, vintages, early delinquency).
- ``forecast``: the loss forecast's reads: open loans by bucket, a cohort's later charge-offs.
- ``collections``: the roll-forward model's tape reads and the ``collections_queue`` table.
- ``alerts``: the ``alerts`` table: claim, re-claim, cool-down look-back, delivery count.
- ``scoring``: the scoring run's lock, manifest, the date's application ids and scores.
- ``promotion``: the ``promotion_audit`` trail (intent, completion, settling) and the shadow
  period's score pairs.
- ``validation``: the gate's quarantine rows, ``validation_results`` rows, trailing batch sizes.
- ``book``: whole-book reads: row counts and date ranges, the newest business date, the demo
  week's scores, PSI and alerts.
- ``relocate``: a moved home's report paths rewritten in its SQLite warehouse.
"""
