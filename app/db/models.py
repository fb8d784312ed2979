"""Typed SQLAlchemy models of every entity of the product (see docs/PRODUCT.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# (the enumerations and the clock are domain values, for code that must not import
# SQLAlchemy; used here and imported from here by the services as before)
from app.domain.clock import utcnow
from app.domain.enums import (
    AfterRetrieval,
    EmailStatus,
    FilterField,
    FilterMatch,
    ReplyState,
    Role,
    Security,
)


def new_uuid() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# An email is held by an agent (``agent_id``) in these states.
HELD = (EmailStatus.ASSIGNED, EmailStatus.DRAFT)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native enum types) so that migrations stay simple.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

campaign_teams = Table(
    "campaign_teams",
    Base.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="RESTRICT"), primary_key=True),
)


class Organisation(Base):
    """The single row of organisation settings."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(36), default=new_uuid)
    name: Mapped[str] = mapped_column(String(200), default="My Organisation")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    date_format: Mapped[str] = mapped_column(String(40), default="yyyy-MM-dd HH:mm")
    default_channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL", use_alter=True)
    )
    max_message_size: Mapped[int] = mapped_column(Integer, default=25 * 1024 * 1024)
    # Emails held by an agent whose workstation stopped giving signs of life go back to
    # their queues after this many minutes.
    held_email_timeout: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    version: Mapped[int] = mapped_column(Integer, default=1)

    default_channel: Mapped[Channel | None] = relationship(foreign_keys=[default_channel_id])

    __mapper_args__ = {"version_id_col": version}


class CampaignGroup(Base):
    __tablename__ = "campaign_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_groups.id", ondelete="RESTRICT"), index=True
    )

    parent: Mapped[CampaignGroup | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[CampaignGroup]] = relationship(back_populates="parent")
    campaigns: Mapped[list[Campaign]] = relationship(back_populates="group")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    group_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_groups.id", ondelete="RESTRICT"), index=True
    )
    allow_free_format: Mapped[bool] = mapped_column(Boolean, default=False)
    require_address_confirmation: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_put_back: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_move: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_draft: Mapped[bool] = mapped_column(Boolean, default=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    service_level_period: Mapped[int] = mapped_column(Integer, default=180)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    group: Mapped[CampaignGroup] = relationship(back_populates="campaigns")
    channel: Mapped[Channel | None] = relationship(foreign_keys=[channel_id])
    teams: Mapped[list[Team]] = relationship(
        secondary=campaign_teams, back_populates="campaigns", order_by="Team.name"
    )
    template_links: Mapped[list[CampaignTemplate]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        order_by="CampaignTemplate.added_on",
    )

    __mapper_args__ = {"version_id_col": version}


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)

    members: Mapped[list[User]] = relationship(
        secondary=team_members, back_populates="teams", order_by="User.login"
    )
    campaigns: Mapped[list[Campaign]] = relationship(
        secondary=campaign_teams, back_populates="teams", order_by="Campaign.title"
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), default=Role.AGENT)
    # Deferred: a User loaded anywhere carries no hash (services hand screens records
    # without it, and load it only where they need it); sign-in reads the column by name.
    password_hash: Mapped[str | None] = mapped_column(String(300), deferred=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A demo account keeps this flag until its password is changed; the sign-in
    # screen lists only such accounts.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last sign of life of a workstation where the user is signed in.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    teams: Mapped[list[Team]] = relationship(
        secondary=team_members, back_populates="members", order_by="Team.name"
    )


class SignInFailure(Base):
    """Attempts to sign in as one login name (casefolded; known or not) since its last
    success: the back-off of app.services.auth, shared by every workstation."""

    __tablename__ = "sign_in_failures"

    login_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    campaign_links: Mapped[list[CampaignTemplate]] = relationship(
        back_populates="template", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}


class CampaignTemplate(Base):
    """A template assigned to a campaign, with the seed's **Added On**."""

    __tablename__ = "campaign_templates"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), primary_key=True
    )
    added_on: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="template_links")
    template: Mapped[Template] = relationship(back_populates="campaign_links")


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email_address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    default_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL", use_alter=True)
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)

    imap_host: Mapped[str] = mapped_column(String(255), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[Security] = mapped_column(
        _enum(Security, "security"), default=Security.SSL
    )
    imap_username: Mapped[str] = mapped_column(String(320), default="")
    imap_folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    after_retrieval: Mapped[AfterRetrieval] = mapped_column(
        _enum(AfterRetrieval, "after_retrieval"), default=AfterRetrieval.DELETE
    )
    move_folder: Mapped[str] = mapped_column(String(255), default="")
    check_interval: Mapped[int] = mapped_column(Integer, default=60)
    allow_insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    ca_file: Mapped[str] = mapped_column(String(1000), default="")

    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[Security] = mapped_column(
        _enum(Security, "security"), default=Security.STARTTLS
    )
    smtp_username: Mapped[str] = mapped_column(String(320), default="")
    save_sent_copy: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_folder: Mapped[str] = mapped_column(String(255), default="Sent")
    # To, Cc and Bcc of one reply together (servers refuse beyond their own limit: 100 is
    # what RFC 5321 asks every server to take)
    max_recipients: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    version: Mapped[int] = mapped_column(Integer, default=1)

    default_campaign: Mapped[Campaign | None] = relationship(foreign_keys=[default_campaign_id])
    filters: Mapped[list[Filter]] = relationship(
        back_populates="channel", cascade="all, delete-orphan", order_by="Filter.priority"
    )

    __mapper_args__ = {"version_id_col": version}


class Filter(Base):
    __tablename__ = "filters"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(Integer)
    field: Mapped[FilterField] = mapped_column(_enum(FilterField, "filter_field"))
    match: Mapped[FilterMatch] = mapped_column(
        _enum(FilterMatch, "filter_match"), default=FilterMatch.CONTAINS
    )
    keyword: Mapped[str] = mapped_column(String(1000))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    channel: Mapped[Channel] = relationship(back_populates="filters")
    campaign: Mapped[Campaign] = relationship()


class Email(Base):
    """One customer email: an interaction in a campaign's queue."""

    __tablename__ = "emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"))
    status: Mapped[EmailStatus] = mapped_column(
        _enum(EmailStatus, "email_status"), default=EmailStatus.QUEUED
    )
    from_addr: Mapped[str] = mapped_column(String(1000), default="")
    reply_to: Mapped[str] = mapped_column(String(1000), default="")
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str | None] = mapped_column(String(1000))
    in_reply_to: Mapped[str | None] = mapped_column(String(1000))
    references: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    # Where the message was last found on the server; every place it is known under (two
    # when it was delivered twice) is in email_uids.
    imap_folder: Mapped[str | None] = mapped_column(String(255))
    # IMAP UIDs and UIDVALIDITY are unsigned 32-bit: too big for a signed INTEGER.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    is_auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bounce: Mapped[bool] = mapped_column(Boolean, default=False)
    is_oversize: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    parent_email_id: Mapped[int | None] = mapped_column(
        ForeignKey("emails.id", ondelete="SET NULL")
    )

    campaign: Mapped[Campaign | None] = relationship()
    channel: Mapped[Channel | None] = relationship()
    agent: Mapped[User | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="email", cascade="all, delete-orphan"
    )
    replies: Mapped[list[Reply]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="Reply.created_at"
    )
    history: Mapped[list[History]] = relationship(
        back_populates="email", cascade="all, delete-orphan", order_by="History.at"
    )

    __table_args__ = (
        UniqueConstraint(
            "channel_id", "imap_folder", "uidvalidity", "uid", name="uq_emails_imap_identity"
        ),
        Index("ix_emails_queue", "status", "campaign_id", "queued_at", "id"),
        Index(
            "ix_emails_campaign_received", "campaign_id", "received_at", "first_reply_at", "status"
        ),
        Index("ix_emails_message_id", "channel_id", "message_id"),
        # messages without a Message-ID are recognised by their hash alone (intake)
        Index(
            "ix_emails_hash_without_message_id",
            "channel_id",
            "content_hash",
            sqlite_where=text("message_id IS NULL"),
            postgresql_where=text("message_id IS NULL"),
        ),
        Index("ix_emails_agent", "agent_id", "status"),
        Index("ix_emails_received_at", "received_at"),
    )


class EmailUid(Base):
    """A message on the server that is an email: (channel, folder, UIDVALIDITY, UID), the
    identity a retrieval pass knows it by. An email has one as a rule; more when the same
    bytes were delivered more than once (copies: one email, answered once) or came back
    under a new UIDVALIDITY. A pass fetches none of them again."""

    __tablename__ = "email_uids"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    folder: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    # Any length: a sender's name must never keep the email from opening (0009).
    filename: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    content_id: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, default=0)
    part_index: Mapped[int] = mapped_column(Integer, default=0)

    email: Mapped[Email] = relationship(back_populates="attachments")


class Reply(Base):
    """An outgoing email: a draft or a reply in the outbox."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    bcc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(500), unique=True)
    state: Mapped[ReplyState] = mapped_column(
        _enum(ReplyState, "reply_state"), default=ReplyState.DRAFT
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While 'sending': the sender holding the claim (a process and pass), and when it began
    # to offer the message to the server (committed before DATA; None: never handed over).
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    transmission_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    email: Mapped[Email] = relationship(back_populates="replies")
    agent: Mapped[User | None] = relationship()
    template: Mapped[Template | None] = relationship()

    __table_args__ = (Index("ix_replies_outbox", "state", "next_attempt_at"),)


class History(Base):
    """Every action on an email, with who and when."""

    __tablename__ = "history"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")

    email: Mapped[Email] = relationship(back_populates="history")
    user: Mapped[User | None] = relationship()


class Lease(Base):
    """A job that exactly one process may do at a time (retrieving a channel), held by one
    process until it expires; the holder renews it while it works."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConfigChanges(Base):
    """One row counting changes of the configuration — campaigns, groups, teams and their
    members, campaign–team and campaign–template links, templates, channels and their
    filters, the organisation settings and users — moved by SQLite triggers of migration
    0011, so that the polled change token (app.services.changes) moves with them. (On
    PostgreSQL the same changes NOTIFY instead and the row stays as it is.)"""

    __tablename__ = "config_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)
