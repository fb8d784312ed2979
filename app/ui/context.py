"""What every screen is given: the database, who is working, and the secret store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QDateTime, QTimeZone

from app.services.auth import Actor, Permission
from app.services.campaigns import CampaignService
from app.services.channels import ChannelService
from app.services.people import PeopleService
from app.services.records import OrganisationSettings
from app.services.secrets import SecretStore
from app.services.settings import SettingsService
from app.services.site import Site
from app.services.templates import TemplateService


@dataclass
class AppContext:
    db: Site
    actor: Actor
    secrets: SecretStore | None = None
    timezone: str = "UTC"
    date_format: str = "yyyy-MM-dd HH:mm"
    organisation_name: str = ""
    # The channel service's Qt adapter (app.ui.channel_status.ChannelEvents), when running.
    channel_events: Any = None
    # app.services.changes.ChangeFeed: tells screens that emails changed anywhere.
    change_feed: Any = None
    # app.ui.changes.ChangeHub: the screens' one way to hear of changes (made when needed).
    change_hub: Any = None
    _tz: ZoneInfo | None = field(default=None, repr=False)

    def can(self, permission: Permission) -> bool:
        return self.actor.can(permission)

    @property
    def campaigns(self) -> CampaignService:
        return CampaignService(self.db, self.actor)

    @property
    def templates(self) -> TemplateService:
        return TemplateService(self.db, self.actor)

    @property
    def people(self) -> PeopleService:
        return PeopleService(self.db, self.actor)

    @property
    def channels(self) -> ChannelService:
        return ChannelService(self.db, self.actor, self.secrets)

    @property
    def settings(self) -> SettingsService:
        return SettingsService(self.db, self.actor)

    def refresh_settings(self) -> None:
        """Read the organisation's name, time zone and date format here (tests' set-up)."""
        self.apply_settings(self.settings.get())

    def apply_settings(self, org: OrganisationSettings) -> None:
        """The organisation's name, time zone and date format, as read (at sign-in, and
        after they were changed)."""
        self.timezone, self.date_format = org.timezone, org.date_format
        self.organisation_name = org.name

    def format_datetime(self, value: datetime | None) -> str:
        """A UTC datetime shown in the organisation's time zone and date format."""
        if value is None:
            return ""
        qdt = QDateTime.fromSecsSinceEpoch(
            int(value.timestamp()), QTimeZone(self.timezone.encode())
        )
        return qdt.toString(self.date_format)
