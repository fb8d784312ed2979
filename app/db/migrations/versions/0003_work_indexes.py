"""Indexes for the agent workspace: Take next and the service level

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The oldest queued email of a campaign is the first entry of its (status, campaign)
    # range; with the id in the index, Take next and the queue counts read the index only.
    op.drop_index("ix_emails_queue", table_name="emails")
    op.create_index("ix_emails_queue", "emails", ["status", "campaign_id", "queued_at", "id"])
    # The service level counts a campaign's emails by arrival.
    op.create_index("ix_emails_campaign_received", "emails", ["campaign_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_emails_campaign_received", table_name="emails")
    op.drop_index("ix_emails_queue", table_name="emails")
    op.create_index("ix_emails_queue", "emails", ["status", "campaign_id", "queued_at"])
