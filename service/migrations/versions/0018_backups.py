"""Backups: the record of every backup run (daily, 立即备份, `govflow backup`) and its result;
a daily run's day is unique, so the daily backup runs once per day across every node

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("day", sa.String(10), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("node", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.UniqueConstraint("day", name="uq_backup_runs_day"),
        sa.CheckConstraint("kind IN ('daily', 'manual', 'command')", name="ck_backup_runs_kind"),
        sa.CheckConstraint("status IN ('running', 'ok', 'failed')", name="ck_backup_runs_status"),
    )


def downgrade() -> None:
    op.drop_table("backup_runs")
