"""creditflow's stages as plain functions, each callable without Prefect.

- ``core``: settings, errors, business calendar, privacy, the home folder.
- ``warehouse``: the data-access layer (engine, schema, migrations, readers).
- ``ingest``: a lender's files into the warehouse.
- ``validation``: the Great Expectations gate, quarantine, Data Docs.
- ``training``: fit, calibrate, evaluate, track and register the PD model.
- ``promotion``: champion/challenger on the same out-of-time window.
- ``scoring``: daily batch scoring per business date.
- ``monitoring``: drift, stability, performance, roll rates, vintages, alerts, retrain policy.
- ``champion``: the one loader of the model in production, for the stages that need it.
- ``simulation``: the simulator and the demo (no stage imports them).
"""

import models  # noqa: F401  (first: it sets the OpenMP wait policy before XGBoost loads)
