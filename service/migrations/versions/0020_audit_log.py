"""审计日志: the security audit rows (who, from where, what, when, result), hash-chained

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        # filled by service/hash_chain.py: the place in the audit chain and the row's keyed hash
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("row_hash", sa.String(64), nullable=True),
        sa.CheckConstraint("result IN ('success', 'failure', 'denied')", name="ck_audit_log_result"),
    )
    # the page's default listing (newest first within a period) and an export of a period
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    # an investigation's filters, each read newest first: one kind, one user, one source address
    op.create_index("ix_audit_log_kind_at", "audit_log", ["kind", "at"])
    op.create_index("ix_audit_log_username_at", "audit_log", ["username", "at"])
    op.create_index("ix_audit_log_address_at", "audit_log", ["address", "at"])
    # the chain's order: each place taken once, walked by the verifier
    op.create_index("ux_audit_log_seq", "audit_log", ["seq"], unique=True)


def downgrade() -> None:
    op.drop_table("audit_log")
