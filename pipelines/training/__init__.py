"""Stage: train, calibrate and evaluate the PD model, and put it on record in MLflow.

- ``trainset``: training windows and the matured, labelled rows in them.
- ``rollset``: the collections roll-forward model's rows (open delinquent loans per month end)
  in the same windows.
- ``train``: fit (with optional HPO) and calibrate; ``train_model`` runs the whole sequence,
  each step through a wrapper (direct calls, or the ``training`` flow's Prefect tasks).
- ``evaluate``: out-of-time metrics beside the logistic baseline.
- ``track``: the MLflow run (params, metrics, plots, model card, datasets) and registration.
- ``early``: the early-performance target's labels and its bridge to the 12-month label.
- ``recalibrate``: the recalibration challenger (the champion's booster, its calibrator refitted
  on the newest early-matured vintages and bridged to the 12-month scale).
"""
