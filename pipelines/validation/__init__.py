"""Stage: the Great Expectations gate every batch passes.

- ``gate``: run a suite on a batch; quarantine failed rows, reject a failed batch; Data Docs.
- ``batch_checks``: batch-level expectations evaluated in pandas with GX's semantics.
- ``quarantine``: row checks of a suite, each failed row kept with its rule, column and value.
"""
