"""Analysts' reviews: the ``reviews`` table and the verdict columns of ``cases``.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the reviews table (append-only; an outline only for corrections and additions)."""
    op.execute("""
        CREATE TABLE reviews (
            id bigserial PRIMARY KEY, review_id text NOT NULL UNIQUE, task_id text NOT NULL,
            survey_id text NOT NULL, action text NOT NULL, reason text, category text,
            object_class text, reviewer text NOT NULL, reviewed_at text NOT NULL, note text,
            parcel_id text, district text, squad text, geometry geometry);
        CREATE INDEX reviews_task ON reviews (task_id);
        ALTER TABLE cases ADD COLUMN review text, ADD COLUMN reviewed_by text,
            ADD COLUMN reviewed_at text;
    """)


def downgrade() -> None:
    """Drop the reviews table and the verdict columns."""
    op.execute("""
        DROP TABLE reviews;
        ALTER TABLE cases DROP COLUMN review, DROP COLUMN reviewed_by, DROP COLUMN reviewed_at;
    """)
