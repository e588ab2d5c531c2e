"""search: saved filters per user and searchable case fields

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Cases registered before this revision get their keys from `govflow rebuild-read-models`
    # (the hash needs the installation's secret, which a migration does not have).
    op.create_table(
        "case_search_keys",
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "key"),
    )
    op.create_index("ix_case_search_keys_key_hash", "case_search_keys", ["key", "value_hash"])
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("username", "name", name="uq_saved_filters_user_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_filters")
    op.drop_index("ix_case_search_keys_key_hash", table_name="case_search_keys")
    op.drop_table("case_search_keys")
