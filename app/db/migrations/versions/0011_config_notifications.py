"""Every change of the configuration is heard by the other workstations: campaigns, groups,
teams and their members, campaign–team and campaign–template links, templates, channels and
their filters, the organisation settings and users

PostgreSQL: the same statement triggers as 0006's (``pg_notify`` with the table's name, no
data: any login may LISTEN). SQLite: triggers count the changes in the one row of
``config_changes``, read with ``max(history.id)`` by the polled change token.

Users: every change but the heartbeat's ``last_seen_at`` (every workstation writes it
every minute: it would have every screen read again) and the password hash (renewed at
sign-in; nothing shows it).

(A later migration that copies one of these tables on SQLite — ``batch_alter_table`` with a
change ALTER TABLE cannot make in place — drops its triggers with the old copy: it must make
them again. The test of the change token of every table at head says so.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every change of a row counts (the link tables have no other columns than their keys).
TABLES = (
    "campaign_groups",
    "campaigns",
    "teams",
    "team_members",
    "campaign_teams",
    "templates",
    "campaign_templates",
    "channels",
    "filters",
    "organisation",
)
# users: what the screens show or sign-in reads; not last_seen_at, not password_hash
USER_COLUMNS = "login, display_name, email, role, active, is_demo"
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "config_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_changes")),
    )
    op.execute("INSERT INTO config_changes (id, counter) VALUES (1, 0)")
    if op.get_context().dialect.name == "postgresql":
        # email_campaigns_notify() is 0006's: pg_notify('email_campaigns_changes', table name)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION email_campaigns_notify()"
            )
        # (role, active and deletions notify through 0010's trigger too: one transaction's
        # identical notifications are delivered once)
        op.execute(
            f"CREATE TRIGGER users_notify AFTER INSERT OR UPDATE OF {USER_COLUMNS} OR DELETE "
            "ON users FOR EACH STATEMENT EXECUTE FUNCTION email_campaigns_notify()"
        )
        return
    # SQLite: row triggers only, one event each
    bump = "BEGIN UPDATE config_changes SET counter = counter + 1 WHERE id = 1; END"
    for table in (*TABLES, "users"):
        for event in EVENTS:
            what = f"UPDATE OF {USER_COLUMNS}" if table == "users" and event == "UPDATE" else event
            name = f"{table}_config_{event.lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {what} ON {table} {bump}")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in (*TABLES, "users"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    else:
        for table in (*TABLES, "users"):
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_config_{event.lower()}")
    op.drop_table("config_changes")
