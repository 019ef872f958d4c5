"""Stage: champion/challenger promotion on evidence from the same out-of-time window.

The challenger replaces the champion only after BOTH are re-scored on the same recent out-of-time
window with matured labels, never each judged by its own logged metric. The rules themselves are
pure and live in ``models.promotion_rules``; the statements in ``pipelines.warehouse.promotion``.

- ``decide``: ``decide`` judges the challenger against the champion (reads only).
- ``versions``: the registry's aliases, the challenger's validity, the champion to compare with.
- ``evidence``: the promotion window, both models' metrics with paired-bootstrap intervals, the
  shadow period.
- ``decision``: ``PromotionDecision`` (the audit record), its markdown, the promotion errors.
- ``apply``: ``apply_decision`` moves the aliases under a lock and records; ``promote_challenger``
  = ``decide`` + ``apply_decision``.
- ``audit``: the record (audit row, run artifact, version tags, promotion run); settling the rows
  a killed promotion left.
- ``rollback``: ``rollback_champion`` puts ``previous`` back as champion, on record.
"""
