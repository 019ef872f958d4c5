"""The PD model as pure functions: metrics, score scaling, calibration, fitting (XGBoost + Optuna),
the logistic baseline, reason codes, plots, the model card, and ``registry`` (the only module that
talks to MLflow). Nothing here imports pipelines/, flows/ or Prefect."""
