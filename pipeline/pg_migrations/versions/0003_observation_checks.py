"""The named checks that decided each observation: ``observations.checks``.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the trail column (empty for observations recorded before it)."""
    op.execute("ALTER TABLE observations ADD COLUMN checks text")


def downgrade() -> None:
    """Drop the trail column."""
    op.execute("ALTER TABLE observations DROP COLUMN checks")
