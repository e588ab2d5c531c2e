"""防篡改: the history's hash chain (per-case sequence, row hash, chain heads)

Every history row gets its place in its case's chain (`seq`) and its keyed hash (`row_hash`); the
instance row keeps the head of its case's chain, `chain_heads` the audit log's. Rows written
before this revision are chained here, so `govflow verify` passes right after the upgrade.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("history_seq", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("instances", sa.Column("history_head", sa.String(64), nullable=True))
    op.add_column("history", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("history", sa.Column("row_hash", sa.String(64), nullable=True))
    op.create_table(
        "chain_heads",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(64), nullable=True),
        sa.Column("tail_seq", sa.Integer(), nullable=False),
        sa.Column("tail_head", sa.String(64), nullable=True),
    )
    from service import hash_chain

    with _history_writable():  # the rows' new columns are filled in once, here
        hash_chain.backfill(op.get_bind())
    # one place per row in its case's chain: two writers can never fork a chain
    op.create_index("ux_history_chain", "history", ["instance_id", "seq"], unique=True)


@contextmanager
def _history_writable() -> Iterator[None]:
    """Lift 0001's append-only triggers of the history for the block (and put them back)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE history DISABLE TRIGGER history_no_change")
        yield
        op.execute("ALTER TABLE history ENABLE TRIGGER history_no_change")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS history_no_{verb}")
    yield
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER history_no_{verb.lower()} BEFORE {verb} ON history "
                   "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END")


def downgrade() -> None:
    op.drop_index("ux_history_chain", table_name="history")
    op.drop_table("chain_heads")
    op.execute("UPDATE audit_log SET seq = NULL, row_hash = NULL")  # its chain's head is gone: unchained
    # SQLite drops the columns in place (3.35+): rebuilding `instances` would cascade to its rows
    for table, column in (("history", "row_hash"), ("history", "seq"), ("instances", "history_head"),
                          ("instances", "history_seq")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
