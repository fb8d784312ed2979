"""Who holds a reply being sent, and whether it may have reached the mail server: outbox
claims that can be settled at once when their sender is gone

``claimed_by``: the sender (process and pass) holding a ``sending`` reply's claim, so that
another process can tell a sender that has ended on its machine, and a sender that lost the
database can find its own claims again. ``transmission_started_at``: written and committed
just before the message is offered to the server (DATA); a claim without it was never handed
over and can be given back to the queue, a claim with it may have been, and is looked up in
the Sent folder, never sent again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on SQLite too (no batch copy: see 0008). Replies 'sending' now have
    # neither: they are recovered as before, by their lease, as possibly handed over.
    op.add_column("replies", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column(
        "replies",
        sa.Column("transmission_started_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("replies", "transmission_started_at")  # (SQLite 3.35+: in place)
    op.drop_column("replies", "claimed_by")
