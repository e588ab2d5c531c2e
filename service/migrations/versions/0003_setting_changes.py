"""setting changes: the audit of every change an administrator makes to a setting

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "setting_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # One key's changes in time order (the audit question "what was it on that day").
    op.create_index("ix_setting_changes_key_at", "setting_changes", ["key", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_setting_changes_key_at", table_name="setting_changes")
    op.drop_table("setting_changes")
