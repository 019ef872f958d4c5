"""The PD model as pure functions: metrics, score scaling, calibration, fitting (XGBoost + Optuna),
the logistic baseline, reason codes, the scoring policy, plots, the model card, ``registry`` and
``serving`` (the registered model as MLflow serves it): the only modules that talk to MLflow.
Nothing here imports pipelines/, flows/ or Prefect."""

import os

# XGBoost's OpenMP threads spin while they wait by default. On a machine whose cores are all
# busy (two test workers, a Prefect server beside a run, a scoring pool) the spinning threads
# starve each other: a 300-round fit of 20,000 rows took 31 s with 2 threads against 3.4 s with
# 1 on this 2-core machine under load, and 3.7 s with 2 threads that sleep instead. The policy is
# read once, when an OpenMP runtime is loaded, hence here, before any model module imports
# XGBoost; ``pipelines`` imports this package first for the same reason. A caller's own setting
# is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
