"""Alembic environment of the PostGIS case register (run by ``pipeline.register_pg``)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  version_table="skypatrol_schema_version")
with context.begin_transaction():
    context.run_migrations()
