"""The core every stage stands on: nothing here knows about credit.

- ``settings``: the one settings object (environment, ``creditflow.toml``, defaults).
- ``errors``: ``CreditflowError``, the errors a user can act on (the CLI prints them as one line).
- ``calendar``: business dates, month ends and the training windows they bound.
- ``privacy``: keyed pseudonyms of applicant ids for anything that leaves the warehouse.
- ``home``: a home folder that can be copied or moved.
- ``yaml_input``: YAML from users (mappings, suites), loaded safely.
- ``config_docs``: the README's configuration reference, generated from ``settings``.
"""
