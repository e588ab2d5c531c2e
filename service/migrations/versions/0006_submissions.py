"""submissions: the first answer to each (user, Idempotency-Key or form token), so a repeated
submit (a double click on 登记) returns it instead of creating a second case

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=210), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # the claim: a second request with the same (user, key) fails here and waits for the first
        sa.UniqueConstraint("username", "key", name="uq_submissions_user_key"),
    )
    # the purge of entries older than 24 h at each claim
    op.create_index("ix_submissions_created_at", "submissions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_submissions_created_at", table_name="submissions")
    op.drop_table("submissions")
