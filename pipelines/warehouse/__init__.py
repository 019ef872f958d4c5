"""The data-access layer: the engine, the schema, its migrations and the readers.

- ``engine``: ``Warehouse`` (connections, idempotent upserts, typed reads), one per URL.
- ``schema``: every table and column; ``migrations/``: Alembic revisions of it.
- ``history``: applications and matured loan outcomes as the features need them.
- ``tape_cache``: tape-derived reads kept per process while the tape is unchanged.
- ``monitoring``: monitoring's reads and writes: window scores, metrics, its manifest rows,
  the retrain trigger, tape aggregations (roll rates, vintages, early delinquency).
- ``alerts``: the ``alerts`` table: claim, re-claim, cool-down look-back, delivery count.
- ``scoring``: the scoring run's lock, manifest, the date's application ids and scores.
- ``promotion``: the ``promotion_audit`` trail (intent, completion, settling) and the shadow
  period's score pairs.
"""
