"""Stage: daily batch scoring, idempotent and atomic per business date.

- ``score``: plan chunks, gate, score (PD, points, decision, reason codes), write, manifest.
"""
