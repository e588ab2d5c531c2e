"""important_periods (重要时期: the date ranges daily rounds run in)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "important_periods",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("last_day >= first_day", name="ck_important_periods_range"),
    )
    # the schedule reads only the periods not over before its catch-up window, at every poll
    op.create_index("ix_important_periods_last_day", "important_periods", ["last_day"])


def downgrade() -> None:
    op.drop_index("ix_important_periods_last_day", table_name="important_periods")
    op.drop_table("important_periods")
