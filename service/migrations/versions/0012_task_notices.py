"""task notices: users' delivery choices; the due-mark setting renamed

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OLD_KEY, NEW_KEY, NEW_MAX = "inbox.due_soon_days", "tasks.warn_days", 30


def upgrade() -> None:
    op.create_table(
        "notice_channels",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("channel", sa.String(length=16), primary_key=True),
    )
    # The unused `inbox.due_soon_days` (1–60) becomes `tasks.warn_days` (0–30), which the lists
    # read: a value an administrator stored is kept, within the new bounds.
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    bind = op.get_bind()
    row = bind.execute(sa.select(settings.c.value).where(settings.c.key == OLD_KEY)).first()
    if row is not None:
        try:
            value = min(max(int(row[0]), 0), NEW_MAX)
        except (TypeError, ValueError):
            value = 3
        bind.execute(settings.delete().where(settings.c.key.in_([OLD_KEY, NEW_KEY])))
        bind.execute(settings.insert().values(key=NEW_KEY, value=str(value)))


def downgrade() -> None:
    settings = sa.table("settings", sa.column("key", sa.String), sa.column("value", sa.Text))
    bind = op.get_bind()
    row = bind.execute(sa.select(settings.c.value).where(settings.c.key == NEW_KEY)).first()
    if row is not None:
        bind.execute(settings.delete().where(settings.c.key.in_([OLD_KEY, NEW_KEY])))
        try:
            value = max(int(row[0]), 1)
        except (TypeError, ValueError):
            value = 3
        bind.execute(settings.insert().values(key=OLD_KEY, value=str(value)))
    op.drop_table("notice_channels")
