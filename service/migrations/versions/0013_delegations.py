"""delegations (委托 while away)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("delegator", sa.String(64), nullable=False),
        sa.Column("delegate", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_delegations_delegate_ends", "delegations", ["delegate", "ends_at"])
    op.create_index("ix_delegations_delegator_ends", "delegations", ["delegator", "ends_at"])
    # the delegate acting for the delegator: history.username is the delegate, this the delegator
    # a plain ALTER TABLE ADD COLUMN (no table copy on SQLite: the history is the largest table)
    op.add_column("history", sa.Column("on_behalf_of", sa.String(64), nullable=True))
    op.create_index("ix_history_on_behalf_of", "history", ["on_behalf_of", "at"])


def downgrade() -> None:
    op.drop_index("ix_history_on_behalf_of", table_name="history")
    with op.batch_alter_table("history") as batch:
        batch.drop_column("on_behalf_of")
    op.drop_index("ix_delegations_delegator_ends", table_name="delegations")
    op.drop_index("ix_delegations_delegate_ends", table_name="delegations")
    op.drop_table("delegations")
