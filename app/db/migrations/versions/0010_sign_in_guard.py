"""Sign-in back-off held in the database; PostgreSQL: tell workstations when a user's role
or enabled state changes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Attempts to sign in since the last success, per login name (known or not): every
    # workstation counts into the same rows. No change notification: no screen reads it.
    op.create_table(
        "sign_in_failures",
        sa.Column("login_key", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("login_key", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        op.f("ix_sign_in_failures_last_attempt_at"),
        "sign_in_failures",
        ["last_attempt_at"],
        unique=False,
    )
    if op.get_context().dialect.name == "postgresql":
        # A disabled or demoted user is signed out at once: their workstation's change feed
        # hears 'users' (the function of 0006 sends the table's name). Only role and
        # enabled state: the heartbeat's last_seen_at updates say nothing.
        op.execute(
            "CREATE TRIGGER users_rights_notify AFTER UPDATE OF role, active OR DELETE "
            "ON users FOR EACH STATEMENT EXECUTE FUNCTION email_campaigns_notify()"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS users_rights_notify ON users")
    op.drop_index(op.f("ix_sign_in_failures_last_attempt_at"), table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
