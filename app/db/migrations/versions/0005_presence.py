"""Presence: a signed-in user's last sign of life, and when held emails return to the queue;
the service level's index covers its query

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.add_column(
            sa.Column("held_email_timeout", sa.Integer(), nullable=False, server_default="30")
        )
    # Everything the service level counts is in the index: it never reads the rows.
    op.drop_index("ix_emails_campaign_received", table_name="emails")
    op.create_index(
        "ix_emails_campaign_received",
        "emails",
        ["campaign_id", "received_at", "first_reply_at", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_emails_campaign_received", table_name="emails")
    op.create_index("ix_emails_campaign_received", "emails", ["campaign_id", "received_at"])
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.drop_column("held_email_timeout")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("last_seen_at")
