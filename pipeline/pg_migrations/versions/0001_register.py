"""The case register's tables: observations, surveys, cases, squad results, and its CRS.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the register's tables (PostGIS geometry in the register's one CRS)."""
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("""
        CREATE TABLE register_meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE observations (
            id bigserial PRIMARY KEY, task_id text NOT NULL, survey_id text NOT NULL,
            survey_date text NOT NULL, category text NOT NULL, object_class text,
            area_m2 double precision, confidence double precision, parcel_id text,
            district text, squad text, source text, geometry geometry);
        CREATE INDEX observations_survey ON observations (survey_id);
        CREATE INDEX observations_task ON observations (task_id);
        CREATE INDEX observations_geom ON observations USING gist (geometry);
        CREATE TABLE surveys (
            survey_id text PRIMARY KEY, survey_date text NOT NULL, processed_at text,
            n_inputs integer, imagery text, geometry geometry);
        CREATE TABLE cases (
            task_id text PRIMARY KEY, category text, object_class text, status text,
            first_seen text, last_seen text, surveys text, n_surveys integer,
            area_m2 double precision, first_area_m2 double precision,
            max_area_m2 double precision, resolved_on text, resolved_by text, parcel_id text,
            district text, squad text, squad_result text, squad_result_date text,
            squad_note text, geometry geometry);
        CREATE INDEX cases_geom ON cases USING gist (geometry);
        CREATE TABLE squad_results (
            id bigserial PRIMARY KEY, task_id text NOT NULL, result text NOT NULL,
            result_date text, note text, imported_at text, source text, photo text);
    """)


def downgrade() -> None:
    """Drop the register's tables."""
    op.execute("DROP TABLE squad_results, cases, surveys, observations, register_meta")
