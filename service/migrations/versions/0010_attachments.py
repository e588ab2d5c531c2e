"""attachments stored outside the state JSON

The file list (`attachments`) and the bytes (`attachment_blobs`) are apart, so the case page
lists a case's files without reading them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("instance_id", sa.Integer(), sa.ForeignKey("instances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("task_bpmn_id", sa.String(length=128), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # a case's attachments in upload order (the panel, the per-case count)
    op.create_index("ix_attachments_instance", "attachments", ["instance_id", "id"])
    op.create_table(
        "attachment_blobs",
        sa.Column("attachment_id", sa.Integer(), sa.ForeignKey("attachments.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # PDFs, JPEGs and Office files are compressed already: store them out of line as they are
        op.execute("ALTER TABLE attachment_blobs ALTER COLUMN content SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("attachment_blobs")
    op.drop_index("ix_attachments_instance", table_name="attachments")
    op.drop_table("attachments")
