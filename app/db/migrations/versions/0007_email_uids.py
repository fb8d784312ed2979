"""Every UID an email is known under: a message delivered twice is one email, both copies known

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # No change notification trigger (0006): no screen reads this table, and each change to
    # it comes with one to emails or history in the same transaction.
    op.create_table(
        "email_uids",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_email_uids_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_email_uids_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "channel_id", "folder", "uidvalidity", "uid", name=op.f("pk_email_uids")
        ),
    )
    op.create_index(op.f("ix_email_uids_email_id"), "email_uids", ["email_id"], unique=False)
    # A message without a Message-ID is recognised by its hash alone: without this index
    # that lookup read every such email of the channel.
    op.create_index(
        "ix_emails_hash_without_message_id",
        "emails",
        ["channel_id", "content_hash"],
        unique=False,
        sqlite_where=sa.text("message_id IS NULL"),
        postgresql_where=sa.text("message_id IS NULL"),
    )
    # Each stored email's UID becomes its first known one (unique already: the rows come
    # from uq_emails_imap_identity).
    op.execute(
        "INSERT INTO email_uids (channel_id, folder, uidvalidity, uid, email_id) "
        "SELECT channel_id, imap_folder, uidvalidity, uid, id FROM emails "
        "WHERE channel_id IS NOT NULL AND imap_folder IS NOT NULL "
        "AND uidvalidity IS NOT NULL AND uid IS NOT NULL"
    )


def downgrade() -> None:
    # (emails keep the UID each was last found under: the identity before 0007)
    op.drop_index("ix_emails_hash_without_message_id", table_name="emails")
    op.drop_index(op.f("ix_email_uids_email_id"), table_name="email_uids")
    op.drop_table("email_uids")
