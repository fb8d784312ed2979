"""Attachment names and Content-IDs of any length: on PostgreSQL a name over 1,000
characters made its email impossible to open (its attachments could never be listed)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column(
            "filename", existing_type=sa.String(length=1000), type_=sa.Text(), nullable=False
        )
        batch.alter_column(
            "content_id", existing_type=sa.String(length=1000), type_=sa.Text(), nullable=True
        )


def downgrade() -> None:
    # Back to 1,000 characters: longer values are shortened, not lost with their row.
    for column in ("filename", "content_id"):
        op.execute(
            f"UPDATE attachments SET {column} = substr({column}, 1, 1000) "
            f"WHERE length({column}) > 1000"
        )
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column(
            "filename", existing_type=sa.Text(), type_=sa.String(length=1000), nullable=False
        )
        batch.alter_column(
            "content_id", existing_type=sa.Text(), type_=sa.String(length=1000), nullable=True
        )
