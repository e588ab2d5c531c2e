"""组织管理: group kinds (部门, 县区, 领导, 办公室, 平台), the platform's own groups marked; users are
deactivated (users.active), never deleted, so nothing else changes in `users`

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="office"))
    # The platform's own roles are known here; every other group starts as 办公室 until the
    # administrator sets its kind on /admin/groups (the demo organisation sets its own when it is
    # loaded again: `govflow init --demo`). The platform names no office's groups.
    groups = sa.table("groups", sa.column("key", sa.String), sa.column("kind", sa.String))
    op.execute(groups.update().where(groups.c.key.in_(("admin", "designer"))).values(kind="platform"))


def downgrade() -> None:
    with op.batch_alter_table("groups") as batch:
        batch.drop_column("kind")
