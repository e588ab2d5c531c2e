"""read models (rows a procedure keeps for itself) and the groups handling each case

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_rows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("row_key", sa.String(length=200), nullable=False),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=True),
        sa.Column("sort_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("model", "row_key", name="uq_read_rows_model_key"),
    )
    op.create_index("ix_read_rows_model_tag_sort", "read_rows", ["model", "tag", "sort_at"])
    op.create_index("ix_read_rows_instance", "read_rows", ["instance_id"])
    op.create_table(
        "instance_groups",
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_key", sa.String(length=64), primary_key=True),
    )
    op.create_index("ix_instance_groups_group", "instance_groups", ["group_key", "instance_id"])
    # the cases handed to one unit so far
    op.execute("INSERT INTO instance_groups (instance_id, group_key) "
               "SELECT id, handling_group FROM instances WHERE handling_group IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_instance_groups_group", table_name="instance_groups")
    op.drop_table("instance_groups")
    op.drop_index("ix_read_rows_instance", table_name="read_rows")
    op.drop_index("ix_read_rows_model_tag_sort", table_name="read_rows")
    op.drop_table("read_rows")
