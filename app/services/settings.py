"""Organisation settings (Administration ▸ Settings)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.db.models import Channel, Organisation
from app.services import validation as v
from app.services.auth import Permission
from app.services.base import Service, check_version, get_or_404
from app.services.records import OrganisationSettings, Ref

DEFAULT_CHANNEL = "Organisation Default Email Channel"
HELD_TIMEOUT = "Return Held Emails After (minutes)"


@dataclass
class SettingsData:
    name: str
    timezone: str
    date_format: str = "yyyy-MM-dd HH:mm"
    default_channel_id: int | None = None
    max_message_size_mb: int | str = 25
    held_email_timeout: int | str = 30


def organisation(s: Session) -> Organisation:
    """The organisation row, created on first use."""
    org = s.scalar(select(Organisation).options(selectinload(Organisation.default_channel)))
    if org is None:
        org = Organisation(id=1)
        s.add(org)
        s.flush()
    return org


def settings_record(org: Organisation) -> OrganisationSettings:
    """(its default channel loaded, or loadable in its session)"""
    channel = org.default_channel
    return OrganisationSettings(
        name=org.name,
        timezone=org.timezone,
        date_format=org.date_format,
        default_channel=Ref(channel.id, channel.name) if channel else None,
        max_message_size=org.max_message_size,
        held_email_timeout=org.held_email_timeout,
        version=org.version,
    )


class SettingsService(Service):
    def get(self) -> OrganisationSettings:
        with self.read() as s:
            return settings_record(organisation(s))

    def update(
        self, data: SettingsData, expected_version: int | None = None
    ) -> OrganisationSettings:
        with self.write(Permission.ADMINISTER, "The settings") as s:
            org = organisation(s)
            check_version(org, expected_version, "The settings")
            org.name = v.text("Organisation Name", data.name)
            org.timezone = v.timezone("Time Zone", data.timezone)
            org.date_format = v.text("Date Format", data.date_format, max_length=40)
            if data.default_channel_id is not None:
                get_or_404(s, Channel, data.default_channel_id, "email channel")
            org.default_channel_id = data.default_channel_id
            org.max_message_size = (
                v.whole_number(
                    "Maximum Message Size (MB)", data.max_message_size_mb, minimum=1, maximum=2000
                )
                * 1024
                * 1024
            )
            org.held_email_timeout = v.whole_number(
                HELD_TIMEOUT, data.held_email_timeout, minimum=1, maximum=7 * 24 * 60
            )
            s.flush()
            s.refresh(org, ["default_channel"])
            return settings_record(org)
