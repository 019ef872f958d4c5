"""The core every stage stands on: nothing here knows about credit.

- ``settings``: the one settings object (environment, ``creditflow.toml``, defaults).
- ``errors``: ``CreditflowError``, the errors a user can act on (the CLI prints them as one line).
- ``calendar``: business dates, month ends and the training windows they bound.
- ``privacy``: keyed pseudonyms of applicant ids for anything that leaves the warehouse.
- ``home``: the home folder (Prefect's and MLflow's places in it); a home can be copied or moved.
- ``text``: values as stored text (a row's natural key, escaped bytes).
- ``yaml_input``: YAML from users (mappings, suites), loaded safely.
- ``families``: the model families (the PD model, the early-payment-default model, the
  collections roll-forward model): each a registered name, a target and an experiment, run by
  the same training and promotion code.
- ``config_docs``: the README's configuration reference, generated from ``settings``.
"""
