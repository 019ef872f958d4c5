"""Stage: the Great Expectations gate every batch passes.

- ``gate``: run a suite on a batch; quarantine failed rows, reject a failed batch; record
  both; the outcome as markdown.
- ``quarantine``: the suites read from ``expectations/``, and their row checks, each failed row
  kept with its rule, column and value.
- ``batch_checks``: batch-level expectations evaluated in pandas with GX's semantics.
- ``gx_suite``: a suite as GX expectations and results (why pandas evaluates them, measured).
- ``datadocs``: the Data Docs page of a result, every value from the data HTML-escaped.
"""
