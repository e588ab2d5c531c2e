"""The designer's workshop: forms snapshotted per deployed version, drafts, deploy comments,
timer failures and case errors for the incidents list

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("definitions") as batch:
        batch.add_column(sa.Column("comment", sa.Text(), nullable=True))
    # A deployment snapshots every form its diagram names: running cases keep the form of their
    # version. Read by (definition_id, form_key) — the unique constraint is that index.
    op.create_table(
        "definition_forms",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("definitions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("form_key", sa.String(128), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.UniqueConstraint("definition_id", "form_key", name="uq_definition_forms"),
    )
    # One draft per procedure (the diagram and the forms it changes), autosaved by the modeler;
    # a designer submits it, an administrator deploys it. Looked up by key only (unique).
    op.create_table(
        "definition_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("forms", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="editing"),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('editing', 'submitted')", name="ck_definition_drafts_status"),
        sa.UniqueConstraint("key", name="uq_definition_drafts_key"),
    )
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("error_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("error_at")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("last_error")
        batch.drop_column("failures")
    op.drop_table("definition_drafts")
    op.drop_table("definition_forms")
    with op.batch_alter_table("definitions") as batch:
        batch.drop_column("comment")
