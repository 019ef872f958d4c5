"""Stage: a lender's files into the warehouse, through the validation gate.

- ``load``: read a CSV or Parquet tape (chunked), map, coerce, gate and write it in one
  transaction.
- ``mapping``: the YAML mapping from a lender's columns, formats and status words to ours.
- ``formats``: the mapping's value formats (dates, amounts, percentages, flags, a label's
  words) read column by column, vectorised; what does not read is quarantined by rule.
- ``dry_run``: ``validate_file``, a file through the gate without loading it.
"""
