"""What MLflow runs to load the registered PD model (models-from-code: no pickle to trust).
Logged by models.registry next to the ``models`` package it imports."""

from mlflow.models import set_model

from models.serving import PDPyfunc

set_model(PDPyfunc())
