"""Max Recipients per Reply: a channel's cap on the recipients of one reply (To, Cc, Bcc)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing channels get the default: 100, what RFC 5321 asks every server to accept.
    # (A plain ALTER TABLE on SQLite too: a batch would copy the table, and dropping the old
    # copy would cascade to its emails' UIDs and their channel.)
    op.add_column(
        "channels",
        sa.Column("max_recipients", sa.Integer(), nullable=False, server_default="100"),
    )


def downgrade() -> None:
    op.drop_column("channels", "max_recipients")  # (SQLite 3.35 and newer drop it in place)
