"""membership_suspensions (停权: a member's rights in a group withheld by the administrator)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Append-only: one row per suspension or restoration of a (user, group) membership.
    op.create_table(
        "membership_suspensions",
        sa.Column("id", sa.Integer(), primary_key=True),  # the record page lists by it, newest first
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("done_by", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("action IN ('suspend', 'restore')", name="ck_membership_suspensions_action"),
        # Every request reads its user's (and delegators') rows by username, a prefix of this
        # index; and two administrators writing the same membership's next event at once collide
        # here (the second gets 409) instead of doubling it.
        sa.UniqueConstraint("username", "group_key", "seq", name="uq_membership_suspensions_seq"),
    )


def downgrade() -> None:
    op.drop_table("membership_suspensions")
