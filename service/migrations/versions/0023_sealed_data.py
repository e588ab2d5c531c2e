"""个人信息加密: the TOTP secret is sealed too (a sealed value is longer than the clear secret)

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(64), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.alter_column("totp_secret", existing_type=sa.Text(), type_=sa.String(64), existing_nullable=True)
