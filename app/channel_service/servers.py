"""A channel's IMAP and SMTP connection settings, made in one place.

``connection_settings`` turns what a channel says of its servers — a stored ``Channel``, a
row read without SQLAlchemy (``early.py``), or what an administrator typed in the channel
dialog (``ChannelData``) — and the passwords into the settings the mail code connects
with. ``imap_settings`` and ``smtp_settings`` do it for a stored channel and the passwords
kept for it. This module imports no SQLAlchemy (``channel sync`` connects while it loads).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

from app.domain.enums import Security
from app.mail.imap import ConnectionProblem, ImapSettings
from app.mail.smtp import SmtpSettings

if TYPE_CHECKING:
    from app.db.engine import Database
    from app.services.secrets import SecretStore

DEFAULT_TIMEOUT = 30.0


class Servers(Protocol):
    """What a channel says of its servers (a ``Channel``, a ``ChannelData``, a row)."""

    @property
    def imap_host(self) -> str: ...
    @property
    def imap_port(self) -> int | str: ...
    @property
    def imap_security(self) -> Security | str: ...
    @property
    def imap_username(self) -> str: ...
    @property
    def imap_folder(self) -> str: ...
    @property
    def smtp_host(self) -> str: ...
    @property
    def smtp_port(self) -> int | str: ...
    @property
    def smtp_security(self) -> Security | str: ...
    @property
    def smtp_username(self) -> str: ...
    @property
    def ca_file(self) -> str: ...


class ConnectionSettings(NamedTuple):
    imap: ImapSettings
    smtp: SmtpSettings


def connection_settings(
    channel: Servers,
    *,
    inbound_password: str = "",
    outbound_password: str = "",
    timeout: float = DEFAULT_TIMEOUT,
) -> ConnectionSettings:
    """The IMAP and SMTP settings of ``channel`` with these passwords: hosts, names and
    folder without surrounding spaces, the folder INBOX when none is given, ports as
    numbers (a port that is not one raises ValueError: validate typed ones first)."""
    ca_file = (channel.ca_file or "").strip()
    imap = ImapSettings(
        host=channel.imap_host.strip(),
        port=int(str(channel.imap_port).strip()),
        security=Security(channel.imap_security),
        username=channel.imap_username.strip(),
        password=inbound_password,
        folder=(channel.imap_folder or "").strip() or "INBOX",
        ca_file=ca_file,
        timeout=timeout,
    )
    smtp = SmtpSettings(
        host=channel.smtp_host.strip(),
        port=int(str(channel.smtp_port).strip()),
        security=Security(channel.smtp_security),
        username=channel.smtp_username.strip(),
        password=outbound_password,
        ca_file=ca_file,
        timeout=timeout,
    )
    return ConnectionSettings(imap, smtp)


def _stored(
    db: Database, channel_id: int, secrets: SecretStore | None, direction: str
) -> tuple[ConnectionSettings, str]:
    """A stored channel's settings (without passwords) and its ``direction``'s password
    ("" when none is kept)."""
    from sqlalchemy import select

    from app.db.models import Channel, Organisation
    from app.services.secrets import channel_key

    with db.session() as s:
        channel = s.get_one(Channel, channel_id)
        org = s.scalar(select(Organisation))
        key = channel_key(org.installation_id if org else "", channel.uuid, direction)
        settings = connection_settings(channel)
    password = (secrets.get(key) if secrets is not None else None) or ""
    return settings, password


def imap_settings(db: Database, channel_id: int, secrets: SecretStore | None) -> ImapSettings:
    """A stored channel's IMAP settings with its inbound password (none kept: refused)."""
    settings, password = _stored(db, channel_id, secrets, "inbound")
    if not password:
        raise ConnectionProblem(
            "credentials",
            "No IMAP password is stored for this channel "
            "(set it in the channel screen or with "
            "'channel set-password').",
        )
    return replace(settings.imap, password=password)


def smtp_settings(db: Database, channel_id: int, secrets: SecretStore | None) -> SmtpSettings:
    """A stored channel's SMTP settings with its outbound password (refused when it logs
    in with a user name and no password is kept)."""
    settings, password = _stored(db, channel_id, secrets, "outbound")
    if settings.smtp.username and not password:
        raise ConnectionProblem("credentials", "No SMTP password is stored for this channel.")
    return replace(settings.smtp, password=password)
