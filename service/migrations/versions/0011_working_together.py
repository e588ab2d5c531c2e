"""working together: frequent comments (常用意见) and task receipts (签收回执)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "common_comments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("used_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("username", "text", name="uq_common_comments_user_text"),
    )
    # the picker: one user's comments, most used first
    op.create_index("ix_common_comments_user_used", "common_comments", ["username", "used_count"])
    op.create_table(
        "task_receipts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("bpmn_id", sa.String(length=128), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        # the first claim only: a re-claim finds this row and writes nothing
        sa.UniqueConstraint("task_id", "group_key", name="uq_task_receipts_task_group"),
    )
    # the case page's 交办回执 panel
    op.create_index("ix_task_receipts_instance", "task_receipts", ["instance_id"])


def downgrade() -> None:
    op.drop_index("ix_task_receipts_instance", table_name="task_receipts")
    op.drop_table("task_receipts")
    op.drop_index("ix_common_comments_user_used", table_name="common_comments")
    op.drop_table("common_comments")
