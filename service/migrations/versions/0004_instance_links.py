"""instance links, duplicate match hash, drill flag

Linked starts (a 集体访 starting an emergency case, a screening round its dispute
cases) and 重复信访 record a relation between two cases; a drill is marked on its case row so
lists and statistics can tell it apart without reading the state.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("match_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("drill", sa.Boolean(), nullable=False, server_default="0"))
        batch.create_index("ix_instances_process_match", ["process_key", "match_hash", "status"])
    op.create_table(
        "instance_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("from_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("to_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("from_id", "to_id", "relation", name="uq_instance_links"),
    )
    op.create_index("ix_instance_links_from", "instance_links", ["from_id"])
    op.create_index("ix_instance_links_to", "instance_links", ["to_id"])


def downgrade() -> None:
    op.drop_index("ix_instance_links_to", table_name="instance_links")
    op.drop_index("ix_instance_links_from", table_name="instance_links")
    op.drop_table("instance_links")
    with op.batch_alter_table("instances") as batch:
        batch.drop_index("ix_instances_process_match")
        batch.drop_column("drill")
        batch.drop_column("match_hash")
