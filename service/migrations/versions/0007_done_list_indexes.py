"""indexes for 已办 (a user's completed tasks) and 办结 (finished cases, newest first)

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_human_tasks_completed_by", "human_tasks", ["completed_by", "completed_at"])
    op.create_index("ix_instances_status_completed", "instances", ["status", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_instances_status_completed", table_name="instances")
    op.drop_index("ix_human_tasks_completed_by", table_name="human_tasks")
