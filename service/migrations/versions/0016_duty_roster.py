"""duty_shifts (值班表: who is on duty, and which leader leads the shift)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per held shift (白班 day / 夜班 night) of a day; a shift nobody holds has no row.
    op.create_table(
        "duty_shifts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("officer", sa.String(64), nullable=False),
        sa.Column("leader", sa.String(64), nullable=True),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('day', 'night')", name="ck_duty_shifts_kind"),
        # The only index, and it is unique: a shift has one roster entry (an import, or two
        # managers saving at once, cannot double it). It serves every read too: a month page and
        # an important period's coverage are ranges on `day` (its prefix), the on-duty lookup of
        # an emergency report is an exact (day, kind).
        sa.UniqueConstraint("day", "kind", name="uq_duty_shifts_day_kind"),
    )


def downgrade() -> None:
    op.drop_table("duty_shifts")
