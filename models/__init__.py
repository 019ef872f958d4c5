"""The PD model as pure functions: metrics, score scaling, calibration, fitting (XGBoost + Optuna),
the logistic baseline, reason codes, the scoring policy, plots, the model card, ``registry`` and
``serving`` (the registered model as MLflow serves it): the only modules that talk to MLflow.
Nothing here imports pipelines/, flows/ or Prefect."""
