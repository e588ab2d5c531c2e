"""history: one index page fewer written at every step

Every step writes a history row, and every index on `history` is one more page written at the
commit (SQLite) or one more index tuple (PostgreSQL). Two of them cost without serving:

- `ix_history_instance_id` (instance_id) duplicates the leading column of `ux_history_chain`
  (instance_id, seq), which serves every lookup by case (and the cascade from `instances`);
- `ix_history_on_behalf_of` (on_behalf_of, at) held an entry for every row although only steps
  done 委托 (for a delegator) are ever looked up by it (`on_behalf_of = user`): it becomes
  partial, rows with a delegator only.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

DELEGATED = sa.text("on_behalf_of IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_history_instance_id", table_name="history")
    op.drop_index("ix_history_on_behalf_of", table_name="history")
    op.create_index("ix_history_on_behalf_of", "history", ["on_behalf_of", "at"],
                    sqlite_where=DELEGATED, postgresql_where=DELEGATED)


def downgrade() -> None:
    op.drop_index("ix_history_on_behalf_of", table_name="history")
    op.create_index("ix_history_on_behalf_of", "history", ["on_behalf_of", "at"])
    op.create_index("ix_history_instance_id", "history", ["instance_id"])
