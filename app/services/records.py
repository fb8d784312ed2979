"""What the configuration services hand out: frozen snapshots of campaigns, groups,
templates, teams, users, channels, filters and the organisation settings, never database
rows. Each holds the fields the screens show or edit, with what they used to reach through
relationships (a campaign's group, teams and templates; a team's members) already read.

Nothing here carries a password, its hash or a keyring key. This module imports nothing of
the database: screens import it freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.enums import AfterRetrieval, FilterField, FilterMatch, Role, Security


@dataclass(frozen=True)
class Ref:
    """Another record, by id and the name people know it by (a team, a group, a channel)."""

    id: int
    name: str


@dataclass(frozen=True)
class CampaignRef:
    id: int
    title: str


@dataclass(frozen=True)
class UserRef:
    id: int
    login: str
    display_name: str


@dataclass(frozen=True)
class GroupNode:
    """A campaign group in the tree, with its number of campaigns."""

    id: int
    name: str
    description: str
    parent_id: int | None
    campaign_count: int


@dataclass(frozen=True)
class CampaignRecord:
    """An email campaign as lists show it; ``version`` guards a later save."""

    id: int
    title: str
    description: str
    group: Ref
    allow_free_format: bool
    require_address_confirmation: bool
    allow_put_back: bool
    allow_move: bool
    allow_draft: bool
    channel: Ref | None  # None: the organisation default
    service_level_period: int
    version: int

    @property
    def group_id(self) -> int:
        return self.group.id

    @property
    def channel_id(self) -> int | None:
        return self.channel.id if self.channel else None


@dataclass(frozen=True)
class AssignedTemplate:
    """A template assigned to a campaign, with the seed's **Added On**."""

    template_id: int
    name: str
    subject: str
    added_on: datetime


@dataclass(frozen=True)
class CampaignWithAssignments(CampaignRecord):
    """A campaign with its Assigned Teams (by name) and Email Templates (by Added On)."""

    teams: tuple[Ref, ...]
    templates: tuple[AssignedTemplate, ...]


@dataclass(frozen=True)
class TemplateRecord:
    """An email template, with the titles of the campaigns it is assigned to."""

    id: int
    name: str
    subject: str
    body: str
    body_html: str | None
    created_at: datetime
    version: int
    campaigns: tuple[CampaignRef, ...]


@dataclass(frozen=True)
class TeamRecord:
    id: int
    name: str
    description: str
    is_public: bool
    members: tuple[UserRef, ...]  # by login
    campaigns: tuple[CampaignRef, ...]  # by title


@dataclass(frozen=True)
class UserRecord:
    """A user without anything of their password."""

    id: int
    login: str
    display_name: str
    email: str
    role: Role
    active: bool
    teams: tuple[Ref, ...]  # by name


@dataclass(frozen=True)
class FilterRecord:
    """A routing filter of a channel, in its priority order."""

    id: int
    channel_id: int
    priority: int
    field: FilterField
    match: FilterMatch
    keyword: str
    campaign: CampaignRef
    enabled: bool

    @property
    def campaign_id(self) -> int:
        return self.campaign.id


@dataclass(frozen=True)
class ChannelRecord:
    """An email channel's settings (its passwords are in the secret store, not here) and
    its filters in priority order; ``version`` guards a later save."""

    id: int
    name: str
    email_address: str
    display_name: str
    default_campaign: CampaignRef | None
    enabled: bool
    imap_host: str
    imap_port: int
    imap_security: Security
    imap_username: str
    imap_folder: str
    after_retrieval: AfterRetrieval
    move_folder: str
    check_interval: int
    allow_insecure: bool
    ca_file: str
    smtp_host: str
    smtp_port: int
    smtp_security: Security
    smtp_username: str
    save_sent_copy: bool
    sent_folder: str
    max_recipients: int
    version: int
    filters: tuple[FilterRecord, ...]

    @property
    def default_campaign_id(self) -> int | None:
        return self.default_campaign.id if self.default_campaign else None


@dataclass(frozen=True)
class OrganisationSettings:
    """Administration ▸ Settings; ``version`` guards a later save."""

    name: str
    timezone: str
    date_format: str
    default_channel: Ref | None
    max_message_size: int  # bytes
    held_email_timeout: int  # minutes
    version: int

    @property
    def default_channel_id(self) -> int | None:
        return self.default_channel.id if self.default_channel else None
