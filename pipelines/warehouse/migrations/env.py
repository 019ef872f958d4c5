"""Alembic environment: always given a live connection by ``Warehouse.init``."""

from alembic import context

from pipelines.warehouse.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    from pipelines.core.settings import get_settings
    from pipelines.warehouse.engine import make_engine

    connection = make_engine(get_settings().warehouse).connect()

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
