"""Stage: a lender's files into the warehouse, through the validation gate.

- ``load``: read a CSV or Parquet tape (chunked), map, coerce, gate and write it in one
  transaction.
- ``mapping``: the YAML mapping from a lender's columns, formats and status words to ours.
"""
