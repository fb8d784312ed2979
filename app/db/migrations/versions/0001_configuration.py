"""Configuration: organisation, groups, campaigns, teams, users, templates, channels, filters

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["campaign_groups.id"],
            name=op.f("fk_campaign_groups_parent_id_campaign_groups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_campaign_groups_name")),
    )
    with op.batch_alter_table("campaign_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_groups_parent_id"), ["parent_id"], unique=False
        )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email_address", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("default_campaign_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("imap_host", sa.String(length=255), nullable=False),
        sa.Column("imap_port", sa.Integer(), nullable=False),
        sa.Column(
            "imap_security",
            sa.Enum("ssl", "starttls", "none", name="security", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("imap_username", sa.String(length=320), nullable=False),
        sa.Column("imap_folder", sa.String(length=255), nullable=False),
        sa.Column(
            "after_retrieval",
            sa.Enum(
                "delete", "mark_read", "move", name="after_retrieval", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("move_folder", sa.String(length=255), nullable=False),
        sa.Column("check_interval", sa.Integer(), nullable=False),
        sa.Column("allow_insecure", sa.Boolean(), nullable=False),
        sa.Column("ca_file", sa.String(length=1000), nullable=False),
        sa.Column("smtp_host", sa.String(length=255), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column(
            "smtp_security",
            sa.Enum("ssl", "starttls", "none", name="security", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("smtp_username", sa.String(length=320), nullable=False),
        sa.Column("save_sent_copy", sa.Boolean(), nullable=False),
        sa.Column("sent_folder", sa.String(length=255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_channels_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_channels_uuid")),
    )
    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("date_format", sa.String(length=40), nullable=False),
        sa.Column("default_channel_id", sa.Integer(), nullable=True),
        sa.Column("max_message_size", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_templates_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "agent", "supervisor", "administrator", name="role", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login", name=op.f("uq_users_login")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("allow_free_format", sa.Boolean(), nullable=False),
        sa.Column("require_address_confirmation", sa.Boolean(), nullable=False),
        sa.Column("allow_put_back", sa.Boolean(), nullable=False),
        sa.Column("allow_move", sa.Boolean(), nullable=False),
        sa.Column("allow_draft", sa.Boolean(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("service_level_period", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_campaigns_channel_id_channels"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["campaign_groups.id"],
            name=op.f("fk_campaigns_group_id_campaign_groups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("title", name=op.f("uq_campaigns_title")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaigns_group_id"), ["group_id"], unique=False)
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_team_members")),
    )
    op.create_table(
        "campaign_teams",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_teams_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_campaign_teams_team_id_teams"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "team_id", name=op.f("pk_campaign_teams")),
    )
    op.create_table(
        "campaign_templates",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("added_on", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_templates_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.id"],
            name=op.f("fk_campaign_templates_template_id_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "template_id", name=op.f("pk_campaign_templates")),
    )
    op.create_table(
        "filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "field",
            sa.Enum(
                "sender",
                "subject",
                "body",
                "recipients",
                name="filter_field",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "match",
            sa.Enum(
                "contains",
                "equals",
                "starts_with",
                "ends_with",
                "regex",
                name="filter_match",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("keyword", sa.String(length=1000), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_filters_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_filters_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filters")),
    )
    with op.batch_alter_table("filters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_filters_channel_id"), ["channel_id"], unique=False)

    # Foreign keys that form cycles (organisation → channels → campaigns → channels)
    # are added once every table exists.
    with op.batch_alter_table("channels") as batch_op:
        batch_op.create_foreign_key(
            "fk_channels_default_campaign_id_campaigns",
            "campaigns",
            ["default_campaign_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.create_foreign_key(
            "fk_organisation_default_channel_id_channels",
            "channels",
            ["default_channel_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("organisation") as batch_op:
        batch_op.drop_constraint("fk_organisation_default_channel_id_channels", type_="foreignkey")
    with op.batch_alter_table("channels") as batch_op:
        batch_op.drop_constraint("fk_channels_default_campaign_id_campaigns", type_="foreignkey")
    with op.batch_alter_table("filters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_filters_channel_id"))
    op.drop_table("filters")
    op.drop_table("campaign_templates")
    op.drop_table("campaign_teams")
    op.drop_table("team_members")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_group_id"))
    op.drop_table("campaigns")
    op.drop_table("users")
    op.drop_table("templates")
    op.drop_table("teams")
    op.drop_table("organisation")
    op.drop_table("channels")
    with op.batch_alter_table("campaign_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_groups_parent_id"))
    op.drop_table("campaign_groups")
